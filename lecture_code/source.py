"""Show the source of a library function or class in a chapter, the same in
JupyterLab and the book.

``show_source(lecture_code.fisher.categorical_fisher)`` as the last expression
of a code cell displays the object's source, highlighted, in both places. Its
output carries

- ``text/html``: the source highlighted by Pygments with Sphinx's markup
  (``div.highlight-python > div.highlight > pre`` with Pygments' short class
  names). The book styles it with its own Pygments theme (and
  ``sphinx-copybutton`` adds its copy button), like a ``literalinclude`` block;
  JupyterLab colours the same classes with ``jupyterlab_pygments``
  (jupyterlab-myst, which renders ``text/markdown`` outputs, marks code up but
  does not colour it);
- ``text/markdown``: a fenced ``python`` block (for front ends without HTML);
- ``text/plain``: the source itself.

Tag the cell ``remove-input`` so the book shows only the code, as
``literalinclude`` did (which JupyterLab cannot render: the block simply
disappeared there). ``tools/convert_literalinclude.py`` turns a chapter's
``literalinclude``/``:pyobject:`` blocks into such cells.
"""

from __future__ import annotations

import importlib
import inspect
import re
import textwrap


class Source:
    """The source text of a Python object, displayed as a highlighted code
    block.

    Parameters
    ----------
    text : str
        ``inspect.getsource(obj)``, dedented if the object is nested (a
        method); kept as ``.text``.
    name : str
        The object's qualified name, e.g.
        ``lecture_code.fisher.categorical_fisher``; kept as ``.name``.
    """

    def __init__(self, text: str, name: str):
        self.text = text
        self.name = name

    def _fence(self) -> str:
        longest = max(
            (len(run) for run in re.findall(r"`+", self.text)), default=0
        )
        return "`" * max(3, longest + 1)

    def _repr_html_(self) -> str:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer

        body = highlight(
            self.text, PythonLexer(), HtmlFormatter(cssclass="highlight")
        )
        return (
            f'<div class="highlight-python notranslate lc-source">{body}</div>'
        )

    def _repr_markdown_(self) -> str:
        fence = self._fence()
        return f"{fence}python\n{self.text.rstrip(chr(10))}\n{fence}\n"

    def __repr__(self) -> str:
        return self.text

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {
            "text/html": self._repr_html_(),
            "text/markdown": self._repr_markdown_(),
            "text/plain": self.text,
        }


def _resolve(name: str):
    """The object a dotted name ``package.module.attr[.attr]`` refers to."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ModuleNotFoundError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ValueError(f"no module in {name!r}")


def show_source(obj) -> Source:
    """The source of ``obj`` (a function, class, method or module, or its
    dotted name) for display.

    Parameters
    ----------
    obj : function, class, method, module or str
        What to show; a string is a dotted name such as
        ``"lecture_code.fisher.categorical_fisher"``.

    Returns
    -------
    Source
        Displays as highlighted code (``text/html`` with Pygments classes, and
        a fenced ``python`` block as ``text/markdown``); ``.text`` is
        ``inspect.getsource(obj)`` (dedented for a method).

    Raises
    ------
    TypeError
        If ``obj`` has no Python source (a built-in, an instance, a number).
    ValueError
        If a dotted name does not name an object.

    Examples
    --------
    >>> from lecture_code.simplex import in_simplex
    >>> src = show_source(in_simplex)
    >>> src.text.startswith("def in_simplex(")
    True
    >>> src._repr_markdown_().splitlines()[0]
    '```python'
    """
    if isinstance(obj, str):
        try:
            target = _resolve(obj)
        except AttributeError as exc:
            raise ValueError(
                f"show_source: {obj!r} does not name an object ({exc})"
            ) from None
        name = obj
    else:
        target = obj
        module = getattr(obj, "__module__", None) or getattr(
            obj, "__name__", ""
        )
        qualname = getattr(obj, "__qualname__", None)
        name = (
            f"{module}.{qualname}"
            if qualname and not inspect.ismodule(obj)
            else str(module)
        )
    if not (
        inspect.isfunction(target)
        or inspect.isclass(target)
        or inspect.ismethod(target)
        or inspect.ismodule(target)
    ):
        raise TypeError(
            "show_source needs a function, class, method or module, got "
            f"{type(target).__name__} "
            f"({target!r:.60})"
        )
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError) as exc:
        raise TypeError(
            f"show_source: no Python source for {name} ({exc})"
        ) from None
    return Source(textwrap.dedent(text), name)
