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

from axialsr.interrupts import RunInterruptedError
from axialsr.io import write_volume
from axialsr.learning.prior_training import CHECKPOINT_FILE, train_prior
from axialsr.operators.intensity import cast_like
from axialsr.settings import PriorConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)


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
    from axialsr.learning import loop as trainer

    guard = trainer.deferred_interrupt

    @contextlib.contextmanager
    def ctrl_c_soon():  # press Ctrl-C half a second into the training loop
        with guard() as flag:
            threading.Timer(0.5, signal.raise_signal, (signal.SIGINT,)).start()
            yield flag

    monkeypatch.setattr(trainer, "deferred_interrupt", ctrl_c_soon)
    config = PriorConfig(preset="tiny", steps=100_000)
    rarely = Runtime(device="cpu", progress=False, checkpoint_every=100_000)
    with pytest.raises(RunInterruptedError, match="rerun with resume to continue") as info:
        train_prior(em_small, config, out_dir=tmp_path / "p", runtime=rarely)
    monkeypatch.setattr(trainer, "deferred_interrupt", guard)
    done = int(str(info.value).split("interrupted at step ")[1].split()[0])
    assert done > 0 and (tmp_path / "p" / CHECKPOINT_FILE).is_file()
    resumed = train_prior(em_small, config, out_dir=tmp_path / "p", resume=True, stop_after=done + 2, runtime=QUIET)
    assert len(resumed.losses) == done + 2  # continued from the interruption, not from 0


def test_resume_without_a_checkpoint_says_so(tmp_path, em_small):
    with pytest.warns(UserWarning, match="no checkpoint of training"):
        train_prior(em_small, PriorConfig(preset="tiny", steps=1), out_dir=tmp_path / "p", resume=True, runtime=QUIET)


def test_ctrl_c_on_the_command_line_exits_130_with_one_line(tmp_path, lr_file):
    args = [
        sys.executable,
        "-m",
        "axialsr.frontends.cli",
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


# ------------------------------------------------------------------------------------------------- inputs


def test_damaged_tiffs_are_named_as_damaged_without_log_noise(cli, tmp_path):
    path = tmp_path / "full.ome.tif"
    write_volume(path, (np.random.default_rng(0).random((10, 32, 32)) * 255).astype(np.uint8), (40.0, 4.0, 4.0))
    raw = path.read_bytes()
    for name, cut in (("half", len(raw) // 2), ("tail", len(raw) - 100), ("head", 100)):
        damaged = tmp_path / f"{name}.tif"
        damaged.write_bytes(raw[:cut])
        code, _, err = cli("baseline", damaged, "--out", tmp_path / f"{name}_out.tif")
        _one_line(code, err, "damaged")


def test_channels_pick_colours_and_do_not_apply_to_3d(cli, tmp_path):
    import tifffile

    from axialsr.io import read_volume

    rgb = (np.random.default_rng(0).random((6, 16, 16, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_volume(tmp_path / "rgb.tif", channel=2).data, rgb[..., 2])
    gray = tmp_path / "gray.tif"
    write_volume(gray, rgb[..., 0], (40.0, 10.0, 10.0))
    code, _, err = cli("baseline", gray, "--out", tmp_path / "o.tif", "--channel", "1")
    _one_line(code, err, "a channel does not apply (option --channel)")
    tifffile.imwrite(tmp_path / "t.ome.tif", np.zeros((5, 6, 16, 16), np.uint8), metadata={"axes": "TZYX"})
    code, _, err = cli("baseline", tmp_path / "t.ome.tif", "--out", tmp_path / "o.tif", "--factor", "2")
    _one_line(code, err, "5 time points")


def test_units_are_converted_and_written_with_standard_names(cli, tmp_path):
    import tifffile
    import zarr

    from axialsr.io import read_volume

    data = np.zeros((4, 8, 8), np.uint8)
    meta = {
        "axes": "ZYX",
        "PhysicalSizeZ": 0.04,
        "PhysicalSizeZUnit": "µm",
        "PhysicalSizeY": 4.0,
        "PhysicalSizeYUnit": "nm",
        "PhysicalSizeX": 4.0,
        "PhysicalSizeXUnit": "nm",
    }
    tifffile.imwrite(tmp_path / "mixed.ome.tif", data, ome=True, metadata=meta)
    volume = read_volume(tmp_path / "mixed.ome.tif")
    assert volume.voxel_size == pytest.approx((40.0, 4.0, 4.0)) and volume.unit == "nm"
    tifffile.imwrite(
        tmp_path / "ij.tif", data, imagej=True, resolution=(10, 10), metadata={"spacing": 0.4, "unit": "micron"}
    )
    assert read_volume(tmp_path / "ij.tif").unit == "µm"
    code, out, err = cli(
        "baseline", tmp_path / "ij.tif", "--out", tmp_path / "o.ome.zarr", "--voxel-size", "0.4,0.1,0.1um"
    )
    assert code == 0 and "s=4" in out and "0.1x0.1x0.1 µm" in out, err
    axes = zarr.open_group(tmp_path / "o.ome.zarr", mode="r").attrs["ome"]["multiscales"][0]["axes"]
    assert {a["unit"] for a in axes} == {"micrometer"}


def test_mistaken_factors_and_uncalibrated_sizes_warn(cli, tmp_path):
    path = tmp_path / "lr.tif"
    write_volume(path, np.zeros((6, 16, 16), np.uint8), (40.0, 10.0, 10.0))
    code, out, err = cli("baseline", path, "--out", tmp_path / "a.tif", "--factor", "2")
    assert code == 0 and "warning: factor 2 differs from the voxel size's dz/dx = 4" in err
    write_volume(tmp_path / "one.tif", np.zeros((6, 16, 16), np.uint8), (1.0, 1.0, 1.0))
    code, _, err = cli("baseline", tmp_path / "one.tif", "--out", tmp_path / "b.tif")
    assert code == 0 and "uncalibrated" in err
    code, _, err = cli("baseline", path, "--out", tmp_path / "c.tif", "--voxel-size", "0.4,0.1,0.1")
    assert code == 0 and "look like micrometres" in err


def test_zarr_keys_are_checked_and_written_as_ome_zarr(cli, tmp_path):
    import zarr
    from ome_zarr_models import open_ome_zarr

    from axialsr.io import read_volume

    plain = zarr.open_array(tmp_path / "plain.zarr", mode="w", shape=(4, 8, 8), dtype="uint8")
    plain[...] = 1
    code, _, err = cli("baseline", f"{tmp_path / 'plain.zarr'}:nope", "--out", tmp_path / "o.tif", "--factor", "2")
    _one_line(code, err, "no array 'nope'")
    write_volume(f"{tmp_path / 'k.zarr'}:volumes/raw", np.zeros((4, 8, 8), np.uint8), (40.0, 4.0, 4.0))
    open_ome_zarr(zarr.open_group(tmp_path / "k.zarr", mode="r"))  # validates, or raises
    assert read_volume(tmp_path / "k.zarr").voxel_size == (40.0, 4.0, 4.0)


def test_outputs_carry_metadata_other_readers_see(tmp_path):
    import ome_types
    import tifffile
    import zarr
    from ome_zarr_models import open_ome_zarr

    data = np.zeros((4, 8, 8), np.uint16)
    write_volume(tmp_path / "o.ome.tif", data, (0.04, 0.004, 0.004), "µm")
    with tifffile.TiffFile(tmp_path / "o.ome.tif") as tif:
        pixels = ome_types.from_xml(tif.ome_metadata).images[0].pixels  # schema-valid OME-XML
        assert pixels.physical_size_z == pytest.approx(0.04) and pixels.physical_size_x_unit.value == "µm"
        xres = tif.pages[0].tags["XResolution"].value
        assert tif.pages[0].tags["ResolutionUnit"].value == 3 and xres[0] / xres[1] == pytest.approx(2.5e6)
    write_volume(tmp_path / "ij.tif", data, (40.0, 4.0, 4.0), "nm")
    with tifffile.TiffFile(tmp_path / "ij.tif") as tif:  # what Fiji reads
        assert tif.imagej_metadata["spacing"] == 40.0 and tif.imagej_metadata["unit"] == "nm"
        xres = tif.pages[0].tags["XResolution"].value
        assert xres[1] / xres[0] == pytest.approx(4.0)
    write_volume(tmp_path / "o.ome.zarr", data, (40.0, 4.0, 4.0), "nm")
    group = zarr.open_group(tmp_path / "o.ome.zarr", mode="r")
    open_ome_zarr(group)
    assert tuple(group["0"].metadata.dimension_names) == ("z", "y", "x")


# ------------------------------------------------------------------------------------------ small things


def test_demo_refuses_to_overwrite_an_earlier_demo(cli, tmp_path):
    (tmp_path / "lr.tif").write_bytes(b"an earlier demo's input")
    code, _, err = cli("demo", "--out-dir", tmp_path, "--quick")
    _one_line(code, err, "already holds a demo")
    assert (tmp_path / "lr.tif").read_bytes() == b"an earlier demo's input"


def test_written_files_are_readable_by_others(tmp_path, em_small):
    import os
    import stat

    train_prior(em_small, PriorConfig(preset="tiny", steps=1), out_dir=tmp_path / "p", runtime=QUIET)
    for name in ("prior.safetensors", "prior.json"):
        mode = os.stat(tmp_path / "p" / name).st_mode
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH, (name, oct(mode))


def test_commands_say_the_device_and_what_a_method_runs_without(cli, tmp_path, lr_file):
    code, out, err = cli(
        "train-prior",
        lr_file,
        "--out",
        tmp_path / "lat",
        "--kind",
        "lateral",
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--device",
        "cpu",
    )
    assert code == 0 and "device: cpu" in out, err
    code, out, err = cli(
        "reconstruct",
        lr_file,
        "--out",
        tmp_path / "o.tif",
        "--method",
        "inr-lateral",
        "--prior",
        tmp_path / "lat",
        "--iters",
        "2",
        "--device",
        "cpu",
    )
    assert code == 0 and "device: cpu" in out and "without a diffusion or conditional prior (no SDS)" in out, err
