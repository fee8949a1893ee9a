import numpy as np
import pytest
import torch

from axialsr.acquisition import Acquisition, simulate
from axialsr.field import Field, FieldConfig, render_volume
from axialsr.intensity import Normalization
from axialsr.metrics import psnr
from axialsr.prior import PriorConfig, train_prior
from axialsr.reconstruct import ReconstructionConfig, reconstruct
from axialsr.sds import denoising_error, sds_gradient

FAST_FIELD = FieldConfig(levels=4, features=2, mlp_width=32)


@pytest.fixture(scope="module")
def measured(em_small):
    acq = Acquisition(4)
    lr = simulate(em_small, acq)
    return Normalization.fit(lr).forward(lr), acq


@pytest.fixture(scope="module")
def tiny_prior(em_small):
    return train_prior(em_small, PriorConfig(preset="tiny", steps=150, device="cpu"), progress=False)


@pytest.mark.parametrize("encoding", ["dense", "hash"])
def test_fidelity_only_reproduces_measured_slices(measured, encoding):
    lr, acq = measured
    cfg = ReconstructionConfig(
        iters=150,
        base="none",
        lambda_sds=0,
        fidelity_crop=48,
        device="cpu",
        field=FieldConfig(encoding=encoding, levels=4, features=4, z_finest_ratio=1.0),
    )
    result = reconstruct(lr, acq, None, cfg, progress=False)
    assert result.volume.shape == (acq.output_depth(lr.shape[0]),) + lr.shape[1:]
    through_a = simulate(result.volume, acq)
    assert psnr(through_a, lr, float(lr.max() - lr.min())) > 35.0


def test_fourier_encoding_renders(measured):
    lr, acq = measured
    cfg = ReconstructionConfig(iters=3, lambda_sds=0, device="cpu", field=FieldConfig(encoding="fourier"))
    assert np.isfinite(reconstruct(lr, acq, None, cfg, progress=False).volume).all()


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
        device="cpu",
        field=FAST_FIELD,
        checkpoint_every=100,
    )
    a = reconstruct(lr, acq, tiny_prior, cfg, progress=False)
    b = reconstruct(lr, acq, tiny_prior, cfg, progress=False)
    np.testing.assert_array_equal(a.volume, b.volume)
    assert any("sds" in h for h in a.history)
    reconstruct(lr, acq, tiny_prior, cfg, checkpoint_dir=tmp_path, stop_after=7, progress=False)
    resumed = reconstruct(lr, acq, tiny_prior, cfg, checkpoint_dir=tmp_path, resume=True, progress=False)
    np.testing.assert_array_equal(a.volume, resumed.volume)
    assert [h["fidelity"] for h in resumed.history] == [h["fidelity"] for h in a.history]


def test_render_volume_chunks_agree():
    field = Field((6, 5, 4), FAST_FIELD)
    whole = render_volume(field, (6, 5, 4), chunk_voxels=10_000)
    chunked = render_volume(field, (6, 5, 4), chunk_voxels=20)
    np.testing.assert_allclose(whole, chunked, rtol=1e-6, atol=1e-6)
