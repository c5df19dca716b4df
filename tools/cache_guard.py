"""Keep the book's execution cache honest: drop cached runs whose inputs
changed.

jupyter-cache (used by ``execute_notebooks: cache``) keys a cached execution on
the notebook's code cells only. A change in ``lecture_code`` would therefore
leave stale outputs in the book. Before each build, this script computes for
every notebook a digest of everything its execution reads:

- the ``lecture_code`` modules it imports, followed transitively through the
  package;
- ``lecture_code/__init__.py``, ``requirements.txt`` and ``pyproject.toml``;
- any extra files named by glob in the notebook metadata ``lecture.depends_on``
(for a notebook that reads, say, the book's own pages as training text).

It stores the digests beside the cache (``deps.json``). When a notebook's
digest differs from the stored one, its cached execution is removed and the
notebook's modification time is bumped: Sphinx re-reads only sources newer than
its last build, so without the bump an incremental build would keep the old
page even though the cache entry is gone.

Usage: ``python tools/cache_guard.py [--cache _build/.jupyter_cache] [--root
.]``
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import re
from pathlib import Path

PACKAGE = "lecture_code"
ALWAYS = ("lecture_code/__init__.py", "requirements.txt", "pyproject.toml")


_MENTION = re.compile(r"lecture_code\.(\w+)")
_FROM_PACKAGE = re.compile(r"from\s+lecture_code\s+import\s+\(?([\w\s,]+)\)?")


def _imports_by_regex(source: str) -> set[str]:
    """Conservative fallback for code that does not parse: every
    lecture_code.X it mentions."""
    found = set(_MENTION.findall(source))
    for names in _FROM_PACKAGE.findall(source):
        found |= {
            n.split(" as ")[0].strip() for n in names.split(",") if n.strip()
        }
    return found


def _imports_of_source(source: str, current: str | None = None) -> set[str]:
    """Names of lecture_code submodules imported by ``source`` (``current`` =
    importing module).

    ``source`` is a whole module or a whole notebook cell (multi-line imports
    need the whole cell). IPython magics and shell lines are dropped before
    parsing; code that still does not parse is scanned with a regular
    expression instead.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        python_only = "\n".join(
            line
            for line in source.splitlines()
            if not line.lstrip().startswith(("%", "!"))
        )
        try:
            tree = ast.parse(python_only)
        except SyntaxError:
            return _imports_by_regex(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == PACKAGE and len(parts) > 1:
                    found.add(parts[1])
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level and current is not None:
                module = f"{PACKAGE}.{module}" if module else PACKAGE
            parts = module.split(".")
            if parts[0] != PACKAGE:
                continue
            if len(parts) > 1:
                found.add(parts[1])
            else:  # from lecture_code import softmax, simplex
                found |= {alias.name for alias in node.names}
    return found


def module_closure(names: set[str], root: Path) -> set[Path]:
    """Files of the given lecture_code modules and of everything they
    import, transitively."""
    pkg = root / PACKAGE
    seen: set[str] = set()
    todo = list(names)
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = pkg / f"{name}.py"
        if not path.is_file():
            # an attribute imported from __init__, or a name that does not
            # exist
            continue
        files.add(path)
        todo.extend(
            _imports_of_source(path.read_text(encoding="utf-8"), current=name)
            - seen
        )
    return files


def notebook_dependencies(nb_path: Path, root: Path) -> list[Path]:
    """Every file whose content can change what ``nb_path`` prints when
    executed."""
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    names = set()
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell["source"]
            names |= _imports_of_source(
                "".join(source) if isinstance(source, list) else source
            )
    files = module_closure(names, root)
    files |= {root / p for p in ALWAYS if (root / p).is_file()}
    for pattern in (
        nb.get("metadata", {}).get("lecture", {}).get("depends_on", [])
    ):
        files |= {p for p in root.glob(pattern) if p.is_file()}
    return sorted(files)


def digest(files: list[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(str(f.relative_to(root)).encode())
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def guard(
    root: Path, cache_dir: Path, notebooks: list[Path] | None = None
) -> list[str]:
    """Invalidate cached executions with changed dependencies; return the
    invalidated notebooks."""
    notebooks = (
        notebooks
        if notebooks is not None
        else sorted((root / "notebooks").glob("*.ipynb"))
    )
    state_file = cache_dir / "deps.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    digests = {
        nb: digest(notebook_dependencies(nb, root), root) for nb in notebooks
    }
    changed = [
        nb
        for nb in notebooks
        if state.get(str(nb.relative_to(root))) != digests[nb]
    ]
    cache = None
    # jupyter-cache is slow to import: only when needed
    if changed and cache_dir.is_dir():
        import nbformat
        from jupyter_cache import get_cache

        cache = get_cache(cache_dir)
    invalidated = []
    for nb_path in changed:
        key = str(nb_path.relative_to(root))
        new = digests[nb_path]
        if cache is not None:
            try:
                record = cache.match_cache_notebook(
                    nbformat.read(nb_path, as_version=4)
                )
            except KeyError:
                record = None
            if record is not None:
                cache.remove_cache(record.pk)
                invalidated.append(key)
        # make Sphinx treat the page as outdated and read (execute) it again
        nb_path.touch()
        state[key] = new
    cache_dir.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=1, sort_keys=True))
    return invalidated


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
    cache_dir = args.cache or root / "_build" / ".jupyter_cache"
    for key in guard(root, cache_dir):
        print(
            f"cache_guard: inputs of {key} changed; its cached execution was dropped"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
