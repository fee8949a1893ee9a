"""The package's shape: imports run one way (no cycle; nothing below `api` imports it), and the
examples in the public docstrings run."""

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import axialsr

PACKAGE = Path(axialsr.__file__).parent
# the layers allowed to sit above `api`: the front ends and what only they use
TOP = {"api", "cli", "demo", "html_report", "__init__", "napari_plugin", "napari_plugin._widget"}


def _module_name(path: Path) -> str:
    """'io/formats.py' -> 'io.formats', 'io/__init__.py' -> 'io', '__init__.py' -> '__init__'."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(dotted: str) -> str | None:
    """The package module an 'axialsr.x.y' import names: the deepest existing module or package."""
    parts = dotted.split(".")[1:]
    while parts:
        base = PACKAGE.joinpath(*parts)
        if base.with_suffix(".py").is_file() or (base / "__init__.py").is_file():
            return ".".join(parts)
        parts = parts[:-1]
    return None


def import_graph() -> dict[str, set[str]]:
    """module -> the axialsr modules it imports (at any depth of its code, functions included), over every
    module of the package and its subpackages (io, methods, napari_plugin)."""
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        tree = ast.parse(path.read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("axialsr"):
                if node.module == "axialsr":
                    found.update(a.name for a in node.names if _resolve(f"axialsr.{a.name}") == a.name)
                else:
                    target = _resolve(node.module)
                    found.update({target} if target else set())
                    found.update(  # `from axialsr.io import formats` names a submodule
                        f"{target}.{a.name}"
                        for a in node.names
                        if target and _resolve(f"{node.module}.{a.name}") == f"{target}.{a.name}"
                    )
            elif isinstance(node, ast.Import):
                found.update(t for a in node.names if a.name.startswith("axialsr.") and (t := _resolve(a.name)))
        graph[name] = found - {name}
    return graph


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_import_graph_sees_every_room():
    graph = import_graph()
    assert {"io", "io.formats", "napari_plugin._widget", "napari_plugin._reader"} <= set(graph)
    assert "io.formats" in graph["io"] and "api" in graph["napari_plugin._widget"]


def test_nothing_below_api_imports_api():
    graph = import_graph()
    offenders = sorted(m for m, deps in graph.items() if "api" in deps and m not in TOP)
    assert not offenders, f"modules below api that import it: {offenders}"
    assert "cli" not in set().union(*(deps for m, deps in graph.items() if m != "__init__"))


MODULES = sorted(  # every module but the napari plugin's (Qt; tested in test_napari)
    m.name.removeprefix("axialsr.")
    for m in pkgutil.walk_packages([str(PACKAGE)], "axialsr.")
    if not m.name.startswith("axialsr.napari_plugin")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"axialsr.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_api_is_documented_with_parameters_and_examples():
    from axialsr import api

    for name in api.__all__:
        obj = getattr(api, name)
        assert obj.__doc__ and len(obj.__doc__.strip()) > 40, f"api.{name} has no docstring"
    for name in ("restore", "run"):
        doc = getattr(api, name).__doc__
        assert ("Parameters" in doc and "Returns" in doc) or "Examples" in doc, name
