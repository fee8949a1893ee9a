"""The projection onto the measurements: exact for every model, factor and correction; the smooth
corrections make no step at slab boundaries; and the benchmark's what-users-see metrics."""

import numpy as np
import pytest

from axialsr.errors import AxialSRError
from axialsr.evaluation.membranes import MembraneSettings, membrane_scores, segmentation_scores, settings_from_truth
from axialsr.evaluation.metrics import axial_power_ratio, banding_index
from axialsr.evaluation.synthetic import em_neuropil_with_labels
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import PROJECTIONS, measurement_operator, projection_z_support, simulate
from axialsr.settings import PriorConfig, RestoreConfig


def smooth_volume(depth: int, seed: int) -> np.ndarray:
    """Smooth along z (a few low-frequency cosines per column), textured in XY."""
    rng = np.random.default_rng(seed)
    z = (np.arange(depth) + 0.5)[:, None, None]
    out = np.zeros((depth, 6, 6))
    for k in range(1, 4):
        out += rng.normal(size=(1, 6, 6)) * np.cos(np.pi * k * z / depth + rng.uniform(0, np.pi, (1, 6, 6)))
    return out.astype(np.float32)


@pytest.mark.parametrize("model", ["average", "gaussian", "subsample"])
@pytest.mark.parametrize("factor", [4.0, 6.4])
@pytest.mark.parametrize("projection", PROJECTIONS)
def test_every_projection_reproduces_the_measurements_and_keeps_consistent_volumes(model, factor, projection):
    acq = Acquisition(factor, model)
    truth = np.random.default_rng(1).normal(size=(64, 5, 5)).astype(np.float32)  # 10 slabs at 6.4, 16 at 4
    measured = simulate(truth, acq)
    rough = interpolate_z(measured, factor, "nearest", 64) + np.random.default_rng(2).normal(0, 0.3, truth.shape)
    op = measurement_operator(acq, 64, len(measured), projection=projection)
    projected = op.project(rough.astype(np.float32), measured)
    assert op.residual_rms(rough, measured) > 0.1
    assert op.residual_rms(projected, measured) < 1e-5
    np.testing.assert_allclose(op.project(truth, measured), truth, atol=1e-5)


@pytest.mark.parametrize("factor", [4.0, 10.0, 6.4])
def test_smooth_projections_make_no_step_at_slab_boundaries(factor):
    """A smooth restoration whose measurements are off by a smooth amount: the l2 correction adds a
    constant per slab (steps), the h1/h2 ones keep the result as smooth as its input."""
    acq = Acquisition(factor)
    depth = acq.output_depth(20)
    start, truth = smooth_volume(depth, 0), smooth_volume(depth, 1)
    measured = simulate(truth, acq)
    assert banding_index(start, factor) < 1.1
    ops = {p: measurement_operator(acq, depth, len(measured), projection=p) for p in PROJECTIONS}
    assert banding_index(ops["l2"].project(start, measured), factor) > 2.0
    for projection in ("h1", "h2"):
        projected = ops[projection].project(start, measured)
        assert banding_index(projected, factor) < 1.1, projection
        assert ops[projection].residual_rms(projected, measured) < 1e-5


def test_smooth_correction_is_no_larger_than_it_must_be():
    """The correction only fixes the measurements: an error that the measurements cannot see (zero mean
    in every slab) is kept by every projection, and h2's correction stays local (its reach is finite)."""
    acq = Acquisition(4)
    within_slab = np.tile([1.0, -1.0, -1.0, 1.0], 8)
    for projection in PROJECTIONS:
        kept = measurement_operator(acq, 32, projection=projection).error_operator() @ within_slab
        np.testing.assert_allclose(kept, within_slab, atol=1e-9)
    p = measurement_operator(acq, 256, 64, projection="h2").correction
    assert np.abs(p[: 4 * 16, 40]).max() < 1e-3 * np.abs(p[:, 40]).max()  # 24 slabs away: nothing
    assert 0 < projection_z_support(acq, "h2") < 24 and projection_z_support(acq, "l2") == 0


def test_unknown_projection_is_refused_everywhere():
    with pytest.raises(AxialSRError, match="unknown projection 'l3'"):
        RestoreConfig(projection="l3")
    with pytest.raises(AxialSRError, match="unknown projection"):
        PriorConfig(kind="lateral", projection="smooth")
    with pytest.raises(AxialSRError, match="unknown projection"):
        measurement_operator(Acquisition(4), 16, 4, projection="H2")


def test_banding_and_axial_power_tell_steps_blur_and_detail_apart():
    truth, _ = em_neuropil_with_labels((48, 48, 48), seed=2)
    acq = Acquisition(4)
    measured = simulate(truth, acq)
    nearest, cubic = (interpolate_z(measured, 4, m) for m in ("nearest", "cubic"))
    assert banding_index(truth, 4) < 1.1 < 1.5 < banding_index(nearest, 4)  # steps at every boundary
    assert 0.8 < axial_power_ratio(truth, 4) < 1.2
    assert axial_power_ratio(cubic, 4) < 0.2  # blur: no power above the slabs' Nyquist


def test_membrane_and_segmentation_scores_rank_blur_below_the_truth():
    truth, labels = em_neuropil_with_labels((40, 64, 64), seed=2)
    settings = settings_from_truth(truth, labels)
    blurred = interpolate_z(simulate(truth, Acquisition(8)), 8, "cubic")
    depth = blurred.shape[0]
    true_f1 = membrane_scores(truth[:depth], labels[:depth], settings)["membrane_f1"]
    assert true_f1 > 0.8 and membrane_scores(blurred, labels[:depth], settings)["membrane_f1"] < true_f1 - 0.05
    assert (
        segmentation_scores(truth[:depth], labels[:depth], settings)["vi"]
        < segmentation_scores(blurred, labels[:depth], settings)["vi"] - 0.3
    )
    inverted = MembraneSettings(threshold=settings.threshold, sigma=settings.sigma, seed_spacing=settings.seed_spacing)
    assert membrane_scores(1.0 - truth[:depth], labels[:depth], inverted)["membrane_f1"] < 0.5  # bright membranes
