"""The library's shape (issue 18): small modules, no reaching into another
module's private names.

- No module of ``lecture_code`` has more than ``MAX_CODE_LINES`` logical lines
  of code (statements, counted as Python's tokenizer ends them, so a call the
  formatter spreads over five 79-column lines counts once; docstrings, comments
  and blank lines not counted): one concept per module, readable in one
  sitting.
- No module imports an underscore name from another module of the package: what
two modules share is public (``lecture_code.validate`` holds the shared input
checks).
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lecture_code"
MODULES = sorted(PACKAGE.glob("*.py"))
MAX_CODE_LINES = 300


def code_lines(source: str) -> int:
    """Logical lines of code: statements, not docstrings or comments."""
    tree = ast.parse(source)
    doc_lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(
            node,
            (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef),
        ):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(getattr(body[0], "value", None), ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                doc_lines.update(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(
        1
        for tok in tokenize.generate_tokens(io.StringIO(source).readline)
        if tok.type == tokenize.NEWLINE and tok.start[0] not in doc_lines
    )


def private_imports(source: str) -> list[str]:
    """``from .x import _y`` / ``from lecture_code.x import _y`` / ``x._y``
    attribute use of a sibling module."""
    tree = ast.parse(source)
    found = []
    siblings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            inside = node.level > 0 or (node.module or "").startswith(
                "lecture_code"
            )
            if not inside:
                continue
            if (
                node.module in (None, "lecture_code")
                or node.level
                and not node.module
            ):
                siblings.update(a.asname or a.name for a in node.names)
            found += [
                f"from {'.' * node.level}{node.module or ''} import {a.name}"
                for a in node.names
                if a.name.startswith("_") and not a.name.startswith("__")
            ]
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in siblings
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_the_measures_measure():
    src = (
        '"""Doc.\n\nMore."""\n\n# comment\nimport os\n\n\n'
        'def f(x):\n    """Doc."""\n    return (x +\n            1)\n'
    )
    # import, def and the return (one statement written over two lines)
    assert code_lines(src) == 3
    assert private_imports(
        "from .softmax import _check, softmax\nfrom . import temperature as "
        "t\nt._positive(1)\n"
    ) == ["from .softmax import _check", "t._positive"]
    assert (
        private_imports(
            "from .softmax import softmax\nimport numpy as np\nnp._x\n"
        )
        == []
    )


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_module_is_small(module):
    n = code_lines(module.read_text(encoding="utf-8"))
    assert n <= MAX_CODE_LINES, (
        f"{module.name}: {n} lines of code (limit {MAX_CODE_LINES}): split it "
        "along its readers"
    )


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_no_private_names_from_other_modules(module):
    found = private_imports(module.read_text(encoding="utf-8"))
    assert not found, (
        f"{module.name} uses private names of other modules: {found}"
    )
