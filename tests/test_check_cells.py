"""Chapters read as narrative: a cell's closing asserts sit in a check cell the
book folds under 「検算」.

A check cell is a code cell tagged ``hide-input`` whose cell metadata sets
myst-nb's prompt to 「検算を表示」/「検算を隠す」 (``mystnb.code_prompt_show``
/ ``code_prompt_hide``). This test fails when a visible code cell computes
something and then ends with ``assert`` statements (move them into a check cell
after it), and when a check cell holds anything but checks.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parent.parent / "notebooks").glob(
        "[0-9][0-9]_*.ipynb"
    )
)
PROMPT = {"code_prompt_show": "検算を表示", "code_prompt_hide": "検算を隠す"}
CHECK_CALLS = {"cmp", "vs_source"}


def is_check_cell(cell) -> bool:
    meta = cell.get("metadata", {})
    return (
        "hide-input" in meta.get("tags", [])
        and meta.get("mystnb", {}) == PROMPT
    )


def is_check(stmt) -> bool:
    """An assert, a cmp/vs_source call, or a loop of those (what a check
    cell may hold)."""
    if isinstance(stmt, ast.Assert):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        f = stmt.value.func
        return (
            f.id if isinstance(f, ast.Name) else getattr(f, "attr", None)
        ) in CHECK_CALLS
    if isinstance(stmt, (ast.For, ast.If)):
        return all(is_check(s) for s in stmt.body + stmt.orelse)
    return False


def problems(cells) -> list[str]:
    found = []
    for i, c in enumerate(cells):
        if c["cell_type"] != "code":
            continue
        tags = c.get("metadata", {}).get("tags", [])
        body = ast.parse("".join(c["source"])).body
        if is_check_cell(c):
            # a check cell checks; it may name intermediate values for its
            # asserts
            if not any(isinstance(s, ast.Assert) or is_check(s) for s in body):
                found.append(f"cell {i}: a check cell without a check")
        elif not {
            "remove-input",
            "remove-cell",
            "hide-input",
            "hide-cell",
        } & set(tags):
            if (
                len(body) > 1
                and isinstance(body[-1], ast.Assert)
                and not isinstance(body[0], ast.Assert)
            ):
                last = next(
                    s for s in reversed(body) if not isinstance(s, ast.Assert)
                )
                shows = isinstance(last, ast.Expr) and not (
                    isinstance(last.value, ast.Call)
                    and getattr(last.value.func, "id", None)
                    in ("print", "cmp", "vs_source", "display")
                )
                if not shows:
                    found.append(
                        f"cell {i}: ends with asserts; move them into a check "
                        "cell after it"
                    )
    return found


def test_the_check_finds_a_closing_assert():
    code = {
        "cell_type": "code",
        "metadata": {},
        "source": ["x = 1 + 1\nprint(x)\nassert x == 2\n"],
    }
    check = {
        "cell_type": "code",
        "metadata": {"tags": ["hide-input"], "mystnb": dict(PROMPT)},
        "source": ["assert x == 2\n"],
    }
    assert problems([code])
    assert not problems([dict(code, source=["x = 1 + 1\nprint(x)\n"]), check])
    assert problems([dict(check, source=["print(1)\n"])])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_closing_asserts_are_folded_checks(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = problems(cells)
    assert not found, f"{path.name}: " + "; ".join(found)
    assert sum(is_check_cell(c) for c in cells) >= 3, (
        f"{path.name}: no 検算 cells (their asserts are the chapter's "
        "contract)"
    )
