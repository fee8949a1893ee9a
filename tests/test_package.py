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
# the layers, bottom up: a module imports from its own layer and those below, never from one above
LAYERS = (
    ("errors", "device", "interrupts"),
    ("io",),
    ("operators",),
    ("settings", "evaluation"),
    ("learning",),
    ("methods",),
    ("pipeline",),
    ("api",),
    ("frontends", "__init__"),
)


def layer_of(module: str) -> int:
    """The index in `LAYERS` of a module ('learning.priors' -> 4)."""
    room = module.split(".")[0]
    return next(i for i, rooms in enumerate(LAYERS) if room in rooms)


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
    """module -> the axialsr modules it imports (at any depth of its code, functions and type-hint imports
    included), over every module of the package and its subpackages."""
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
    assert {"io", "io.formats", "frontends.napari._widget", "frontends.napari._reader"} <= set(graph)
    assert "io.formats" in graph["io"] and "api" in graph["frontends.napari._widget"]


def test_imports_run_down_the_layers():
    graph = import_graph()
    offenders = sorted(
        f"{module} -> {dep}" for module, deps in graph.items() for dep in deps if layer_of(dep) > layer_of(module)
    )
    assert not offenders, f"imports from a layer above: {offenders}"
    assert "frontends.cli" not in set().union(*(deps for m, deps in graph.items() if not m.startswith("frontends")))


def test_every_room_says_what_it_holds_and_the_root_stays_small():
    rooms = [p for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()]
    for room in rooms:
        doc = ast.get_docstring(ast.parse((room / "__init__.py").read_text()))
        assert doc and len(doc) > 40, f"{room.name}/__init__.py says nothing about what it holds"
    assert {p.name for p in rooms} >= {"operators", "learning", "methods", "pipeline", "evaluation", "frontends"}
    root_modules = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(root_modules) <= 15, root_modules
    assert {m.split(".")[0] for m in import_graph()} <= {r for rooms in LAYERS for r in rooms}


def test_no_module_is_longer_than_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, f"modules over 500 lines: {long}"


MODULES = sorted(  # every module but the napari plugin's (Qt; tested in test_napari)
    m.name.removeprefix("axialsr.")
    for m in pkgutil.walk_packages([str(PACKAGE)], "axialsr.")
    if not m.name.startswith("axialsr.frontends.napari")
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


def test_no_function_takes_more_than_five_positional_parameters():
    """Keyword-only after the data: beyond five, a call by position is a call that can silently swap two
    settings (the command line's commands excepted: typer reads their signatures, nobody calls them)."""
    crowded = []
    for path in PACKAGE.rglob("*.py"):
        if "frontends/cli" in path.as_posix():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in node.args.posonlyargs + node.args.args]
                names = names[1:] if names[:1] in (["self"], ["cls"]) else names
                if len(names) > 5:
                    crowded.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name} ({len(names)})")
    assert not crowded, crowded
