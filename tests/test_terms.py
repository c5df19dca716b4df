"""One Japanese term per concept: the glossary in book/notation.md is the rule,
this test enforces it.

The 用語集 table in ``book/notation.md`` lists, for each concept, the term the
book uses and the variants it does not use. Every book page and every
notebook's markdown is scanned for the variants. Exempt are the places where
the book does not speak in its own words: code (inline and fenced), math,
quotations of the sources in 「…」, cross-reference roles ({doc}`…` etc.) and
link targets.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTATION = ROOT / "book" / "notation.md"

_EXEMPT = [
    # fenced blocks (code, directives' bodies stay: only code fences)
    re.compile(r"```.*?```", re.S),
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"\$[^$\n]+\$"),  # inline math
    re.compile(r"`[^`\n]*`"),  # inline code and role targets
    # quotations of the sources (section titles, sentences)
    re.compile(r"「[^「」]*」"),
    re.compile(r"\]\([^)]*\)"),  # link targets
    re.compile(r"^:label:.*$", re.M),
]


def glossary() -> list[tuple[str, list[str]]]:
    """(preferred term, [variants]) rows of the 用語集 table in notation.md."""
    text = NOTATION.read_text(encoding="utf-8")
    section = text.split("## 用語集", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if (
            len(cells) < 2
            or cells[0] in ("", "用いる語")
            or set(cells[0]) <= set("-: ")
        ):
            continue
        variants = [v.strip() for v in cells[1].split("、") if v.strip()]
        rows.append((cells[0], variants))
    return rows


def own_words(text: str) -> str:
    """The text with the exempt places (code, math, quotations, link
    targets) blanked out."""
    for rx in _EXEMPT:
        text = rx.sub(" ", text)
    return text


def prose(path: Path) -> str:
    """The markdown a reader reads on a page: a book page, or a notebook's
    markdown cells."""
    if path.suffix == ".ipynb":
        nb = json.loads(path.read_text(encoding="utf-8"))
        return "\n\n".join(
            "".join(c["source"])
            for c in nb["cells"]
            if c["cell_type"] == "markdown"
        )
    return path.read_text(encoding="utf-8")


def pages() -> list[Path]:
    return sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted(
        p for p in (ROOT / "book").glob("*.md") if p.name != "notation.md"
    )


def find_variants(text: str, rows) -> list[str]:
    text = own_words(text)
    found = []
    for preferred, variants in rows:
        for v in variants:
            # a variant that is part of the preferred term (e.g. ミラー降下 in
            # ミラー降下法) only counts alone
            for m in re.finditer(re.escape(v), text):
                window = text[
                    max(0, m.start() - len(preferred)) : m.end()
                    + len(preferred)
                ]
                if preferred in window and v in preferred:
                    continue
                context = text[max(0, m.start() - 15) : m.end() + 15]
                found.append(
                    f"{v} → {preferred}: …{context}…".replace("\n", " ")
                )
    return found


def test_glossary_is_read():
    rows = glossary()
    assert len(rows) >= 10, (
        "the 用語集 table in book/notation.md was not found or is nearly empty"
    )
    assert all(variants for _, variants in rows)


def test_the_scan_finds_a_planted_variant():
    rows = [
        ("交差エントロピー", ["クロスエントロピー"]),
        ("ミラー降下法", ["ミラー降下"]),
    ]
    assert find_variants("損失はクロスエントロピーです", rows)
    assert not find_variants(
        "損失は「クロスエントロピー」と資料は書く。`cross_entropy`", rows
    )
    assert not find_variants("ミラー降下法の一歩", rows)
    assert find_variants("ミラー降下の一歩", rows)


@pytest.mark.parametrize("path", pages(), ids=lambda p: p.name)
def test_one_term_per_concept(path):
    found = find_variants(prose(path), glossary())
    assert not found, (
        f"{path.name}: non-preferred terms (see 用語集 in book/notation.md):\n"
        + "\n".join(found)
    )
