"""Turn a chapter's ``literalinclude`` blocks into hidden code cells that call
``show_source``.

JupyterLab cannot render ``literalinclude`` (the block disappears there); a
code cell whose output is ``show_source(obj)`` shows the same highlighted
source in JupyterLab and in the book. Each markdown block of the form::

    ```{literalinclude} ../lecture_code/MODULE.py
    :pyobject: NAME
    ```

becomes a code cell (tagged ``remove-input`` for the book, input collapsed in
JupyterLab)::

    import lecture_code.MODULE
    from lecture_code.source import show_source

    show_source(lecture_code.MODULE.NAME)

and the markdown cell is split around it (the text before keeps the cell's id;
the text after, if any, becomes a new markdown cell). ``import
lecture_code.MODULE`` binds only the name ``lecture_code`` (a chapter's own
``softmax`` or ``fisher`` is not shadowed).

Usage::

    python tools/convert_literalinclude.py notebooks/05_fisher_metric.ipynb ...
    # in place python tools/convert_literalinclude.py --out /tmp/converted
    notebooks/*.ipynb # copies python tools/convert_literalinclude.py --check
    notebooks/*.ipynb # exit 1 if any left

A block the script cannot convert faithfully (other options than
``:pyobject:``/``:language: python``, a path outside ``lecture_code/``, an
object that does not exist, or a block inside an open ``:::`` directive, which
splitting the cell would break) stops the script with a message naming the
notebook and cell; nothing is written for that notebook.
"""

from __future__ import annotations

import argparse
import importlib
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

OPEN = re.compile(
    r"^(?P<fence>`{3,}|~{3,})\{literalinclude\}[ \t]+(?P<path>\S+)[ \t]*$"
)
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*?)[ \t]*$")
PATH = re.compile(r"^(?:\.\./)?lecture_code/(?P<module>\w+)\.py$")
COLON_OPEN = re.compile(r"^(?P<colons>:{3,})\{[\w:-]+\}")
COLON_CLOSE = re.compile(r"^(?P<colons>:{3,})[ \t]*$")
FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})")


class ConversionError(ValueError):
    pass


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _lines(text: str) -> list[str]:
    """Source lines as nbformat stores them (each but the last ends with a
    newline)."""
    return text.splitlines(keepends=True)


def find_blocks(text: str, where: str = "") -> list[dict]:
    """The literalinclude blocks of a markdown text: line span, module and
    object name each."""
    lines = text.split("\n")
    blocks, colon_stack, fence = [], [], None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = OPEN.match(line)
        if fence is None and m:
            close = re.compile(
                rf"^{re.escape(m['fence'][0])}{{{len(m['fence'])},}}[ \t]*$"
            )
            options, j = {}, i + 1
            while j < len(lines) and not close.match(lines[j]):
                o = OPTION.match(lines[j])
                if o:
                    options[o["key"]] = o["value"]
                elif lines[j].strip():
                    raise ConversionError(
                        f"{where}: unexpected line in literalinclude block: "
                        f"{lines[j]!r}"
                    )
                j += 1
            if j == len(lines):
                raise ConversionError(
                    f"{where}: literalinclude block without a closing fence"
                )
            if colon_stack:
                raise ConversionError(
                    f"{where}: literalinclude inside an open "
                    f"{colon_stack[-1]!r} directive "
                    "(splitting the cell would break the directive)"
                )
            extra = {
                k: v
                for k, v in options.items()
                if k not in ("pyobject", "language")
            }
            if extra or options.get("language", "python") != "python":
                raise ConversionError(
                    f"{where}: options show_source cannot reproduce: {options}"
                )
            if "pyobject" not in options:
                raise ConversionError(
                    f"{where}: literalinclude of a whole file (no "
                    f":pyobject:): {m['path']}"
                )
            p = PATH.match(m["path"])
            if not p:
                raise ConversionError(
                    f"{where}: not a lecture_code module: {m['path']}"
                )
            blocks.append(
                {
                    "start": i,
                    "end": j,
                    "module": p["module"],
                    "name": options["pyobject"],
                }
            )
            i = j + 1
            continue
        f = FENCE.match(line)
        if fence is None and f:
            fence = f["fence"]
        elif fence is not None and re.match(
            rf"^{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", line
        ):
            fence = None
        elif fence is None:
            if COLON_OPEN.match(line):
                colon_stack.append(line.strip())
            elif COLON_CLOSE.match(line) and colon_stack:
                colon_stack.pop()
        i += 1
    return blocks


def _check_object(module: str, name: str, where: str) -> None:
    try:
        obj = importlib.import_module(f"lecture_code.{module}")
        for attr in name.split("."):
            obj = getattr(obj, attr)
    except (ImportError, AttributeError) as exc:
        raise ConversionError(
            f"{where}: lecture_code.{module}.{name} does not exist ({exc})"
        ) from None


def code_cell(module: str, name: str, cell_id: str) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {
            "jupyter": {"source_hidden": True},
            "tags": ["remove-input"],
        },
        "outputs": [],
        "source": _lines(
            f"import lecture_code.{module}\nfrom lecture_code.source import "
            "show_source\n\n"
            f"show_source(lecture_code.{module}.{name})"
        ),
    }


def _markdown_cell(template: dict, text: str, cell_id: str) -> dict:
    cell = {k: v for k, v in template.items() if k != "attachments"}
    cell["id"] = cell_id
    cell["source"] = _lines(text)
    return cell


def convert(
    nb: dict, where: str = "notebook", check_objects: bool = True
) -> tuple[dict, int]:
    """The notebook with every literalinclude block converted, and the
    number converted."""
    cells, count = [], 0
    used = {c.get("id") for c in nb["cells"]}

    def new_id(base: str) -> str:
        k = 1
        while f"{base}-{k}" in used:
            k += 1
        used.add(f"{base}-{k}")
        return f"{base}-{k}"

    for index, cell in enumerate(nb["cells"]):
        if cell.get(
            "cell_type"
        ) != "markdown" or "{literalinclude}" not in _source(cell):
            cells.append(cell)
            continue
        text = _source(cell)
        here = f"{where}, cell {index} (id {cell.get('id')})"
        blocks = find_blocks(text, here)
        if not blocks:  # e.g. a literalinclude shown inside a code fence
            cells.append(cell)
            continue
        lines = text.split("\n")
        pos, pieces = 0, []
        for b in blocks:
            if check_objects:
                _check_object(b["module"], b["name"], here)
            pieces.append(("md", "\n".join(lines[pos : b["start"]])))
            pieces.append(("code", b))
            pos = b["end"] + 1
        pieces.append(("md", "\n".join(lines[pos:])))
        first_md = True
        base = str(cell.get("id") or f"cell{index}")[:50]
        for kind, item in pieces:
            if kind == "code":
                cells.append(
                    code_cell(
                        item["module"], item["name"], new_id(f"{base}-src")
                    )
                )
                count += 1
            elif item.strip():
                cells.append(
                    _markdown_cell(
                        cell,
                        item.strip("\n"),
                        cell.get("id") if first_md else new_id(f"{base}-md"),
                    )
                )
                first_md = False
    out = dict(nb)
    out["cells"] = cells
    return out, count


def remaining(nb: dict) -> int:
    return sum(
        _source(c).count("{literalinclude}")
        for c in nb["cells"]
        if c.get("cell_type") == "markdown"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument(
        "--out",
        type=Path,
        help="write converted copies into this folder instead of in place",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="only report; exit 1 if a literalinclude is left",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    status = 0
    for path in args.notebooks:
        nb = json.loads(path.read_text(encoding="utf-8"))
        if args.check:
            n = remaining(nb)
            if n:
                print(f"{path}: {n} literalinclude block(s) left")
                status = 1
            continue
        try:
            new, count = convert(nb, where=str(path))
        except ConversionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        target = args.out / path.name if args.out else path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            json.dumps(new, ensure_ascii=False, indent=1) + "\n",
            encoding="utf-8",
        )
        print(
            f"{path} -> {target}: {count} block(s) converted, "
            f"{remaining(new)} left"
        )
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
