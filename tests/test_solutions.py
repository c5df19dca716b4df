"""Every exercise solution that contains code runs and checks itself (issue
19).

A ``:::{solution}`` block is markdown: a fenced Python block inside it is shown
to the reader but never executed by the book build or by nbval, so its numbers
can silently go wrong. Code in a solution must be *gated* instead: a markdown
cell ending with ``:::{solution-start} LABEL`` (``:class: dropdown``), then
real code cells, then a markdown cell beginning with ``:::{solution-end}``.
These tests read the markdown cells of every notebook in notebooks/ and fail on

- a fenced Python block (```python, ```py, ```ipython3, ```{code-cell}, ...)
  inside a ``{solution}`` block or inside the markdown of a gated solution;
- a ``solution-start`` without its ``solution-end`` (or the other way round, or
  two starts in a row), a gated solution without a code cell, and a gate whose
  label is not an exercise of the same notebook.

The scanner is tested on small synthetic notebooks first, so that it cannot
pass by finding nothing.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted(
    (Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb")
)

# An opening colon fence of a {solution} directive (the gated forms are
# separate directives).
SOLUTION_OPEN = re.compile(r"^\s*(:{3,})\{solution\}(?:\s|$)")
# A fenced code block whose content would be Python (backticks or tildes, any
# length >= 3).
PYTHON_FENCE = re.compile(
    r"^\s*(?:`{3,}|~{3,})\s*(?:\{code-cell\}|\{(?:code|code-block|sourcecode)\}\s*(?:python3?|py|ipython3?)\b"
    r"|(?:python3?|py|ipython3?)\b)",
    re.IGNORECASE,
)
GATE_START = re.compile(r"^\s*:{3,}\{solution-start\}\s*(\S*)")
GATE_END = re.compile(r"^\s*:{3,}\{solution-end\}")
EXERCISE_LABEL = re.compile(
    r"^\s*:{3,}\{exercise\}(?:[^\n]*)\n(?:\s*:[a-z-]+:[^\n]*\n)*?\s*:label:\s*(\S+)",
    re.MULTILINE,
)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def solution_blocks(markdown: str) -> list[tuple[int, list[str]]]:
    """The ``{solution}`` blocks of one markdown cell: (line number of the
    opening, body lines).

    A colon fence opened with n colons is closed by the first later line made
    only of >= n colons (MyST's colon_fence rule); an unclosed block runs to
    the end of the cell, as MyST renders it.
    """
    lines = markdown.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = SOLUTION_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        n, body, j = len(m.group(1)), [], i + 1
        while j < len(lines) and not re.fullmatch(
            r"\s*:{%d,}\s*" % n, lines[j]
        ):
            body.append(lines[j])
            j += 1
        blocks.append((i + 1, body))
        i = j + 1
    return blocks


def python_fences(lines: list[str]) -> list[str]:
    return [line.strip() for line in lines if PYTHON_FENCE.match(line)]


def scan(nb: dict) -> dict:
    """Scan one notebook (nbformat dict). Returns counts and a list of
    human-readable problems."""
    cells = nb["cells"]
    problems: list[str] = []
    exercises = set()
    for cell in cells:
        if cell["cell_type"] == "markdown":
            exercises.update(EXERCISE_LABEL.findall(_source(cell)))
    n_plain, n_gated = 0, 0
    # (label, cell index, code cells seen) while inside a gated solution
    open_gate = None
    for idx, cell in enumerate(cells):
        src = _source(cell)
        if cell["cell_type"] == "code":
            if open_gate is not None:
                open_gate[2] += 1
            continue
        if cell["cell_type"] != "markdown":
            continue
        for line_no, body in solution_blocks(src):
            n_plain += 1
            for fence in python_fences(body):
                problems.append(
                    f"cell {idx}, line {line_no}: a {{solution}} block "
                    f"contains the code fence {fence!r}; "
                    "gate it (solution-start / code cells / solution-end) so "
                    "that it runs"
                )
        lines = src.splitlines()
        if open_gate is not None:
            ends = [k for k, line in enumerate(lines) if GATE_END.match(line)]
            inside = lines[: ends[0]] if ends else lines
            for fence in python_fences(inside):
                problems.append(
                    f"cell {idx}: the gated solution {open_gate[0]!r} has the "
                    f"code fence {fence!r} in its markdown"
                )
        for k, line in enumerate(lines):
            if GATE_END.match(line):
                if open_gate is None:
                    problems.append(
                        f"cell {idx}: solution-end without a solution-start "
                        "before it"
                    )
                    continue
                if k != 0 or idx == open_gate[1]:
                    problems.append(
                        f"cell {idx}: solution-end of {open_gate[0]!r} must "
                        "begin its own markdown cell"
                    )
                if open_gate[2] == 0:
                    problems.append(
                        f"cell {idx}: the gated solution {open_gate[0]!r} has "
                        "no code cell"
                    )
                n_gated += 1
                open_gate = None
            m = GATE_START.match(line)
            if m:
                label = m.group(1)
                if open_gate is not None:
                    problems.append(
                        f"cell {idx}: solution-start {label!r} while "
                        f"{open_gate[0]!r} is still open"
                    )
                if not label:
                    problems.append(
                        f"cell {idx}: solution-start without a label"
                    )
                elif label not in exercises:
                    problems.append(
                        f"cell {idx}: solution-start {label!r} names no "
                        "exercise of this notebook"
                    )
                open_gate = [label, idx, 0]
                for fence in python_fences(lines[k + 1 :]):
                    problems.append(
                        f"cell {idx}: the gated solution {label!r} has the "
                        f"code fence {fence!r} in its markdown"
                    )
    if open_gate is not None:
        problems.append(
            f"cell {open_gate[1]}: solution-start {open_gate[0]!r} is never "
            "closed by a solution-end"
        )
    return {
        "plain": n_plain,
        "gated": n_gated,
        "exercises": len(exercises),
        "problems": problems,
    }


# --- the scanner on synthetic notebooks
# ------------------------------------------------------------------


def md(text: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": text}


def code(text: str) -> dict:
    return {
        "cell_type": "code",
        "metadata": {},
        "outputs": [],
        "execution_count": None,
        "source": text,
    }


EXERCISE = ":::{exercise}\n:label: ex-a\nQuestion.\n:::\n\n"


@pytest.mark.parametrize(
    "fence",
    [
        "```python",
        "```py",
        "```ipython3",
        "```{code-cell} ipython3",
        "~~~python",
        "````python",
        "```{code-block} python",
        "  ```Python",
    ],
)
def test_scanner_flags_python_in_a_solution(fence):
    nb = {
        "cells": [
            md(
                EXERCISE
                + ":::{solution} ex-a\n:class: dropdown\nText.\n\n"
                + f"{fence}\nx = 1\n```\n:::\n"
            )
        ]
    }
    result = scan(nb)
    assert (
        result["plain"] == 1
        and len(result["problems"]) == 1
        and "contains the code fence" in result["problems"][0]
    )


def test_scanner_accepts_what_is_not_executable_python():
    text = (
        EXERCISE + ":::{solution} ex-a\n:class: dropdown\n"
        "```{literalinclude} ../lecture_code/x.py\n:pyobject: f\n```\n\n"
        "```text\nplain output\n```\n$$\nx\n$$\n:::\n\n```python\n# after the "
        "solution: not part of it\n```\n"
    )
    result = scan({"cells": [md(text)]})
    assert result == {"plain": 1, "gated": 0, "exercises": 1, "problems": []}


def test_scanner_follows_the_colon_count():
    # a 4-colon solution holding a 3-colon note: the note's ':::' does not
    # close the solution
    text = (
        EXERCISE + "::::{solution} ex-a\n:::{note}\nInner.\n:::\n"
        "```python\nx = 1\n```\n::::\n"
    )
    assert len(scan({"cells": [md(text)]})["problems"]) == 1
    # an unclosed solution runs to the end of the cell, as MyST renders it
    assert (
        len(
            scan(
                {
                    "cells": [
                        md(
                            EXERCISE
                            + ":::{solution} ex-a\n```py\nx = 1\n```\n"
                        )
                    ]
                }
            )["problems"]
        )
        == 1
    )


def gated(
    label="ex-a", prose="Prose.", cells=None, end=":::{solution-end}\n:::\n"
):
    cells = [code("assert 1 + 1 == 2\n")] if cells is None else cells
    return [
        md(
            EXERCISE
            + f":::{{solution-start}} {label}\n"
            + f":class: dropdown\n:::\n\n{prose}\n"
        ),
        *cells,
        md(end),
    ]


def test_scanner_accepts_a_well_formed_gate():
    assert scan({"cells": gated()}) == {
        "plain": 0,
        "gated": 1,
        "exercises": 1,
        "problems": [],
    }


@pytest.mark.parametrize(
    "cells, message",
    [
        (gated(end="No end here.\n"), "never closed"),
        (
            [md(":::{solution-end}\n:::\n"), *gated()],
            "without a solution-start",
        ),
        (gated()[:2] + gated(), "still open"),
        (gated(cells=[]), "no code cell"),
        (gated(label="ex-missing"), "names no exercise"),
        (gated(prose="```python\nx = 1\n```"), "in its markdown"),
        (
            gated(
                cells=[
                    code("x = 1\n"),
                    md("More prose.\n```ipython3\nx\n```\n"),
                ]
            ),
            "in its markdown",
        ),
        (
            gated(end="Text first.\n:::{solution-end}\n:::\n"),
            "must begin its own markdown cell",
        ),
    ],
)
def test_scanner_flags_broken_gates(cells, message):
    problems = scan({"cells": cells})["problems"]
    assert problems and any(message in p for p in problems), problems


# --- the book's notebooks
# -----------------------------------------------------------------------------
def test_the_notebooks_are_found():
    assert len(NOTEBOOKS) >= 11, NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_solutions_run_and_gates_match(path):
    result = scan(json.loads(path.read_text(encoding="utf-8")))
    assert not result["problems"], f"{path.name}:\n" + "\n".join(
        result["problems"]
    )


def test_the_scan_is_not_vacuous():
    """The scan saw the solutions it checked: every chapter with exercises
    has solutions, and the solutions gated under issue 19 (chapters 1, 2,
    9, 10, 11) are found as gated ones."""
    results = {
        p.stem: scan(json.loads(p.read_text(encoding="utf-8")))
        for p in NOTEBOOKS
    }
    total = sum(r["plain"] + r["gated"] for r in results.values())
    assert total >= 30, {
        k: (r["plain"], r["gated"]) for k, r in results.items()
    }
    for name, r in results.items():
        if r["exercises"]:
            assert r["plain"] + r["gated"] >= 1, name
    expected_gated = {
        # ex-simplex-faces, ex-simplex-distance, ex-simplex-outside
        "01_simplex": 3,
        # ex-softmax-float32-threshold, ex-softmax-jacobian-psd,
        # ex-softmax-scale-needed
        "02_softmax_map": 3,
        "09_crf": 4,
        "10_gumbel_ste": 4,
        "11_nanochat": 4,
    }
    for name, n in expected_gated.items():
        assert results[name]["gated"] >= n, (name, results[name])
