"""Shared fixtures and helpers: a small EM-like ground truth, the CLI runner, headless Chromium."""

import os
import shutil
import sys

# napari's canvas needs OpenGL: pytest-xvfb starts a virtual X screen where Xvfb is installed (.ci/run
# installs it); without one, Qt runs offscreen and the tests that need a canvas skip.
if not os.environ.get("DISPLAY") and shutil.which("Xvfb") is None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
import torch

torch.set_num_threads(2)

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/run installs it)")


@pytest.fixture(scope="session")
def em_small() -> np.ndarray:
    """A small isotropic EM-like ground truth (float32 in [0, 1])."""
    from axialsr.evaluation.synthetic import em_neuropil

    return em_neuropil((32, 48, 48), seed=1)


def run_cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """Run the `axialsr` console entry point with `args`; returns (exit code, stdout, stderr)."""
    from axialsr.frontends.cli import main

    monkeypatch.setattr(sys, "argv", ["axialsr", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def cli(monkeypatch, capsys):
    """`cli(*args)` runs the command line and returns (exit code, stdout, stderr)."""
    return lambda *args: run_cli(monkeypatch, capsys, *args)
