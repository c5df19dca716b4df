"""Every public function and class of lecture_code documents its interface in
numpydoc form.

A public function (a module-level name without a leading underscore, defined in
that module) has a docstring with a ``Parameters`` section naming each of its
parameters, and a ``Returns`` (or ``Yields``) section when it returns a value.
A public class documents its constructor's parameters the same way. The
sections are found as numpydoc writes them: the title, then a line of dashes.
"""

import ast
import importlib
import inspect
import pkgutil
import re
import textwrap

import pytest

import lecture_code

MODULES = sorted(
    m.name
    for m in pkgutil.iter_modules(lecture_code.__path__)
    if not m.name.startswith("_")
)


def sections(doc: str) -> dict[str, str]:
    """Split a numpydoc docstring into {section title: body}."""
    doc = inspect.cleandoc(doc)
    parts = re.split(r"^(\w[\w ]*)\n-{3,}\s*$", doc, flags=re.M)
    return {
        parts[i].strip(): parts[i + 1] for i in range(1, len(parts) - 1, 2)
    }


def documented_names(body: str) -> set[str]:
    """Parameter names of a Parameters section: unindented lines ``a, b :
    type`` or ``a``."""
    names = set()
    for line in body.splitlines():
        if line and not line[0].isspace():
            for name in line.split(" : ")[0].split(","):
                names.add(name.strip().lstrip("*"))
    return names


def returns_value(fn) -> bool:
    """Whether the function's own body returns a value or yields (nested
    functions excluded)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    node = tree.body[0]
    stack = list(node.body)
    while stack:
        n = stack.pop()
        if isinstance(
            n,
            (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef),
        ):
            continue
        if isinstance(n, ast.Return) and n.value is not None:
            if not (
                isinstance(n.value, ast.Constant) and n.value.value is None
            ):
                return True
        if isinstance(n, (ast.Yield, ast.YieldFrom)):
            return True
        stack.extend(ast.iter_child_nodes(n))
    return False


def public_objects():
    for name in MODULES:
        module = importlib.import_module(f"lecture_code.{name}")
        for attr, obj in vars(module).items():
            if (
                attr.startswith("_")
                or getattr(obj, "__module__", None) != module.__name__
            ):
                continue
            if inspect.isfunction(obj) or inspect.isclass(obj):
                yield f"{name}.{attr}", obj


def problems(qualname: str, obj) -> list[str]:
    doc = obj.__doc__
    if not doc:
        return [f"{qualname}: no docstring"]
    found = sections(doc)
    if inspect.isclass(obj):
        if "__init__" not in vars(obj) and not hasattr(
            obj, "__dataclass_fields__"
        ):
            return []
        fn = obj.__init__
        params = [p for p in inspect.signature(obj).parameters]
        wants_returns = False
        title = (
            "Parameters"
            if not hasattr(obj, "__dataclass_fields__")
            else "Attributes"
        )
        if title == "Attributes" and "Parameters" in found:
            title = "Parameters"
    else:
        fn = obj
        params = [p for p in inspect.signature(obj).parameters]
        wants_returns = returns_value(fn)
        title = "Parameters"
    out = []
    if params:
        if title not in found:
            out.append(f"{qualname}: no {title} section (parameters {params})")
        else:
            missing = set(params) - documented_names(found[title])
            if missing:
                out.append(
                    f"{qualname}: {title} does not name {sorted(missing)}"
                )
    if wants_returns and not ({"Returns", "Yields"} & set(found)):
        out.append(f"{qualname}: returns a value but has no Returns section")
    for title in ("Parameters", "Attributes", "Returns", "Yields"):
        out += [
            f"{qualname}: {title}: {p}"
            for p in malformed(found.get(title, ""))
        ]
    return out


def malformed(body: str) -> list[str]:
    """Entries of a numpydoc section that are not ``name : type`` / ``type``
    followed by an indented description line."""
    lines = body.strip("\n").splitlines()
    problems = []
    for i, line in enumerate(lines):
        if not line.strip() or line[0].isspace():
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if not (nxt.strip() and nxt[0].isspace()):
            problems.append(f"{line.strip()!r} has no indented description")
        if re.search(r"\w: ", line):
            problems.append(
                f"{line.strip()!r}: type and description share a line"
            )
    return problems


def test_sections_parser_reads_numpydoc():
    doc = """Summary.

    Parameters
    ----------
    x, y : tensor
        Inputs.
    tau : float

    Returns
    -------
    tensor
    """
    found = sections(doc)
    assert set(found) == {"Parameters", "Returns"}
    assert documented_names(found["Parameters"]) == {"x", "y", "tau"}


def test_malformed_entries_are_found():
    body = """
x : float
    Meaning.
y : int
tensor: the result.
    More.
"""
    assert malformed(body) == [
        "'y : int' has no indented description",
        "'tensor: the result.': type and description share a line",
    ]


def test_a_planted_undocumented_function_is_found():
    def f(z, tau=1.0):
        """Softmax.

        Parameters
        ----------
        z : tensor
            Logits.
        """
        return z

    assert problems("planted.f", f) == [
        "planted.f: Parameters does not name ['tau']",
        "planted.f: returns a value but has no Returns section",
    ]


@pytest.mark.parametrize("module", MODULES)
def test_public_api_has_numpydoc_sections(module):
    found = [
        p
        for qualname, obj in public_objects()
        if qualname.startswith(module + ".")
        for p in problems(qualname, obj)
    ]
    assert not found, "\n".join(found)
