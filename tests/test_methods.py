"""A method is one module: a toy method registered from this file (a spec, a config of its own and a run
function) restores through the API, the command line, validation and blockwise runs without other edits,
and front ends load without torch."""

import subprocess
import sys
from dataclasses import dataclass, field

import numpy as np
import pytest
from scipy import ndimage

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.methods import MethodOutput, MethodSpec, get_method, method_names, register, unregister
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import measurement_operator
from axialsr.pipeline.blocks import BlockConfig
from axialsr.settings import RestoreConfig, Runtime, ValidationConfig

QUIET = Runtime(device="cpu", progress=False)


@dataclass
class BoxConfig:
    """The toy method's own settings."""

    width: int = field(default=3, metadata={"help": "Box width along z (output slices)."})


def _box(inputs):
    settings = inputs.settings("box")
    nearest = interpolate_z(inputs.measured, inputs.acquisition.factor, "nearest")
    return MethodOutput(ndimage.uniform_filter1d(nearest, settings.width, axis=0, mode="nearest"))


BOX = MethodSpec(
    "box", "nearest interpolation smoothed by a box along z", _box, config=BoxConfig, consistent=True, z_support=2
)


@pytest.fixture
def box():
    yield register(BOX)
    unregister("box")


@pytest.fixture(scope="module")
def measured():
    truth = api.synth("em", (64, 32, 32), seed=2)  # uint8
    return api.simulate_acquisition(truth, Acquisition(4))


def test_a_registered_method_restores_through_the_api_with_its_own_config(box, measured):
    assert "box" in method_names() and get_method("box") is box
    wide = RestoreConfig(methods={"box": BoxConfig(width=7)}, consistency=False)
    out, info = api.restore(measured, "box", runtime=QUIET, config=wide)
    expected = ndimage.uniform_filter1d(interpolate_z(measured.data.astype(np.float32), 4, "nearest"), 7, axis=0)
    assert out.data.dtype == np.uint8 and np.abs(out.data.astype(float) - expected).max() <= 1
    projected, info = api.restore(measured, "box", runtime=QUIET)  # consistent: ends with the projection
    unprojected = measurement_operator(Acquisition(4), len(out.data), len(measured.data))
    assert info.measurement_rms < 0.5 < unprojected.residual_rms(out.data, measured.data)


def test_a_registered_method_runs_on_the_command_line(box, cli, tmp_path, measured):
    api.write_volume(tmp_path / "lr.tif", measured.data, measured.voxel_size)
    code, out, err = cli("reconstruct", tmp_path / "lr.tif", "--out", tmp_path / "box.tif", "--method", "box")
    assert code == 0 and "(box, s=4" in out, err
    assert api.read_volume(tmp_path / "box.tif").data.shape == (64, 32, 32)
    code, out, err = cli("validate", tmp_path / "lr.tif", "--methods", "cubic,box", "--device", "cpu")
    assert code == 0 and "box" in out, err


def test_a_plugin_config_gets_options_on_every_restoring_command(box, tmp_path, measured, monkeypatch, capsys):
    """The command line built after the plug-in registered shows its config's fields as options, under
    the method's own heading, and passes them on (a wider box smooths more)."""
    from typer.testing import CliRunner

    from axialsr.frontends.cli import build_app, main

    app = build_app()
    runner = CliRunner()
    for command in ("run", "reconstruct", "baseline", "validate"):
        shown = runner.invoke(app, [command, "--help"], terminal_width=200).output
        assert "box method:" in shown and "--box-width" in shown, command
    api.write_volume(tmp_path / "lr.tif", measured.data, measured.voxel_size)
    outputs = {}
    for width in (3, 9):
        out = tmp_path / f"box{width}.tif"
        args = ["axialsr", "reconstruct", str(tmp_path / "lr.tif"), "--out", str(out), "--method", "box"]
        monkeypatch.setattr(sys, "argv", [*args, "--box-width", str(width), "--no-consistency"])
        main(app)
        outputs[width] = api.read_volume(out).data.astype(float)
    capsys.readouterr()
    expected = ndimage.uniform_filter1d(interpolate_z(measured.data.astype(np.float32), 4, "nearest"), 9, axis=0)
    assert np.abs(outputs[9] - expected).max() <= 1 and np.abs(outputs[3] - expected).max() > 5


def test_a_registered_method_validates_and_runs_blockwise(box, tmp_path, measured):
    result = api.validate(measured, priors=None, config=ValidationConfig(methods=("box", "cubic")), runtime=QUIET)
    assert [r["method"] for r in result.rows] == ["box", "cubic"] and np.isfinite(result.rows[0]["psnr"])
    api.write_volume(tmp_path / "lr.tif", measured.data, measured.voxel_size)
    summary = api.restore(
        api.open_source(tmp_path / "lr.tif"),
        "box",
        out=tmp_path / "box.zarr",
        blocks=BlockConfig(blocks=(8, 32, 32), workers=0),
        runtime=QUIET,
    )
    assert summary.blocks_total == 2 and summary.output is not None
    whole, _ = api.restore(measured, "box", runtime=QUIET)
    assert np.abs(api.read_volume(tmp_path / "box.zarr").data.astype(int) - whole.data.astype(int)).max() <= 1


def test_unknown_and_unregistered_methods_are_named(box):
    unregister("box")
    with pytest.raises(AxialSRError, match="unknown method 'box'"):
        get_method("box")


@pytest.mark.parametrize("module", ["axialsr.io", "axialsr.frontends.cli", "axialsr.frontends.napari._reader"])
def test_front_ends_and_file_reading_do_not_import_torch(module):
    code = f"import sys, {module}; print('torch' in sys.modules, 'diffusers' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"], done.stderr
