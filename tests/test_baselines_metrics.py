import numpy as np
import pytest

from axialsr.evaluation.metrics import PSNR_CAP, evaluate_volume, flatten, psnr
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import simulate


def test_cubic_beats_nearest_on_axial_planes(em_small):
    acq = Acquisition(4)
    lr = simulate(em_small, acq)
    gt = em_small[: acq.output_depth(lr.shape[0])]
    scores = {m: flatten(evaluate_volume(interpolate_z(lr, 4, m), gt)) for m in ("nearest", "linear", "cubic")}
    for plane in ("xz", "yz"):
        assert scores["cubic"][f"ssim_{plane}"] > scores["nearest"][f"ssim_{plane}"]
    assert scores["cubic"]["psnr_3d"] > scores["nearest"]["psnr_3d"] + 0.5


def test_identical_volume_scores_perfectly(em_small):
    m = flatten(evaluate_volume(em_small, em_small, measured_slices=np.array([2, 6])))
    assert m["psnr_3d"] == PSNR_CAP
    for key in ("ssim_xy", "ssim_xz", "ssim_yz", "ssim_3d", "ssim_measured", "ssim_unmeasured"):
        assert m[key] == pytest.approx(1.0)


def test_psnr_known_value():
    gt = np.zeros((4, 4, 4))
    gt[0, 0, 0] = 1.0
    pred = gt + 0.1
    assert psnr(pred, gt, 1.0) == pytest.approx(20.0)


def test_interpolation_is_exact_on_linear_ramps():
    # A ramp survives averaging unchanged at slab centres, so linear/cubic must recover it exactly.
    z = np.arange(40, dtype=np.float32)
    vol = np.broadcast_to(z[:, None, None], (40, 2, 2)).copy()
    lr = simulate(vol, Acquisition(4))
    for method in ("linear", "cubic"):
        out = interpolate_z(lr, 4, method)
        np.testing.assert_allclose(out[2:-2, 0, 0], z[2:-2], atol=1e-4)


def test_non_integer_factor_grid():
    lr = np.random.default_rng(0).random((10, 4, 4)).astype(np.float32)
    out = interpolate_z(lr, 2.5, "cubic")
    assert out.shape == (25, 4, 4)
    # nearest copies each measured slice onto the voxels of its slab
    nn = interpolate_z(lr, 2.5, "nearest")
    np.testing.assert_array_equal(nn[0], lr[0])
    np.testing.assert_array_equal(nn[24], lr[9])
