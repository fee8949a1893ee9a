"""The CUDA path gives the CPU's results (same seed, within floating-point tolerance). Marked `gpu`: these
skip without a CUDA device (CI has none); benchmarks/gpu.sh runs them on the GPU machine."""

import numpy as np
import pytest
import torch

from axialsr import api
from axialsr.learning.prior_training import train_prior
from axialsr.methods.inr import FieldConfig, ReconstructionConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.measurement import simulate
from axialsr.pipeline.restore import restore_array as restore
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)
ON = {device: Runtime(device=device, progress=False) for device in ("cpu", "cuda")}

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
]
ACQ = Acquisition(4)


@pytest.fixture(scope="module")
def measured(em_small):
    return simulate(em_small, ACQ)


@pytest.mark.parametrize("kind", ["diffusion", "lateral", "conditional"])
def test_prior_training_matches_the_cpu(measured, kind):
    losses = {}
    for device in ("cpu", "cuda"):
        cfg = PriorConfig(kind=kind, preset="tiny", steps=10)
        losses[device] = train_prior(measured, cfg, acquisition=ACQ, runtime=ON[device]).losses
    np.testing.assert_allclose(losses["cuda"], losses["cpu"], rtol=2e-2, atol=2e-3)


def test_lateral_restoration_matches_the_cpu(measured):
    prior = train_prior(measured, PriorConfig(kind="lateral", preset="tiny", steps=20), acquisition=ACQ, runtime=QUIET)
    on_cpu = restore(measured, "lateral", ACQ, priors=prior, runtime=ON["cpu"]).volume
    on_gpu = restore(measured, "lateral", ACQ, priors=prior, runtime=ON["cuda"]).volume
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-3 * float(np.ptp(on_cpu)))


def test_reconstruction_with_sds_matches_the_cpu(measured):
    prior = train_prior(measured, PriorConfig(preset="tiny", steps=20), runtime=QUIET)
    out = {}
    for device in ("cpu", "cuda"):
        recon = ReconstructionConfig(iters=30, sds_batch=4, fidelity_crop=24, field=FieldConfig(levels=4, features=2))
        out[device] = restore(
            measured, "inr-sds", ACQ, priors=prior, config=RestoreConfig(methods={"recon": recon}), runtime=ON[device]
        ).volume
    # the same seeds draw the same batches; float sums differ in order, so allow a little drift over 30 steps
    assert np.abs(out["cuda"] - out["cpu"]).mean() < 0.01 * float(np.ptp(out["cpu"]))


def test_blockwise_on_cuda_matches_the_cpu(tmp_path, measured):
    from axialsr.io import open_source, read_volume, write_volume
    from axialsr.pipeline.blocks import BlockConfig

    write_volume(tmp_path / "lr.tif", measured, (32.0, 8.0, 8.0))
    prior = train_prior(measured, PriorConfig(kind="lateral", preset="tiny", steps=20), acquisition=ACQ, runtime=QUIET)
    for device in ("cpu", "cuda"):
        api.restore(
            open_source(tmp_path / "lr.tif"),
            "lateral",
            out=str(tmp_path / f"{device}.zarr"),
            acquisition=ACQ,
            priors=prior,
            config=RestoreConfig(),
            blocks=BlockConfig(blocks=(4, 48, 48), overlap=8, workers=0),
            runtime=ON[device],
        )
    a, b = read_volume(tmp_path / "cpu.zarr").data, read_volume(tmp_path / "cuda.zarr").data
    np.testing.assert_allclose(b, a, atol=1e-3 * float(np.ptp(a)))
