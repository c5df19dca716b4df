"""The execution cache never serves stale outputs: tools/cache_guard.py drops
a cached run when the library, the data, the pins or a file the notebook
declares changed, and keeps it otherwise."""

import importlib.util
import os
import shutil
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
    for d in ("lecture_code", "notebooks/data", "book"):
        (root / d).mkdir(parents=True)
    (root / "lecture_code" / "__init__.py").write_text("")
    (root / "lecture_code" / "alpha.py").write_text("A = 1\n")
    (root / "notebooks" / "data" / "grid.csv").write_text("lr,loss\n")
    (root / "book" / "page.md").write_text("# page\n")
    (root / "requirements.txt").write_text("numpy==1\n")
    for name, src, meta in [
        ("uses_alpha", "from lecture_code.alpha import A\nprint(A)", {}),
        ("plain", "%matplotlib inline\nprint(2)", {}),
        (
            "reads_pages",
            "print(1)",
            {"lecture": {"depends_on": ["book/*.md"]}},
        ),
    ]:
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src)]
        nb.metadata.update(meta)
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


def test_inputs_of_the_chapters():
    def names(nb):
        paths = cache_guard.inputs(ROOT / "notebooks" / nb, ROOT)
        return {p.relative_to(ROOT).as_posix() for p in paths}

    ch07, ch09 = names("07_natural_gradient.ipynb"), names("09_crf.ipynb")
    # the whole library and the pins, for every chapter
    assert {
        "lecture_code/__init__.py",
        "lecture_code/softmax.py",
        "lecture_code/crf.py",
        "requirements.txt",
        "pyproject.toml",
    } <= ch07 & ch09
    # the stored data, declared or not (chapter 9 reads its grid undeclared)
    assert "notebooks/data/ch09_lr_grid.csv" in ch07 & ch09
    assert not any("__pycache__" in n for n in ch07)


def test_changed_inputs_invalidate_the_cached_runs(tmp_path):
    root = make_project(tmp_path)
    cache_dir = root / "_build" / ".jupyter_cache"
    cache = cache_all(root, cache_dir)
    everything = {"uses_alpha", "plain", "reads_pages"}
    # first run: no recorded digests, all dropped
    assert len(cache_guard.guard(root, cache_dir)) == 3
    cache = cache_all(root, cache_dir)
    # nothing changed: cache kept
    assert cache_guard.guard(root, cache_dir) == []
    assert cached_names(root, cache) == everything

    notebooks = root / "notebooks"
    # pretend the notebooks were written long ago
    for p in notebooks.glob("*.ipynb"):
        t = p.stat().st_mtime_ns - 10**10
        os.utime(p, ns=(t, t))
    old = {p.name: p.stat().st_mtime_ns for p in notebooks.glob("*.ipynb")}
    # a declared file: only the notebook that declares it
    (root / "book" / "page.md").write_text("# changed\n")
    assert cache_guard.guard(root, cache_dir) == [
        "notebooks/reads_pages.ipynb"
    ]
    assert cached_names(root, cache) == {"uses_alpha", "plain"}
    # Sphinx re-reads only sources newer than its last build: the invalidated
    # notebook is bumped, the others are not
    new = {p.name: p.stat().st_mtime_ns for p in notebooks.glob("*.ipynb")}
    assert new["reads_pages.ipynb"] > old["reads_pages.ipynb"]
    assert new["plain.ipynb"] == old["plain.ipynb"]

    # the library, the data and the pins: every chapter
    for path, text in [
        ("lecture_code/alpha.py", "A = 2\n"),
        ("notebooks/data/grid.csv", "lr,loss\n0.1,2\n"),
        ("requirements.txt", "numpy==2\n"),
    ]:
        cache = cache_all(root, cache_dir)
        (root / path).write_text(text)
        assert len(cache_guard.guard(root, cache_dir)) == 3, path
        assert cached_names(root, cache) == set()
    # byte code is not an input
    cache = cache_all(root, cache_dir)
    (root / "lecture_code" / "__pycache__").mkdir()
    (root / "lecture_code" / "__pycache__" / "alpha.pyc").write_bytes(b"x")
    assert cache_guard.guard(root, cache_dir) == []
    shutil.rmtree(root)
