import numpy as np
import pytest

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.learning.prior_training import train_prior
from axialsr.learning.sampling import refine_volume, sampling_timesteps
from axialsr.methods.lateral_diffusion import RefineConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import simulate
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)


@pytest.fixture(scope="module")
def setup(em_small):
    acq = Acquisition(4)
    lr = Normalization.fit(em_small).forward(simulate(em_small[:, :20, :24], acq))
    conditional = train_prior(
        em_small, PriorConfig(kind="conditional", preset="tiny", steps=20), acquisition=acq, runtime=QUIET
    )
    estimate = np.repeat(lr, 4, axis=0) + 0.3 * np.sin(np.arange(32))[:, None, None].astype(np.float32)
    return lr, acq, conditional, estimate


def test_realism_zero_is_the_estimate_projected(setup):
    lr, acq, prior, estimate = setup
    out = refine_volume(estimate, lr, acq, prior, realism=0.0)
    np.testing.assert_allclose(simulate(out, acq), lr, atol=1e-4)
    consistent = refine_volume(out, lr, acq, prior, realism=0.0)
    np.testing.assert_allclose(consistent, out, atol=1e-5)  # a consistent estimate comes back unchanged


@pytest.mark.parametrize("projection", ["h2", "l2"])
def test_sample_reproduces_the_measurements_and_moves_with_realism(setup, projection):
    lr, acq, prior, estimate = setup
    base = refine_volume(estimate, lr, acq, prior, realism=0.0, projection=projection)
    low = refine_volume(estimate, lr, acq, prior, realism=0.2, steps=10, projection=projection)
    high = refine_volume(estimate, lr, acq, prior, realism=1.0, steps=10, projection=projection)
    for out in (low, high):
        assert out.shape == estimate.shape
        np.testing.assert_allclose(simulate(out, acq), lr, atol=1e-4)
    # higher realism: further from the starting estimate
    assert 1e-3 < np.abs(low - base).mean() < np.abs(high - base).mean()


def test_seeded_batched_and_averaged(setup):
    lr, acq, prior, estimate = setup
    a = refine_volume(estimate, lr, acq, prior, realism=0.5, steps=6, seed=3, batch=4)
    b = refine_volume(estimate, lr, acq, prior, realism=0.5, steps=6, seed=3, batch=32)
    np.testing.assert_allclose(a, b, atol=1e-4)  # the plane batch does not change the result
    other = refine_volume(estimate, lr, acq, prior, realism=0.5, steps=6, seed=4)
    assert np.abs(other - a).max() > 1e-3
    mean2 = refine_volume(estimate, lr, acq, prior, realism=0.5, steps=6, seed=3, samples=2)
    np.testing.assert_allclose(simulate(mean2, acq), lr, atol=1e-4)
    # the mean of two samples (the first is `a`) lies nearer the starting estimate's side than one sample
    base = refine_volume(estimate, lr, acq, prior, realism=0.0)
    assert np.abs(mean2 - a).max() > 1e-3
    assert np.abs(mean2 - base).mean() < np.abs(a - base).mean()


def test_both_plane_families_are_denoised(setup, monkeypatch):
    lr, acq, prior, estimate = setup
    import axialsr.learning.sampling as sampling

    families = []
    real = sampling.predict_noise_planes

    def spy(prior, x_t, t, **kwargs):
        families.append(kwargs["family"])
        return real(prior, x_t, t, **kwargs)

    monkeypatch.setattr(sampling, "predict_noise_planes", spy)
    steps = len(sampling_timesteps(prior, 10, 0.5))
    refine_volume(estimate, lr, acq, prior, realism=0.5, steps=10)
    assert families == [("xz", "yz")[i % 2] for i in range(steps)] and steps >= 2


def test_method_runs_through_the_api_and_checks_realism(em_small):
    acq = Acquisition(4)
    measured = api.Volume(simulate(em_small[:, :24, :24], acq))
    lateral = train_prior(em_small, PriorConfig(kind="lateral", preset="tiny", steps=5), acquisition=acq, runtime=QUIET)
    conditional = train_prior(
        em_small, PriorConfig(kind="conditional", preset="tiny", steps=5), acquisition=acq, runtime=QUIET
    )
    config = RestoreConfig(methods={"refine": RefineConfig(realism=0.3, steps=5)})
    out, info = api.restore(
        measured, "lateral-diffusion", acquisition=acq, priors=[lateral, conditional], config=config, runtime=QUIET
    )
    mean, _ = api.restore(measured, "lateral", acquisition=acq, priors=[lateral], runtime=QUIET)
    assert out.data.shape == (32, 24, 24)
    assert info.measurement_rms < 1e-3
    assert np.abs(out.data - mean.data).mean() > 1e-4
    with pytest.raises(AxialSRError, match="needs a diffusion or conditional prior"):
        api.restore(measured, "lateral-diffusion", acquisition=acq, priors=[lateral], config=config, runtime=QUIET)
    with pytest.raises(AxialSRError, match="realism"):
        RefineConfig(realism=1.5)


def test_precision_reaches_the_diffusion_prior_in_training_and_sampling(setup, em_small):
    """bf16 autocast of the diffusion network changes the numbers (it ran in bf16) far less than the
    refinement moves the estimate, and the sample still reproduces the measurements exactly (the DDIM update
    and the projection stay in float32); training a diffusion prior in bf16 learns as in fp32."""
    from dataclasses import replace

    lr, acq, prior, estimate = setup
    base = refine_volume(estimate, lr, acq, prior, realism=0.0)
    out32 = refine_volume(estimate, lr, acq, prior, realism=0.5, steps=6, precision="fp32")
    out16 = refine_volume(estimate, lr, acq, prior, realism=0.5, steps=6, precision="bf16")
    assert out16.dtype == np.float32
    np.testing.assert_allclose(simulate(out16, acq), lr, atol=1e-4)
    rounding, moved = np.abs(out16 - out32).mean(), np.abs(out32 - base).mean()
    assert 0 < rounding < 0.2 * moved, (rounding, moved)
    cfg = PriorConfig(kind="diffusion", preset="tiny", steps=40)
    trained = {p: train_prior(em_small, cfg, runtime=replace(QUIET, precision=p)) for p in ("fp32", "bf16")}
    assert trained["fp32"].losses != trained["bf16"].losses
    final = {p: np.mean(prior.losses[-10:]) for p, prior in trained.items()}
    assert abs(final["bf16"] - final["fp32"]) < 0.25 * final["fp32"], final
    assert final["bf16"] < 0.8 * np.mean(trained["bf16"].losses[:5])  # it learns
