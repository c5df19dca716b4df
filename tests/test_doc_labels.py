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
# propositions, definitions, theorems, exercises: a directive's ``:label:``
CITED_OTHER = re.compile(r"\b(?:prop|def|thm|lem|ex)-[a-z0-9]+(?:-[a-z0-9]+)*")
DEFINED_OTHER = re.compile(
    r"^:label: ((?:prop|def|thm|lem|ex)-[a-z0-9-]+)", re.M
)


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


def directive_labels() -> set[str]:
    texts = [
        "".join(c["source"])
        for nb in (ROOT / "notebooks").glob("*.ipynb")
        for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "markdown"
    ] + [p.read_text(encoding="utf-8") for p in (ROOT / "book").glob("*.md")]
    return {m for t in texts for m in DEFINED_OTHER.findall(t)}


def cited_labels() -> dict[str, set[str]]:
    return {
        p.name: set(CITED.findall(p.read_text(encoding="utf-8")))
        for p in sorted((ROOT / "lecture_code").glob("*.py"))
    }


def test_labels_are_found():
    assert len(book_labels()) > 100
    assert DEFINED.findall("$$\nx\n$$ (eq-a-b)") == ["eq-a-b"]
    assert sum(map(len, cited_labels().values())) > 50


def test_every_cited_directive_label_exists():
    labels = directive_labels()
    assert {"prop-dual-mirror", "def-fisher-conditional"} <= labels
    assert DEFINED_OTHER.findall(
        ":::{prf:proposition}\n:label: prop-a-b\n"
    ) == ["prop-a-b"]
    missing = {
        p.name: sorted(set(CITED_OTHER.findall(text)) - labels)
        for p in sorted((ROOT / "lecture_code").glob("*.py"))
        if set(CITED_OTHER.findall(text := p.read_text(encoding="utf-8")))
        - labels
    }
    assert not missing, (
        f"docstrings cite labels the book does not define: {missing}"
    )


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


# The objects a chapter shows with show_source are the code a reader compares
# with the mathematics next to it: each names the equation it implements. The
# exceptions are procedures the book describes in words, not by an equation.
PROCEDURES = {
    "lecture_code.experiments.lr_sweep": "the tuning protocol (ch. 7)",
    "lecture_code.optim.adam_step": "Adam is described, not numbered",
    "lecture_code.optim.minibatch_run": "a training loop",
    "lecture_code.optim.newton_optimum": "a solver for the reference W*",
    "lecture_code.optim.train_mlp": "a training loop",
    "lecture_code.bio.sample_bio_corpus": "the synthetic corpus (ch. 9)",
    "lecture_code.crf_experiment.decode": "the tagger's decoding loop",
    "lecture_code.discrete.summarize_estimates": "bias/variance table",
    "lecture_code.charlm.ngram_hit_rate": "a text statistic (ch. 11)",
}
SHOWN = re.compile(r"show_source\(\s*(lecture_code(?:\.\w+)+)")


def shown_objects() -> set[str]:
    return {
        m
        for nb in (ROOT / "notebooks").glob("*.ipynb")
        for c in json.loads(nb.read_text(encoding="utf-8"))["cells"]
        if c["cell_type"] == "code"
        for m in SHOWN.findall("".join(c["source"]))
    }


def test_shown_code_names_its_equation():
    import importlib

    shown = shown_objects()
    assert len(shown) > 50
    uncited = []
    for dotted in sorted(shown):
        module, *attrs = dotted.split(".")[1:]
        obj = importlib.import_module(f"lecture_code.{module}")
        for a in attrs:
            obj = getattr(obj, a)
        if dotted not in PROCEDURES and not CITED.search(obj.__doc__ or ""):
            uncited.append(dotted)
    assert not uncited, f"shown without an equation label: {uncited}"
    # the list of exceptions holds only objects a chapter still shows
    assert set(PROCEDURES) <= shown, set(PROCEDURES) - shown
