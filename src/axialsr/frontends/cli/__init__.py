"""Command-line interface: a thin typer layer over `axialsr.api`.

Every command reads its inputs, builds its configs from the options (generated from the config
dataclasses by `axialsr.frontends.options`, and from the settings sections the methods register, so that
defaults and help live in one place and a plug-in's config gets options too), makes one API call and
writes its outputs. Every user error (bad input, bad option, unwritable output) ends in one line on stderr
and exit code 2. `build_app` makes the command line anew (after registering a method at run time).
"""

from axialsr.frontends.cli.app import build_app, default_app, main

app = default_app()

__all__ = ["app", "build_app", "main"]
