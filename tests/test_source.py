"""Tests of lecture_code.source.show_source: the shown text is the object's
source, it displays as a fenced Python block in JupyterLab and in the
book (MyST), and bad input fails clearly."""

import inspect
import textwrap

import pytest

import lecture_code.source
from lecture_code.source import Source, show_source


class Local:
    """A class defined here (its source is this file)."""

    def method(self, x):
        return 2 * x


def html_text(fragment: str) -> str:
    """The text a browser shows in the fragment's <pre> block (tags dropped,
    entities decoded)."""
    import html
    import re

    pre = re.search(r"<pre>(.*)</pre>", fragment, re.S).group(1)
    return html.unescape(re.sub(r"<[^>]+>", "", pre))


def unfence(markdown: str) -> tuple[str, str, str]:
    """(opening fence line, body, closing fence line) of a one-block
    markdown string."""
    lines = markdown.rstrip("\n").split("\n")
    return lines[0], "\n".join(lines[1:-1]) + "\n", lines[-1]


@pytest.mark.parametrize(
    "obj",
    [show_source, Source, Local, lecture_code.source._resolve],
    ids=lambda o: o.__qualname__,
)
def test_functions_and_classes_show_exactly_their_source(obj):
    src = show_source(obj)
    assert isinstance(src, Source)
    assert src.text == inspect.getsource(obj)
    opening, body, closing = unfence(src._repr_markdown_())
    # show_source's own docstring shows a ``` fence
    fence = "````" if "```" in src.text else "```"
    assert (
        opening == fence + "python"
        and closing == fence
        and body == inspect.getsource(obj)
    )
    bundle = src._repr_mimebundle_()
    assert (
        set(bundle) == {"text/html", "text/markdown", "text/plain"}
        and bundle["text/plain"] == src.text
    )
    assert html_text(bundle["text/html"]) == src.text
    assert src.name == f"{obj.__module__}.{obj.__qualname__}"


def test_a_method_is_dedented():
    for method in (Local.method, Local().method, Source._repr_markdown_):
        src = show_source(method)
        assert src.text == textwrap.dedent(
            inspect.getsource(method)
        ) and src.text.startswith("def ")


def test_a_dotted_name_works_like_the_object():
    assert show_source(
        "lecture_code.source.show_source"
    ).text == inspect.getsource(show_source)
    assert show_source(
        "lecture_code.source.Source._repr_markdown_"
    ).text.startswith("def _repr_markdown_(")
    assert show_source(lecture_code.source).text == inspect.getsource(
        lecture_code.source
    )


def test_backticks_in_the_source_get_a_longer_fence():
    src = Source("def f():\n    '''Use ```code``` here.'''\n", "f")
    opening, body, closing = unfence(src._repr_markdown_())
    assert opening == "````python" and closing == "````" and body == src.text


def test_the_book_renders_it_as_a_highlighted_python_block():
    """myst-nb renders text/markdown outputs with MyST
    (nb_render_markdown_format: myst)."""
    from docutils.core import publish_doctree
    from docutils.nodes import literal_block
    from myst_parser.parsers.docutils_ import Parser

    obj = show_source
    tree = publish_doctree(
        show_source(obj)._repr_markdown_(),
        parser=Parser(),
        settings_overrides={
            "report_level": 4,
            "myst_enable_extensions": ["colon_fence"],
        },
    )
    blocks = list(tree.findall(literal_block))
    assert len(blocks) == 1 and len(tree.children) == 1
    assert "python" in (
        blocks[0].get("language"),
        *blocks[0].get("classes", []),
    )
    assert blocks[0].astext() == inspect.getsource(obj).rstrip("\n")


def test_html_is_highlighted_with_sphinx_and_pygments_markup():
    html = show_source(Local)._repr_html_()
    assert html.startswith(
        '<div class="highlight-python notranslate lc-source"><div '
        'class="highlight"><pre>'
    )
    # keyword, class name
    assert (
        '<span class="k">class</span>' in html
        and '<span class="nc">Local</span>' in html
    )
    assert '<span class="sd">' in html  # the docstring


@pytest.mark.parametrize(
    "obj, error, match",
    [
        (len, TypeError, "needs a function, class, method or module"),
        (1.5, TypeError, "needs a function, class, method or module"),
        (
            "lecture_code.source.no_such_function",
            ValueError,
            "does not name an object",
        ),
        (Local(), TypeError, "needs a function, class, method or module"),
        ("no_such_package.f", ValueError, "no module"),
    ],
)
def test_bad_input(obj, error, match):
    with pytest.raises(error, match=match):
        show_source(obj)


# -- tools/convert_literalinclude.py: literalinclude blocks -> hidden
# show_source cells -------------


def _converter():
    import importlib.util
    from pathlib import Path

    path = (
        Path(__file__).resolve().parents[1]
        / "tools"
        / "convert_literalinclude.py"
    )
    spec = importlib.util.spec_from_file_location(
        "convert_literalinclude", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nb(*markdown):
    return {
        "cells": [
            {
                "cell_type": "markdown",
                "id": f"m{i}",
                "metadata": {},
                "source": text,
            }
            for i, text in enumerate(markdown)
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


BLOCK = (
    "```{literalinclude} ../lecture_code/source.py\n"
    ":pyobject: show_source\n```"
)


def test_conversion_splits_the_cell_around_a_hidden_show_source_cell():
    conv = _converter()
    nb = _nb(
        f"Before the code.\n\n{BLOCK}\n\n```{{literalinclude}} "
        "../lecture_code/source.py\n:pyobject: "
        "Source._repr_html_\n```\nAfter."
    )
    new, count = conv.convert(nb)
    assert count == 2
    kinds = [c["cell_type"] for c in new["cells"]]
    assert kinds == ["markdown", "code", "code", "markdown"]
    first, code, code2, last = new["cells"]
    assert (
        "".join(first["source"]) == "Before the code." and first["id"] == "m0"
    )
    assert "".join(last["source"]) == "After." and last["id"] != "m0"
    assert "".join(code["source"]) == (
        "import lecture_code.source\nfrom lecture_code.source import "
        "show_source\n\n"
        "show_source(lecture_code.source.show_source)"
    )
    assert "".join(code2["source"]).endswith(
        "show_source(lecture_code.source.Source._repr_html_)"
    )
    assert code["metadata"] == {
        "jupyter": {"source_hidden": True},
        "tags": ["remove-input"],
    }
    assert code["outputs"] == [] and code["execution_count"] is None
    assert len({c["id"] for c in new["cells"]}) == 4
    # nothing left: idempotent
    assert conv.convert(new)[1] == 0 and conv.remaining(new) == 0
    # the cell runs and shows exactly the source
    namespace = {}
    exec(
        "".join(code["source"]).replace(
            "show_source(", "result = show_source("
        ),
        namespace,
    )
    assert namespace["result"].text == inspect.getsource(show_source)


def test_a_cell_of_only_a_block_becomes_only_the_code_cell():
    new, count = _converter().convert(_nb(BLOCK, "Next."))
    assert count == 1 and [c["cell_type"] for c in new["cells"]] == [
        "code",
        "markdown",
    ]


@pytest.mark.parametrize(
    "markdown, match",
    [
        (f":::{{note}}\n{BLOCK}\n:::", "inside an open"),
        (
            "```{literalinclude} ../lecture_code/source.py\n:pyobject: "
            "show_source\n:lines: 1-3\n```",
            "cannot reproduce",
        ),
        (
            "```{literalinclude} ../lecture_code/source.py\n```",
            "no :pyobject:",
        ),
        (
            "```{literalinclude} ../README.md\n:pyobject: x\n```",
            "not a lecture_code module",
        ),
        (
            "```{literalinclude} ../lecture_code/source.py\n:pyobject: "
            "no_such_thing\n```",
            "does not exist",
        ),
    ],
)
def test_conversion_refuses_what_it_cannot_reproduce(markdown, match):
    conv = _converter()
    with pytest.raises(conv.ConversionError, match=match):
        conv.convert(_nb(markdown))


def test_a_fenced_example_is_not_a_directive():
    """A literalinclude shown inside a code fence (documentation) is left
    alone."""
    text = "````markdown\n" + BLOCK + "\n````"
    new, count = _converter().convert(_nb(text))
    assert count == 0 and "".join(new["cells"][0]["source"]) == text
