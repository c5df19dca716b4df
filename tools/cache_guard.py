"""Keep the execution cache honest: drop cached runs whose inputs changed.

jupyter-cache (``execute_notebooks: cache``) keys a cached execution on the
notebook's code cells only, so an edit in ``lecture_code`` would leave stale
outputs in the book. Before each build this script digests what every chapter
reads besides its own code: the whole library (``lecture_code/**``), the data
(``notebooks/data/**``), ``requirements.txt``, ``pyproject.toml``, and the
files a notebook names by glob in its metadata ``lecture.depends_on``. When a
notebook's digest differs from the one stored beside the cache (``deps.json``),
its cached execution is removed and its modification time bumped (Sphinx
re-reads only sources newer than its last build). The price of one digest for
the whole library: any library edit re-executes every chapter (about 90 s).

Usage: ``python tools/cache_guard.py [--root .] [--cache DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

SHARED = (
    "lecture_code/**/*.py",
    "notebooks/data/**/*",
    "requirements.txt",
    "pyproject.toml",
)


def inputs(nb_path: Path, root: Path) -> list[Path]:
    """Every file besides its own code that can change what it prints."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    extra = nb.get("metadata", {}).get("lecture", {}).get("depends_on", [])
    return sorted(
        {
            p
            for g in (*SHARED, *extra)
            for p in root.glob(g)
            if p.is_file() and "__pycache__" not in p.parts
        }
    )


def digest(files: list[Path], root: Path) -> str:
    """SHA-256 over the files' paths and contents."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(root).as_posix().encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    return h.hexdigest()


def guard(root: Path, cache_dir: Path) -> list[str]:
    """Drop the cached runs of notebooks whose inputs changed; return them."""
    state_file = cache_dir / "deps.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    changed = {}
    for nb_path in sorted((root / "notebooks").glob("*.ipynb")):
        key = nb_path.relative_to(root).as_posix()
        new = digest(inputs(nb_path, root), root)
        if state.get(key) != new:
            changed[key] = nb_path
            state[key] = new
    dropped = []
    if changed and cache_dir.is_dir():
        import nbformat  # slow imports: only when something changed
        from jupyter_cache import get_cache

        cache = get_cache(cache_dir)
        for key, nb_path in changed.items():
            try:
                record = cache.match_cache_notebook(nbformat.read(nb_path, 4))
            except KeyError:
                continue
            cache.remove_cache(record.pk)
            dropped.append(key)
    for nb_path in changed.values():
        nb_path.touch()  # Sphinx reads (executes) the page again
    cache_dir.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True))
    return dropped


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--root", type=Path, default=Path(__file__).resolve().parent.parent
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="default: ROOT/_build/.jupyter_cache",
    )
    args = parser.parse_args(argv)
    root = args.root.resolve()
    for key in guard(root, args.cache or root / "_build" / ".jupyter_cache"):
        print(
            f"cache_guard: inputs of {key} changed; its cached run was dropped"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
