"""Every equation label a library docstring cites exists in the book (issue 18:
the contract is executable).

The library's docstrings name the book equation they implement,
``(eq-softmax)`` and so on; the chapters define the labels with MyST's ``$$ …
$$ (eq-name)``. A renamed or deleted equation must not leave a docstring
pointing nowhere.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITED = re.compile(r"\beq-[a-z0-9]+(?:-[a-z0-9]+)*")
DEFINED = re.compile(r"\$\$\s*\((eq-[a-z0-9-]+)\)")


def book_labels() -> set[str]:
    labels = set()
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        labels |= {
            m
            for c in cells
            if c["cell_type"] == "markdown"
            for m in DEFINED.findall("".join(c["source"]))
        }
    for page in (ROOT / "book").glob("*.md"):
        labels |= set(DEFINED.findall(page.read_text(encoding="utf-8")))
    return labels


def cited_labels() -> dict[str, set[str]]:
    return {
        p.name: set(CITED.findall(p.read_text(encoding="utf-8")))
        for p in sorted((ROOT / "lecture_code").glob("*.py"))
    }


def test_labels_are_found():
    assert len(book_labels()) > 100
    assert DEFINED.findall("$$\nx\n$$ (eq-a-b)") == ["eq-a-b"]
    assert sum(map(len, cited_labels().values())) > 50


def test_every_cited_label_exists():
    labels = book_labels()
    missing = {
        name: sorted(cited - labels)
        for name, cited in cited_labels().items()
        if cited - labels
    }
    assert not missing, (
        f"docstrings cite equation labels the book does not define: {missing}"
    )
