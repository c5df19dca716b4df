"""The execution cache never serves stale outputs: tools/cache_guard.py
drops a cached run whose lecture_code dependencies changed, and keeps the
others."""

import importlib.util
import os
import shutil
import textwrap
from pathlib import Path

import nbformat
from jupyter_cache.base import CacheBundleIn

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location(
    "cache_guard", ROOT / "tools" / "cache_guard.py"
)
cache_guard = importlib.util.module_from_spec(spec)
spec.loader.exec_module(cache_guard)


def make_project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "lecture_code").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "book").mkdir()
    (root / "lecture_code" / "__init__.py").write_text("")
    (root / "lecture_code" / "base.py").write_text("X = 1\n")
    (root / "lecture_code" / "alpha.py").write_text(
        "from .base import X\nA = X\n"
    )
    (root / "lecture_code" / "beta.py").write_text("B = 2\n")
    (root / "book" / "page.md").write_text("# page\n")
    (root / "requirements.txt").write_text("numpy==1\n")
    for name, src, meta in [
        ("uses_alpha", "from lecture_code.alpha import A\nprint(A)", {}),
        (
            "uses_beta",
            "%matplotlib inline\nimport lecture_code.beta as b\nprint(b.B)",
            {},
        ),
        (
            "reads_pages",
            "print(1)",
            {"lecture": {"depends_on": ["book/*.md"]}},
        ),
    ]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src)]
        nb.metadata.update(
            {
                "kernelspec": {
                    "name": "python3",
                    "display_name": "Python 3",
                    "language": "python",
                },
                **meta,
            }
        )
        nbformat.write(nb, root / "notebooks" / f"{name}.ipynb")
    return root


def cache_all(root: Path, cache_dir: Path):
    from jupyter_cache import get_cache

    cache = get_cache(cache_dir)
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nb.cells[0].outputs = [
            nbformat.v4.new_output("stream", name="stdout", text="cached\n")
        ]
        nb.cells[0].execution_count = 1
        cache.cache_notebook_bundle(
            CacheBundleIn(nb, str(path)), overwrite=True
        )
    return cache


def cached_names(root, cache):
    names = set()
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        try:
            cache.match_cache_notebook(nbformat.read(path, as_version=4))
            names.add(path.stem)
        except KeyError:
            pass
    return names


def test_dependencies_follow_imports_transitively():
    deps = cache_guard.notebook_dependencies(
        ROOT / "notebooks" / "01_simplex.ipynb", ROOT
    )
    names = {p.relative_to(ROOT).as_posix() for p in deps}
    assert {
        "lecture_code/simplex.py",
        "lecture_code/sliders.py",
        "lecture_code/style.py",
        "lecture_code/softmax.py",
        "requirements.txt",
    } <= names
    # chapter 1 does not import it
    assert "lecture_code/figures.py" not in names


def test_changed_dependency_invalidates_only_the_affected_notebook(tmp_path):
    root = make_project(tmp_path)
    cache_dir = root / "_build" / ".jupyter_cache"
    cache = cache_all(root, cache_dir)
    # first run: no recorded digests, all dropped
    assert cache_guard.guard(root, cache_dir) != []
    cache = cache_all(root, cache_dir)
    # nothing changed: cache kept
    assert cache_guard.guard(root, cache_dir) == []
    assert cached_names(root, cache) == {
        "uses_alpha",
        "uses_beta",
        "reads_pages",
    }

    notebooks = root / "notebooks"
    old = {p.name: p.stat().st_mtime_ns for p in notebooks.glob("*.ipynb")}
    # pretend the notebooks were written long ago
    for p in notebooks.glob("*.ipynb"):
        os.utime(p, ns=(old[p.name] - 10**10, old[p.name] - 10**10))
    old = {p.name: p.stat().st_mtime_ns for p in notebooks.glob("*.ipynb")}
    # imported by alpha, transitively
    (root / "lecture_code" / "base.py").write_text("X = 2\n")
    assert cache_guard.guard(root, cache_dir) == ["notebooks/uses_alpha.ipynb"]
    assert cached_names(root, cache) == {"uses_beta", "reads_pages"}
    # Sphinx re-reads only sources newer than its last build: the invalidated
    # notebook is bumped.
    new = {p.name: p.stat().st_mtime_ns for p in notebooks.glob("*.ipynb")}
    assert new["uses_alpha.ipynb"] > old["uses_alpha.ipynb"]
    assert new["uses_beta.ipynb"] == old["uses_beta.ipynb"]

    (root / "book" / "page.md").write_text("# changed\n")
    assert cache_guard.guard(root, cache_dir) == [
        "notebooks/reads_pages.ipynb"
    ]

    cache = cache_all(root, cache_dir)
    # every notebook depends on the pins
    (root / "requirements.txt").write_text("numpy==2\n")
    assert len(cache_guard.guard(root, cache_dir)) == 3
    shutil.rmtree(root)


def test_multiline_imports_and_magics_are_followed():
    deps = cache_guard.notebook_dependencies(
        ROOT / "notebooks" / "07_natural_gradient.ipynb", ROOT
    )
    names = {p.relative_to(ROOT).as_posix() for p in deps}
    # chapter 7 imports both with parenthesized multi-line imports
    assert {
        "lecture_code/fisher.py",
        "lecture_code/natgrad.py",
        "lecture_code/softmax.py",
    } <= names
    cell = "%matplotlib inline\nfrom lecture_code.maxent import (\n    solve,\n    kl_to_uniform,\n)\n"
    assert cache_guard._imports_of_source(cell) == {"maxent"}
    broken = "x = (\nimport lecture_code.crf\nfrom lecture_code import (simplex, plot as p)"
    assert cache_guard._imports_of_source(broken) == {"crf", "simplex", "plot"}


def test_imports_are_found_in_all_forms():
    src = textwrap.dedent(
        """
        import lecture_code.softmax
        from lecture_code import simplex, plot as p
        from lecture_code.check import cmp
        import numpy as np
        """
    )
    assert cache_guard._imports_of_source(src) == {
        "softmax",
        "simplex",
        "plot",
        "check",
    }
