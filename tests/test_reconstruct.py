from dataclasses import replace

import numpy as np
import pytest
import torch

from axialsr.errors import AxialSRError
from axialsr.evaluation.metrics import psnr
from axialsr.learning.field import Field, render_volume
from axialsr.learning.inr_fit import reconstruct
from axialsr.learning.prior_training import train_prior
from axialsr.learning.sds import denoising_error, sds_gradient
from axialsr.methods.inr import FieldConfig, ReconstructionConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import simulate
from axialsr.settings import PriorConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)

FAST_FIELD = FieldConfig(levels=4, features=2, mlp_width=32)


@pytest.fixture(scope="module")
def measured(em_small):
    acq = Acquisition(4)
    lr = simulate(em_small, acq)
    return Normalization.fit(lr).forward(lr), acq


@pytest.fixture(scope="module")
def tiny_prior(em_small):
    return train_prior(em_small, PriorConfig(preset="tiny", steps=150), runtime=QUIET)


@pytest.mark.parametrize("encoding", ["dense", "hash"])
def test_fidelity_only_reproduces_measured_slices(measured, encoding):
    lr, acq = measured
    cfg = ReconstructionConfig(
        iters=150,
        base="none",
        lambda_sds=0,
        fidelity_crop=48,
        field=FieldConfig(encoding=encoding, levels=4, features=4, z_finest_ratio=1.0),
    )
    result = reconstruct(lr, acq, prior=None, config=cfg, runtime=QUIET)
    assert result.volume.shape == (acq.output_depth(lr.shape[0]),) + lr.shape[1:]
    through_a = simulate(result.volume, acq)
    assert psnr(through_a, lr, float(lr.max() - lr.min())) > 35.0


def test_fourier_encoding_fits_the_measurements(measured):
    lr, acq = measured
    cfg = ReconstructionConfig(
        iters=60, base="none", lambda_sds=0, field=FieldConfig(encoding="fourier", fourier_sigma=2.0)
    )
    result = reconstruct(lr, acq, prior=None, config=cfg, runtime=QUIET)
    first, last = result.history[0]["fidelity"], np.mean([h["fidelity"] for h in result.history[-10:]])
    assert last < 0.5 * first  # a constant field (the best a broken encoding can do) stays near the first
    through_a = simulate(result.volume, acq)
    assert psnr(through_a, lr, float(lr.max() - lr.min())) > 16.0  # the mean alone: 13 dB


def test_field_is_a_residual_over_a_given_base(measured):
    lr, acq = measured
    base = np.random.default_rng(0).normal(size=(32, 48, 48)).astype(np.float32)
    field = Field((32, 48, 48), FAST_FIELD, base)
    torch.nn.init.zeros_(field.mlp[-1].weight)
    torch.nn.init.zeros_(field.mlp[-1].bias)
    np.testing.assert_allclose(render_volume(field, (32, 48, 48)), base, atol=1e-4)
    with pytest.raises(AxialSRError, match="output grid"):
        cfg = ReconstructionConfig(iters=1)
        reconstruct(lr, acq, prior=None, config=cfg, runtime=QUIET, base=base[:8])


def test_sds_step_lowers_the_priors_denoising_error(tiny_prior):
    torch.manual_seed(0)
    p = tiny_prior.patch
    field = Field((p, p, p), FieldConfig(levels=3, features=2, mlp_width=16))
    pts = torch.stack(
        torch.meshgrid(torch.arange(p) + 0.5, torch.tensor([p / 2]), torch.arange(p) + 0.5, indexing="ij"), -1
    ).reshape(-1, 3)
    gen = torch.Generator().manual_seed(1)
    n = 64
    t = torch.randint(50, 400, (n,), generator=gen)
    noise = torch.randn(n, 1, p, p, generator=gen)

    def error() -> float:
        with torch.no_grad():
            x = field(pts).view(1, 1, p, p).expand(n, 1, p, p)
            return float(denoising_error(tiny_prior, x, t, noise))

    before = error()
    opt = torch.optim.SGD(field.parameters(), lr=0.05)  # a small step: SDS gives a direction, not a step size
    x = field(pts).view(1, 1, p, p).expand(n, 1, p, p)
    grad = sds_gradient(tiny_prior, x, t, noise)
    (x * grad).sum().div(n).backward()
    opt.step()
    after = error()
    assert after < before - 1e-4


def test_same_seed_same_output_and_resume_equals_uninterrupted(measured, tiny_prior, tmp_path):
    lr, acq = measured
    cfg = ReconstructionConfig(
        iters=12,
        lambda_sds=0.1,
        warmup=0.25,
        sds_batch=2,
        fidelity_crop=24,
        field=FAST_FIELD,
    )
    a = reconstruct(lr, acq, prior=tiny_prior, config=cfg, runtime=QUIET)
    b = reconstruct(lr, acq, prior=tiny_prior, config=cfg, runtime=QUIET)
    np.testing.assert_array_equal(a.volume, b.volume)
    assert any("sds" in h for h in a.history)
    reconstruct(lr, acq, prior=tiny_prior, config=cfg, checkpoint_dir=tmp_path, stop_after=7, runtime=QUIET)
    resumed = reconstruct(lr, acq, prior=tiny_prior, config=cfg, checkpoint_dir=tmp_path, resume=True, runtime=QUIET)
    np.testing.assert_array_equal(a.volume, resumed.volume)
    assert [h["fidelity"] for h in resumed.history] == [h["fidelity"] for h in a.history]
    # the device and the cadence are runtime settings: a checkpoint made under 'cpu' resumes under 'auto'
    reconstruct(lr, acq, prior=tiny_prior, config=cfg, checkpoint_dir=tmp_path / "b", stop_after=7, runtime=QUIET)
    auto = Runtime(device="auto", progress=False, checkpoint_every=3)
    resumed = reconstruct(
        lr, acq, prior=tiny_prior, config=cfg, checkpoint_dir=tmp_path / "b", resume=True, runtime=auto
    )
    np.testing.assert_array_equal(a.volume, resumed.volume)
    with pytest.raises(AxialSRError, match="other settings"):
        reconstruct(
            lr, acq, prior=tiny_prior, config=replace(cfg, lambda_sds=0.2), checkpoint_dir=tmp_path, resume=True
        )


def test_conditional_sds_step_lowers_the_conditional_denoising_error(measured):
    lr, acq = measured
    prior = train_prior(lr, PriorConfig(preset="tiny", kind="conditional", steps=150), acquisition=acq, runtime=QUIET)
    p = prior.patch
    gen = torch.Generator().manual_seed(1)
    n = 64
    t = torch.randint(50, 400, (n,), generator=gen)
    noise = torch.randn(n, 1, p, p, generator=gen)
    cond = torch.randn(1, 1, p, p, generator=gen).expand(n, 1, p, p)
    x = torch.zeros(1, 1, p, p, requires_grad=True)

    def error() -> float:
        with torch.no_grad():
            return float(denoising_error(prior, x.expand(n, 1, p, p), t, noise, cond))

    before = error()
    grad = sds_gradient(prior, x.expand(n, 1, p, p), t, noise, condition=cond)
    with torch.no_grad():
        x -= 0.05 * grad.mean(0, keepdim=True)
    assert error() < before - 1e-4


def test_bad_settings_are_errors_in_library_words():
    with pytest.raises(AxialSRError, match="^iters must be >= 1"):
        ReconstructionConfig(iters=0)
    with pytest.raises(AxialSRError, match="SDS planes"):
        ReconstructionConfig(sds_planes=("xy", "zz"))
    with pytest.raises(AxialSRError, match="encoding"):
        FieldConfig(encoding="wavelet")


def test_render_volume_chunks_agree():
    field = Field((6, 5, 4), FAST_FIELD)
    whole = render_volume(field, (6, 5, 4), chunk_voxels=10_000)
    chunked = render_volume(field, (6, 5, 4), chunk_voxels=20)
    np.testing.assert_allclose(whole, chunked, rtol=1e-6, atol=1e-6)
