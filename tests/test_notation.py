"""One symbol, one meaning: the symbol table in book/notation.md is the rule,
this test enforces it.

The first table of ``book/notation.md`` has three columns: the symbol(s), the
chapters that use it (``全体`` for the whole book) and the meaning. This test
reads every Greek letter written in math — in every chapter's markdown and on
every book page — and checks that

1. no Greek symbol is registered in two rows (two meanings), and
2. every Greek symbol a chapter writes is registered, for that chapter.

A symbol is the letter, bold or not, with or without a subscript: $\\alpha$
(the order of α-entmax), $\\alpha_t$ (the CRF's forward sums) and
$\\boldsymbol\\alpha$ (the Dirichlet parameter) are three symbols; accents
(tilde, hat, bar, dot) do not make a new symbol. A plain subscripted letter is
also accepted as the component of its registered bold vector ($\\pi_k$ of
$\\boldsymbol\\pi$). $\\Delta^{K-1}$ (the simplex, always with its dimension)
and $\\Delta$ (an increment) are two symbols. Latin letters are not checked:
they are too many and too short to find reliably; the table registers them for
the reader all the same.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTATION = ROOT / "book" / "notation.md"

GREEK = (
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota "
    "kappa lambda mu nu xi pi "
    "varpi rho varrho sigma varsigma tau upsilon phi varphi chi psi omega "
    "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega"
).split()
_BOLD = r"\\(?:boldsymbol|bm|mathbf)\s*\{?\s*"
_ACCENT = (
    r"(?:\\(?:tilde|hat|bar|dot|ddot|widetilde|widehat|overline)\s*\{?\s*)?"
)
TOKEN = re.compile(
    r"(?P<bold>" + _BOLD + r")?" + _ACCENT + r"(?P<bold2>" + _BOLD + r")?"
    r"\\(?P<name>"
    + "|".join(sorted(GREEK, key=len, reverse=True))
    + r")(?![a-zA-Z])"
    r"(?P<close>\s*\}*\s*)(?P<next>[_^]?)(?P<label>\{?\s*\\(?:max|min|mathrm\{\w+\}|text\{\w+\}))?"
)
MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]+?\$|```\{math\}.*?```", re.S)
CHAPTER_CELL = re.compile(r"^(全体|\d+(?:\s*,\s*\d+)*)$")


def symbols(math: str) -> list[str]:
    """The Greek symbols written in a piece of LaTeX, as keys such as
    ``alpha``, ``bold alpha``, ``alpha_``."""
    keys = []
    for m in TOKEN.finditer(math):
        name = m["name"]
        bold = "bold " if (m["bold"] or m["bold2"]) else ""
        if name == "Delta" and m["next"] == "^":
            keys.append("Delta^")
            continue
        sub = ""
        if m["next"] == "_":
            sub = "_" + (
                re.sub(r"\\(?:mathrm|text)?|[{}\s]", "", m["label"])
                if m["label"]
                else ""
            )
        keys.append(bold + name + sub)
    return keys


def heads(cell: str) -> list[str]:
    r"""The symbols a row of the table defines: not those in its arguments,
    subscripts or differentials ($g(\lambda)$ defines $g$, $\mathbf
    F_{\boldsymbol\theta}$ defines $\mathbf F$, $d\boldsymbol\xi$ a
    displacement)."""
    out = []
    for mm in MATH.finditer(cell):
        math = mm.group(0)
        # stack: does this bracket make an argument or a subscript?
        depth, stack = [], []
        for i, ch in enumerate(math):
            if ch in "({":
                stack.append(ch == "(" or math[i - 1 : i] in ("_", "^"))
            elif ch in ")}" and stack:
                stack.pop()
            depth.append(sum(stack))
        for m in TOKEN.finditer(math):
            if depth[m.start()] == 0 and not math[
                : m.start()
            ].rstrip().endswith("d"):
                out += symbols(m.group(0))
    return sorted(set(out))


def table() -> list[tuple[list[str], str, set[int] | None, str]]:
    """(symbols, meaning, chapters or None for the whole book, symbol cell)
    of each row of the symbol table."""
    text = NOTATION.read_text(encoding="utf-8")
    section = text.split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if (
            len(cells) != 3
            or cells[0] == "記号"
            or set(cells[0]) <= set("-: ")
        ):
            continue
        sym, chapters, meaning = cells
        m = CHAPTER_CELL.match(chapters)
        assert m, (
            f"notation.md: the chapter cell of {sym!r} must be 全体 or "
            f"chapter numbers, not {chapters!r}"
        )
        chs = (
            None
            if chapters == "全体"
            else {int(c) for c in chapters.split(",")}
        )
        rows.append((heads(sym), meaning, chs, sym))
    return rows


def registry(rows) -> dict[str, list[tuple[set[int] | None, str]]]:
    reg: dict[str, list] = {}
    for syms, _meaning, chs, cell in rows:
        for s in syms:
            reg.setdefault(s, []).append((chs, cell))
    return reg


def lookup(reg, key: str) -> list:
    """The rows that may register a symbol as written: its own row, or the
    symbol it is a form of.

    A subscripted letter may be an entry of its vector ($\\pi_k$ of
    $\\boldsymbol\\pi$) or an indexed instance of the plain letter ($\\tau_k$,
    one temperature per class); a bold letter with a subscript an indexed point
    ($\\boldsymbol\\theta_1$); a plain letter without one the one-dimensional
    case of its vector ($\\theta=z_1-z_2$ for $K=2$).
    """
    bold = key.startswith("bold ")
    base = key.removeprefix("bold ").split("_")[0]
    candidates = [key]
    if "_" in key and bold:
        candidates.append("bold " + base)
    elif "_" in key:
        candidates += ["bold " + base + "_", "bold " + base, base]
    elif not bold:
        candidates.append("bold " + base)
    return [row for c in candidates for row in reg.get(c, [])]


def markdown(path: Path) -> str:
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return "\n\n".join(
            "".join(c["source"])
            for c in nb["cells"]
            if c["cell_type"] == "markdown"
        )
    return path.read_text(encoding="utf-8")


def used(text: str) -> dict[str, str]:
    """Symbol → one place it is written (for the error message)."""
    out: dict[str, str] = {}
    for m in MATH.finditer(text):
        for s in symbols(m.group(0)):
            out.setdefault(s, m.group(0)[:80].replace("\n", " "))
    return out


def problems(path: Path, text: str, reg) -> list[str]:
    chapter = int(path.name[:2]) if path.suffix == ".ipynb" else None
    found = []
    for key, where in sorted(used(text).items()):
        rows = lookup(reg, key)
        if not rows:
            found.append(f"{key}: not in book/notation.md ({where})")
        elif chapter is not None and not any(
            chs is None or chapter in chs for chs, _ in rows
        ):
            found.append(
                f"{key}: registered for chapters {sorted(rows[0][0])}, used "
                f"in chapter {chapter} ({where})"
            )
    return found


def pages() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")) + sorted(
        p for p in (ROOT / "book").glob("*.md") if p.name != "notation.md"
    )


def test_symbols_are_read():
    assert symbols(
        r"$\tilde\alpha_t + \boldsymbol\alpha + \alpha + "
        r"\hat{\boldsymbol\alpha}_t$"
    ) == ["alpha_", "bold alpha", "alpha", "bold alpha_"]
    assert symbols(
        r"$\Delta^{K-1}$, $\Delta\xi_i$, $\mathbf{\pi}$, $\pi^2$"
    ) == ["Delta^", "Delta", "xi_", "bold pi", "pi"]
    rows = table()
    assert len(rows) >= 80, (
        "the symbol table of book/notation.md was not found or is nearly empty"
    )


def test_every_symbol_has_one_row():
    twice = {
        k: [c for _, c in v]
        for k, v in registry(table()).items()
        if len(v) > 1
    }
    assert not twice, (
        "symbols with more than one row (more than one meaning) in "
        "book/notation.md:\n"
        + "\n".join(f"{k}: {v}" for k, v in twice.items())
    )


def test_the_check_finds_planted_clashes(tmp_path):
    reg = registry(
        [
            (["alpha"], "entmax の次数", {3}, ""),
            (["bold pi"], "確率", None, ""),
        ]
    )
    chapter = tmp_path / "08_x.ipynb"
    # registered for chapter 3 only
    assert problems(chapter, r"重み $\alpha=0.9$", reg)
    assert problems(chapter, r"角度 $\gamma$", reg)  # not registered
    # component of bold π
    assert not problems(tmp_path / "03_x.ipynb", r"$\alpha=1.5$, $\pi_k$", reg)


@pytest.mark.parametrize("path", pages(), ids=lambda p: p.name)
def test_every_symbol_is_registered_for_its_chapter(path):
    found = problems(path, markdown(path), registry(table()))
    assert not found, (
        f"{path.name}: symbols outside book/notation.md's table:\n"
        + "\n".join(found)
    )
