import zipfile

import numpy as np
import pytest
import torch

from axialsr.learning.prior_training import train_prior
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.measurement import simulate
from axialsr.settings import PriorConfig, Runtime

pytest.importorskip("bioimageio.spec")

from axialsr.pipeline.bioimageio import check_package  # noqa: E402


@pytest.fixture(scope="module")
def measured(em_small):
    return simulate(em_small * 200 + 20, Acquisition(4))  # input units


def test_exported_package_validates_and_reproduces_outside_axialsr(cli, tmp_path, measured):
    import tifffile

    acq = Acquisition(4)
    prior = train_prior(
        measured,
        PriorConfig(kind="lateral", preset="tiny", steps=3),
        out_dir=tmp_path / "lateral",
        acquisition=acq,
        runtime=Runtime(device="cpu", progress=False),
    )
    tifffile.imwrite(tmp_path / "lr.tif", measured.astype(np.float32))
    out = tmp_path / "model.zip"
    code, stdout, err = cli("export-model", tmp_path / "lateral", "--volume", tmp_path / "lr.tif", "--out", out)
    assert code == 0 and "validated" in stdout, err
    result = check_package(out)
    assert result["status"] == "valid-format"
    assert result["max_abs_diff"] < 1e-4
    with zipfile.ZipFile(out) as archive:
        names = set(archive.namelist())
        assert {"rdf.yaml", "weights_torchscript.pt", "weights.pt", "test_input.npy", "test_output.npy"} <= names
        archive.extractall(tmp_path / "unpacked")
    # the package's test output is the regressor's, in input units: run it by hand from the TorchScript
    plane = np.load(tmp_path / "unpacked" / "test_input.npy")[0, 0]
    low, high = prior.meta["normalization"]["low"], prior.meta["normalization"]["high"]
    module = torch.jit.load(str(tmp_path / "unpacked" / "weights_torchscript.pt"))
    with torch.no_grad():
        x = torch.from_numpy((2 * plane - (high + low)) / (high - low)).float()[None, None]
        restored = prior.regress(x)[0, 0].numpy() * (high - low) / 2 + (high + low) / 2
        scripted = module(x)[0, 0].numpy() * (high - low) / 2 + (high + low) / 2
    expected = np.load(tmp_path / "unpacked" / "test_output.npy")[0, 0]
    np.testing.assert_allclose(expected, restored, atol=1e-3 * (high - low))
    np.testing.assert_allclose(scripted, restored, atol=1e-3 * (high - low))
    assert np.abs(expected - plane).max() > 0  # the network does something
    # a second export needs --force; a diffusion prior cannot be exported
    code, _, err = cli("export-model", tmp_path / "lateral", "--volume", tmp_path / "lr.tif", "--out", out)
    assert code == 2 and "exists" in err
    diffusion = tmp_path / "diffusion"
    train_prior(
        measured, PriorConfig(preset="tiny", steps=1), out_dir=diffusion, runtime=Runtime(device="cpu", progress=False)
    )
    code, _, err = cli("export-model", diffusion, "--volume", tmp_path / "lr.tif", "--out", tmp_path / "d.zip")
    assert code == 2 and "only a lateral regressor" in err
