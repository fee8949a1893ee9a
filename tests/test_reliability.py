"""Reliability: every usage slip and bad input ends in one line and exit code 2, Ctrl-C saves a checkpoint
and says how to continue, dtypes are checked before any work and clipping is reported."""

import contextlib
import signal
import subprocess
import sys
import threading
import time
import warnings

import numpy as np
import pytest

from axialsr.intensity import cast_like
from axialsr.interrupts import RunInterruptedError
from axialsr.io import write_volume
from axialsr.training import CHECKPOINT_FILE, PriorConfig, train_prior


@pytest.fixture
def lr_file(tmp_path):
    path = tmp_path / "lr.tif"
    write_volume(path, (np.random.default_rng(0).random((6, 16, 16)) * 255).astype(np.uint8), (40.0, 10.0, 10.0))
    return path


def _one_line(code, err, pattern):
    assert code == 2, err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("axialsr: error:") and pattern in lines[0], err
    assert "Traceback" not in err


def test_usage_slips_give_one_line_and_exit_2(cli, tmp_path, lr_file):
    out = tmp_path / "o.tif"
    cases = [
        (("reconstrct",), "No such command 'reconstrct'"),
        (("baseline", lr_file), "Missing option '--out'"),
        (("baseline", lr_file, "--out", out, "--bogus"), "No such option: --bogus"),
        (("baseline", lr_file, "--out", out, "--iters", "abc"), "'--iters'"),
        (("baseline", lr_file, "--out", out, "--factor", "abc"), "'--factor'"),
        (("baseline", lr_file, "--out", out, "--force", "yes"), "unexpected extra argument"),
        (("baseline", lr_file, "--out", out, "--dtype", "foo"), "unknown dtype 'foo'"),
        (("baseline", lr_file, "--out", out, "--dtype", "complex64"), "cannot write dtype"),
    ]
    for args, pattern in cases:
        code, _, err = cli(*args)
        _one_line(code, err, pattern)
    assert not out.exists()


def test_bare_command_prints_help_and_exits_2(cli):
    code, out, err = cli()
    assert code == 2 and "Usage: axialsr" in out and "Traceback" not in err


def test_help_shows_flags_as_flags(cli):
    code, out, _ = cli("baseline", "--help")
    assert code == 0 and "--force" in out and "<bool>" not in out


def test_clipping_cast_warns_with_the_fraction():
    values = np.linspace(-100, 400, 1000)
    with pytest.warns(UserWarning, match=r"clips 48\.8% of the voxels"):
        out = cast_like(values, "uint8")
    assert out.min() == 0 and out.max() == 255
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cast_like(np.linspace(-0.4, 255.4, 1000), "uint8")  # rounding noise at the ends is not clipping


def test_ctrl_c_stops_training_at_a_step_with_a_checkpoint(tmp_path, em_small, monkeypatch):
    from axialsr import training

    guard = training.deferred_interrupt

    @contextlib.contextmanager
    def ctrl_c_soon():  # press Ctrl-C half a second into the training loop
        with guard() as flag:
            threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,)).start()
            yield flag

    monkeypatch.setattr(training, "deferred_interrupt", ctrl_c_soon)
    config = PriorConfig(preset="tiny", steps=100_000, device="cpu", checkpoint_every=100_000)
    with pytest.raises(RunInterruptedError, match="rerun with --resume to continue") as info:
        train_prior(em_small, config, out_dir=tmp_path / "p", progress=False)
    monkeypatch.setattr(training, "deferred_interrupt", guard)
    done = int(str(info.value).split("interrupted at step ")[1].split()[0])
    assert done > 0 and (tmp_path / "p" / CHECKPOINT_FILE).is_file()
    resumed = train_prior(em_small, config, out_dir=tmp_path / "p", resume=True, stop_after=done + 2, progress=False)
    assert len(resumed.losses) == done + 2  # continued from the interruption, not from 0


def test_resume_without_a_checkpoint_says_so(tmp_path, em_small):
    with pytest.warns(UserWarning, match="no training checkpoint"):
        train_prior(
            em_small, PriorConfig(preset="tiny", steps=1, device="cpu"), tmp_path / "p", resume=True, progress=False
        )


def test_ctrl_c_on_the_command_line_exits_130_with_one_line(tmp_path, lr_file):
    args = [
        sys.executable,
        "-m",
        "axialsr.cli",
        "train-prior",
        str(lr_file),
        "--out",
        str(tmp_path / "p"),
        "--preset",
        "tiny",
        "--steps",
        "1000000",
        "--device",
        "cpu",
        "--checkpoint-every",
        "5",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "p").exists() and time.monotonic() < deadline:  # training has started
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    lines = [line for line in err.splitlines() if line.startswith("axialsr")]
    assert proc.returncode == 130, err
    assert len(lines) == 1 and "interrupted at step" in lines[0] and "--resume" in lines[0], err
    assert (tmp_path / "p" / CHECKPOINT_FILE).is_file()
