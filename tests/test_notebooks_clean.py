"""Notebooks are committed without outputs; the book build and nbval execute
them."""

import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 11


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], (
                f"{path.name}: cell {i} has outputs; clear them before "
                "committing"
            )
            assert cell.get("execution_count") is None, (
                f"{path.name}: cell {i} has an execution count"
            )
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_every_notebook_is_in_the_toc():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    files = {ch["file"] for part in toc["parts"] for ch in part["chapters"]}
    for path in NOTEBOOKS:
        assert f"notebooks/{path.stem}" in files, (
            f"{path.name} is missing from _toc.yml"
        )
