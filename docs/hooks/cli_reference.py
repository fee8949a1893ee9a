"""MkDocs hook: pages generated from the code when the site is built, so that they cannot drift from it.

- `<!-- cli-reference -->`: every command's `--help`, exactly as the command line prints it (rendered by
  click from the typer application, at a fixed width).
- `<!-- methods-table -->`: the registered methods, their one-line summaries and capabilities.
- `<!-- package-layout -->`: the package's rooms (layers, bottom up) and modules, each with the first
  sentence of its docstring.
- `<!-- results:NAME -->`: `benchmarks/results/NAME` (a Markdown file) inlined, so result pages show the
  committed benchmark results and nothing else.
- `<!-- table:NAME.json:col,col,... -->`: those columns of the `rows` of `benchmarks/results/NAME.json`.
- `<!-- include:PATH -->`: a file of the repository (the changelog).

The committed figures of `benchmarks/results/` are served as `figures/NAME.png`.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HELP_WIDTH = 80  # the widest code block the docs theme shows without scrolling


def command_help(path: tuple[str, ...] = ()) -> str:
    """`axialsr [path] --help` as the command line prints it."""
    import typer

    from axialsr.frontends.cli import app

    command = typer.main.get_command(app)
    width = {"terminal_width": HELP_WIDTH, "max_content_width": HELP_WIDTH}
    context = command.context_class(command, info_name="axialsr", **width)
    for name in path:
        command = command.get_command(context, name)  # type: ignore[attr-defined]
        context = command.context_class(command, info_name=name, parent=context, **width)
    return command.get_help(context)


def cli_reference() -> str:
    import typer

    from axialsr.frontends.cli import app

    group = typer.main.get_command(app)
    context = group.context_class(group, info_name="axialsr")
    parts = ["## axialsr", "", "```text", command_help(), "```", ""]
    for name in group.list_commands(context):  # type: ignore[attr-defined]
        command = group.get_command(context, name)  # type: ignore[attr-defined]
        if command is None or command.hidden:
            continue
        parts += [f"## axialsr {name}", "", "```text", command_help((name,)), "```", ""]
    return "\n".join(parts)


def methods_table() -> str:
    from axialsr.methods import methods
    from axialsr.methods.registry import describe

    rows = [
        "| method | what it does | priors it needs | takes | uncertainty | ends consistent |",
        "|---|---|---|---|---|---|",
    ]
    for name, spec in methods().items():
        needs = ", ".join(describe(t) for t in spec.needs) or "-"
        takes = ", ".join(describe(t) for t in spec.optional) or "-"
        rows.append(
            f"| `{name}` | {spec.summary} | {needs} | {takes} | {'yes' if spec.uncertainty else '-'} | "
            f"{'yes' if spec.consistent else '-'} |"
        )
    return "\n".join(rows)


def package_layout() -> str:
    """The rooms of `src/axialsr` in the order of the layers (`tests/test_package.py` checks that imports run
    down them), each with its purpose and its modules, as a Markdown list."""
    import ast
    import sys

    sys.path.insert(0, str(ROOT / "tests"))
    from test_package import LAYERS

    package = ROOT / "src" / "axialsr"

    def first_sentence(path: Path) -> str:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        text = " ".join(doc.split("\n\n")[0].split())
        return text.split(". ")[0].rstrip(".") + "." if text else ""

    lines = []
    for depth, rooms in reversed(list(enumerate(LAYERS))):
        for room in rooms:
            if room == "__init__":
                continue
            folder = package / room
            if folder.is_dir():
                lines.append(f"- **`{room}/`** (layer {depth}) - {first_sentence(folder / '__init__.py')}")
                for module in sorted(folder.glob("*.py")) + sorted(folder.glob("*/__init__.py")):
                    if module.name == "__init__.py" and module.parent == folder:
                        continue
                    name = module.parent.name + "/" if module.name == "__init__.py" else module.stem
                    lines.append(f"    - `{name}` - {first_sentence(module)}")
            else:
                lines.append(f"- **`{room}`** (layer {depth}) - {first_sentence(package / (room + '.py'))}")
    return "\n".join(lines)


def inline_result(name: str, up: str) -> str:
    """A results file for a page `up` ('../' per folder) below the site's root: headings demoted by one
    level (they sit under the page's), its figures pointed at `figures/`."""
    text = (ROOT / "benchmarks" / "results" / name).read_text()
    text = re.sub(r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.MULTILINE)
    return re.sub(r"\]\(([\w.\-]+\.png)\)", lambda m: f"]({up}figures/{m.group(1)})", text)


def json_table(name: str, columns: str) -> str:
    import json

    from axialsr.frontends.tables import format_value

    rows = json.loads((ROOT / "benchmarks" / "results" / name).read_text())["rows"]
    keys = columns.split(",")
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(format_value(row.get(k, float("nan"))) for k in keys) + " |")
    return "\n".join(lines)


def on_files(files, config):
    from mkdocs.structure.files import File

    for figure in sorted((ROOT / "benchmarks" / "results").glob("*.png")):
        files.append(File.generated(config, f"figures/{figure.name}", abs_src_path=str(figure)))
    return files


def on_page_markdown(markdown: str, page, config, files) -> str:
    if "<!-- cli-reference -->" in markdown:
        markdown = markdown.replace("<!-- cli-reference -->", cli_reference())
    if "<!-- package-layout -->" in markdown:
        markdown = markdown.replace("<!-- package-layout -->", package_layout())
    if "<!-- methods-table -->" in markdown:
        markdown = markdown.replace("<!-- methods-table -->", methods_table())
    markdown = re.sub(r"<!-- table:([\w.\-]+):([\w,]+) -->", lambda m: json_table(m.group(1), m.group(2)), markdown)
    markdown = re.sub(r"<!-- include:([\w.\-/]+) -->", lambda m: (ROOT / m.group(1)).read_text(), markdown)
    up = "../" * page.file.src_uri.count("/")
    return re.sub(r"<!-- results:([\w.\-]+) -->", lambda m: inline_result(m.group(1), up), markdown)
