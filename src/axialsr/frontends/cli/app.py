"""The `axialsr` command line: the app, its help (options grouped under headings, most-used first), and
the entry point that turns every user error into one line on stderr and exit code 2."""

from __future__ import annotations

import sys
from typing import Annotated

import click
import typer
from typer.core import TyperCommand

import axialsr.frontends.cli.tools as tools
from axialsr.errors import AxialSRError
from axialsr.frontends.cli.restore import restore_command, run_command
from axialsr.frontends.cli.shared import panel_order
from axialsr.frontends.cli.validate import validate_command

HELP = "Reference-free axial super-resolution of anisotropic 3D microscopy volumes."


class GroupedCommand(TyperCommand):
    """A command whose `--help` lists its options under their headings (each option's `rich_help_panel`),
    in `panel_order`, in plain text (typer's rich help would show flags as '--force <bool>')."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        groups: dict[str, list[tuple[str, str]]] = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                groups.setdefault(getattr(param, "rich_help_panel", None) or "Other options", []).append(record)
        order = panel_order()
        for title in sorted(groups, key=lambda t: order.index(t) if t in order else len(order)):
            with formatter.section(title):
                formatter.write_dl(groups[title])


def _print_version(value: bool) -> None:
    if value:
        from axialsr import __version__

        typer.echo(f"axialsr {__version__}")
        raise typer.Exit()


def _app_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Reference-free axial super-resolution of anisotropic 3D microscopy volumes."""


def build_app() -> typer.Typer:
    """The command line, with the options of every settings section registered now (plug-ins' included):
    `run` and `validate` first, then the separate steps and the tools."""
    app = typer.Typer(
        name="axialsr",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,  # plain help; GroupedCommand adds the headings
    )
    app.callback()(_app_options)
    command = {"cls": GroupedCommand}
    app.command("run", **command)(run_command())
    app.command("validate", **command)(validate_command())
    reconstruct = "Restore an isotropic volume with any method and its priors (default: the method the priors serve)."
    app.command("reconstruct", **command)(restore_command(None, reconstruct))
    baseline = "Restore with a baseline method (interpolation, inr, slicewise) for comparison."
    app.command("baseline", **command)(restore_command("cubic", baseline))
    app.command("train-prior", **command)(tools.train_prior)
    app.command("demo", **command)(tools.demo)
    for name in ("synth", "simulate", "evaluate", "figure", "export-model", "sample-prior"):
        app.command(name, **command)(getattr(tools, name.replace("-", "_")))
    return app


_BUILT: list[typer.Typer] = []


def default_app() -> typer.Typer:
    """The command line built once, at first use (`build_app` for one that sees methods registered since)."""
    if not _BUILT:
        _BUILT.append(build_app())
    return _BUILT[0]


def _with_option(exc: BaseException) -> str:
    """An error's message with the option that sets what it names (the library speaks of its parameters:
    'set force to overwrite it' -> '... (option --force)')."""
    setting = getattr(exc, "setting", None)
    return f"{exc} (option --{setting.replace('_', '-')})" if setting else str(exc)


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"axialsr: warning: {message}", file=sys.stderr)


def _usage_exit_code(exc: BaseException) -> int | None:
    """Exit code for a command-line usage exception (click's, or the copy of click that typer vendors),
    after printing it as one line; None for any other exception."""
    module = type(exc).__module__
    if not (module.startswith("click") or module.startswith("typer")):
        return None
    name = type(exc).__name__
    ctx = getattr(exc, "ctx", None)
    if name == "NoArgsIsHelpError" and ctx is not None:
        typer.echo(ctx.get_help())
        return 2
    if name == "Exit":
        return int(getattr(exc, "exit_code", 0))
    if name == "Abort":
        typer.echo("axialsr: interrupted", err=True)
        return 130
    if hasattr(exc, "format_message"):
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(str(exc.format_message()).split())
        typer.echo(f"axialsr: error: {message}{where}", err=True)
        return 2
    return None


def main(app: typer.Typer | None = None) -> None:
    """Console-script entry point: run the app (default: the one built at import), turning errors into one
    line on stderr and exit code 2 (usage slips and AxialSRError), and an interruption into one line and
    exit code 130."""
    import warnings

    from axialsr.api import RunInterruptedError

    warnings.showwarning = _one_line_warnings
    try:
        code = (app or default_app())(prog_name="axialsr", standalone_mode=False)
    except AxialSRError as exc:
        typer.echo(f"axialsr: error: {_with_option(exc)}", err=True)
        sys.exit(2)
    except RunInterruptedError as exc:  # Ctrl-C at a step boundary, checkpoint saved
        typer.echo(f"axialsr: {_with_option(exc)}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("axialsr: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        code = _usage_exit_code(exc)
        if code is None:
            raise
        sys.exit(code)
    if isinstance(code, int) and code:  # typer turns a Ctrl-C outside a step loop into a returned 130
        if code == 130:
            typer.echo("axialsr: interrupted", err=True)
        sys.exit(code)
