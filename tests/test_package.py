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
TOP = {"api", "cli", "demo", "html_report", "__init__"}  # the layers allowed to sit above `api`


def import_graph() -> dict[str, set[str]]:
    """module -> the axialsr modules it imports (at any depth of its code, functions included)."""
    graph = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("axialsr"):
                if node.module == "axialsr":
                    found.update(alias.name for alias in node.names if (PACKAGE / f"{alias.name}.py").exists())
                else:
                    found.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("axialsr."))
        graph[path.stem] = found - {path.stem}
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


def test_nothing_below_api_imports_api():
    graph = import_graph()
    offenders = sorted(m for m, deps in graph.items() if "api" in deps and m not in TOP)
    assert not offenders, f"modules below api that import it: {offenders}"
    assert "cli" not in set().union(*(deps for m, deps in graph.items() if m != "__init__"))


MODULES = sorted(m.name for m in pkgutil.iter_modules([str(PACKAGE)]))


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
