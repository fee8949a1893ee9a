import numpy as np
import pytest
import torch

from axialsr.errors import AxialSRError
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.measurement import measurement_operator, simulate


@pytest.mark.parametrize("model", ["average", "gaussian", "subsample"])
@pytest.mark.parametrize("factor", [1.0, 2.5, 4.0, 7.0])
def test_rows_sum_to_one_and_constant_is_preserved(model, factor):
    acq = Acquisition(factor, model)
    mat = measurement_operator(acq, 40).matrix
    assert mat.shape == (int(40 // factor), 40)
    np.testing.assert_allclose(mat.sum(1), 1.0)
    vol = np.full((40, 3, 3), 7.0, np.float32)
    np.testing.assert_allclose(simulate(vol, acq), 7.0, rtol=1e-6)


def test_average_is_the_slab_mean_for_integer_factor():
    vol = np.arange(12, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    out = simulate(vol, Acquisition(4))
    np.testing.assert_allclose(out[:, 0, 0], [1.5, 5.5, 9.5])


def test_average_non_integer_factor_uses_fractional_overlaps():
    mat = measurement_operator(Acquisition(2.5), 5).matrix
    np.testing.assert_allclose(mat[0], [0.4, 0.4, 0.2, 0, 0])
    np.testing.assert_allclose(mat[1], [0, 0, 0.2, 0.4, 0.4])


def test_subsample_reads_slab_centre():
    vol = np.arange(16, dtype=np.float32)[:, None, None]
    out = simulate(vol, Acquisition(4, "subsample"))[:, 0, 0]
    # centre of slab k is at 4k + 2 (continuous), i.e. halfway between voxels 4k+1 and 4k+2
    np.testing.assert_allclose(out, [1.5, 5.5, 9.5, 13.5])


def test_gaussian_blurs_a_spike_symmetrically():
    vol = np.zeros((24, 1, 1), np.float32)
    vol[10] = 1
    mat = measurement_operator(Acquisition(4, "gaussian", fwhm=4), 24).matrix
    row = mat[2]  # centred at 10.0, the left edge of voxel 10
    np.testing.assert_allclose(row[9], row[10], rtol=1e-6)
    assert row[8] < row[9] and row[11] < row[10]


def test_torch_path_matches_numpy_and_is_differentiable():
    rng = np.random.default_rng(0)
    vol = rng.random((20, 3, 4)).astype(np.float32)
    acq = Acquisition(2.5, "average")
    t = torch.from_numpy(vol).requires_grad_(True)
    out = measurement_operator(acq, 20).measure(t)
    np.testing.assert_allclose(out.detach().numpy(), simulate(vol, acq), rtol=1e-5, atol=1e-6)
    out.sum().backward()
    assert t.grad is not None and torch.all(t.grad > 0)


@pytest.mark.parametrize("factor", [0.5, float("nan"), -3])
def test_bad_factor(factor):
    with pytest.raises(AxialSRError, match="factor"):
        Acquisition(factor)


def test_taps_reproduce_matrix():
    acq = Acquisition(2.5)
    idx, w = measurement_operator(acq, 25).taps()
    mat = measurement_operator(acq, 25).matrix
    rebuilt = np.zeros_like(mat)
    for k in range(mat.shape[0]):
        np.add.at(rebuilt[k], idx[k], w[k])
    np.testing.assert_allclose(rebuilt, mat)
