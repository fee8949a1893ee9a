import numpy as np
import pytest

from axialsr.errors import AxialSRError
from axialsr.evaluation.metrics import coherence
from axialsr.learning.prior_training import train_prior
from axialsr.learning.slicewise_sampling import slicewise_diffusion
from axialsr.methods.slicewise import SlicewiseConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import simulate
from axialsr.settings import PriorConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)


@pytest.fixture(scope="module")
def setup(em_small):
    acq = Acquisition(4)
    lr = simulate(em_small[:, :20, :24], acq)
    prior = train_prior(em_small, PriorConfig(preset="tiny", steps=20), runtime=QUIET)
    return Normalization.fit(lr).forward(lr), acq, prior


def test_consistency_step_reproduces_measured_rows(setup):
    lr, acq, prior = setup
    out = slicewise_diffusion(lr, acq, prior=prior, config=SlicewiseConfig(steps=4, strength=1.0), progress=False)
    assert out.shape == (32, 20, 24)
    np.testing.assert_allclose(simulate(out, acq), lr, atol=1e-4)


def test_batching_equals_slice_at_a_time(setup):
    lr, acq, prior = setup
    batched = slicewise_diffusion(lr, acq, prior=prior, config=SlicewiseConfig(steps=3, batch=8), progress=False)
    single = slicewise_diffusion(lr, acq, prior=prior, config=SlicewiseConfig(steps=3, batch=1), progress=False)
    np.testing.assert_allclose(batched, single, atol=1e-4)
    other_seed = slicewise_diffusion(
        lr, acq, prior=prior, config=SlicewiseConfig(steps=3, batch=8), seed=1, progress=False
    )
    assert np.abs(other_seed - batched).max() > 1e-3


def test_xz_and_yz_restorations_disagree_and_coherence_measures_it(setup):
    lr, acq, prior = setup
    xz = slicewise_diffusion(lr, acq, prior=prior, config=SlicewiseConfig(steps=3, axis="xz"), progress=False)
    yz = slicewise_diffusion(lr, acq, prior=prior, config=SlicewiseConfig(steps=3, axis="yz"), progress=False)
    assert coherence(xz, xz)["mad"] == 0.0
    assert coherence(xz, yz)["mad"] > 1e-3


def test_bad_axis():
    with pytest.raises(AxialSRError, match="axis"):
        SlicewiseConfig(axis="xy")
