"""The restoration layer: the registry, the prior roles, the consistency projection, the lateral method
and the fusion of the INR with it."""

import numpy as np
import pytest
import torch

from axialsr.errors import AxialSRError
from axialsr.learning.planes import LateralPairs, degradation_matrix, estimate_axial_blur, restore_planes
from axialsr.learning.prior_training import train_prior
from axialsr.learning.priors import DiffusionPrior, LateralRegressor
from axialsr.methods import get_method, method_for_priors, methods
from axialsr.methods.inr import FieldConfig, ReconstructionConfig
from axialsr.methods.lateral import LateralConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import measurement_operator, simulate
from axialsr.pipeline.restore import restore_array as restore
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

QUIET = Runtime(device="cpu", progress=False, precision="fp32")  # the same numbers on every CPU

ACQ = Acquisition(4)


@pytest.fixture(scope="module")
def measured(em_small):
    return simulate(em_small * 200 + 20, ACQ)  # input units: 20..220


@pytest.fixture(scope="module")
def lateral_prior(measured):
    cfg = PriorConfig(kind="lateral", preset="tiny", steps=60, lr=1e-2, section_pairs=0.0)  # lateral pairs alone
    return train_prior(measured, cfg, acquisition=ACQ, runtime=QUIET)


def test_registry_names_every_method_once_with_known_prior_types():
    builtin = (
        "nearest",
        "linear",
        "cubic",
        "inr",
        "inr-sds",
        "slicewise",
        "lateral",
        "inr-lateral",
        "lateral-diffusion",
    )
    assert tuple(methods())[: len(builtin)] == builtin
    for name, method in methods().items():
        assert method.name == name and method.summary
        assert set(method.needs + method.optional) <= {LateralRegressor, DiffusionPrior}
        assert set(method.settings) <= {"recon", "slicewise", "lateral", "refine"}
    with pytest.raises(AxialSRError, match="unknown method 'magic'"):
        get_method("magic")


@pytest.mark.parametrize("name", ["nearest", "linear", "cubic"])
def test_interpolations_through_the_layer_equal_the_baselines(measured, name):
    out = restore(measured, name, ACQ, runtime=QUIET)
    np.testing.assert_allclose(out.volume, interpolate_z(measured, 4, name), rtol=1e-5, atol=1e-3)
    assert out.method == name and out.history == []


def test_the_priors_pick_the_method(measured, lateral_prior):
    diffusion = train_prior(measured, PriorConfig(preset="tiny", steps=1), runtime=QUIET)
    assert method_for_priors(None) == "lateral"
    assert method_for_priors([lateral_prior]) == "lateral"
    assert method_for_priors([diffusion]) == "inr-sds"
    assert method_for_priors([diffusion, lateral_prior]) == "inr-lateral"
    for priors in ([lateral_prior], [diffusion], [diffusion, lateral_prior]):
        get_method(method_for_priors(priors)).assign(priors)  # the picked method accepts them


def test_missing_or_doubled_priors_are_named(lateral_prior):
    with pytest.raises(AxialSRError, match="needs a lateral prior"):
        get_method("lateral").assign(None)
    with pytest.raises(AxialSRError, match="needs a diffusion or conditional prior"):
        get_method("inr-sds").assign([lateral_prior])
    with pytest.raises(AxialSRError, match="two lateral priors"):
        get_method("lateral").assign([lateral_prior, lateral_prior])
    assert get_method("cubic").assign([lateral_prior]) == {}  # unused priors are ignored


@pytest.mark.parametrize("model", ["average", "gaussian", "subsample"])
def test_projection_reproduces_the_measurements_and_keeps_consistent_volumes(em_small, model):
    acq = Acquisition(4, model)
    truth = em_small.astype(np.float32)
    m = simulate(truth, acq)
    rough = interpolate_z(m, 4, "nearest", truth.shape[0]) + np.random.default_rng(0).normal(0, 0.05, truth.shape)
    op = measurement_operator(acq, len(truth), len(m))
    projected = op.project(rough.astype(np.float32), m)
    assert op.residual_rms(projected, m) < 1e-4 < op.residual_rms(rough, m)
    np.testing.assert_allclose(op.project(truth, m), truth, atol=1e-4)  # already consistent
    # it moves the volume the least: closer to the truth than the rough start, slab by slab
    assert np.abs(projected - truth).mean() < np.abs(rough - truth).mean()


def test_degradation_matches_the_acquisition_then_cubic_along_rows(em_small):
    image = em_small[5]
    matrix = degradation_matrix(image.shape[0], ACQ)
    expected = interpolate_z(simulate(image[:, None, :], ACQ), 4, "cubic")[:, 0, :]
    np.testing.assert_allclose(matrix @ image, expected, atol=1e-5)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)


def test_pairs_keep_slab_boundaries_on_patch_rows(em_small):
    pairs = LateralPairs(em_small, ACQ, 16)
    assert pairs.row_step == 4 and pairs.flip_rows
    degraded, target = pairs(np.random.default_rng(0), 200)
    # a degraded patch is flat within no slab, but its cubic rows differ from the target's
    assert np.abs(degraded - target).mean() > 1e-3
    # rows 4k..4k+3 share one measured slab: their means over the patch match the target's slab means
    d = degraded.reshape(200, 4, 4, 16).mean(axis=(2, 3))
    t = target.reshape(200, 4, 4, 16).mean(axis=(2, 3))
    assert np.abs(d - t).mean() < 0.6 * np.abs(degraded - target).mean()


def test_axial_blur_is_found_where_there_is_one():
    from scipy import ndimage

    from axialsr.evaluation.synthetic import fluorescence_nuclei

    truth = fluorescence_nuclei((64, 96, 96), seed=2)
    assert estimate_axial_blur(simulate(truth, ACQ), ACQ) < 0.8
    blurred = ndimage.gaussian_filter1d(truth, 3.0, axis=0)
    assert 2.0 < estimate_axial_blur(simulate(blurred, ACQ), ACQ) < 4.5


def test_planes_are_restored_and_views_averaged():
    volume = np.random.default_rng(0).normal(size=(16, 12, 10)).astype(np.float32)
    np.testing.assert_allclose(restore_planes(lambda x: x, volume), volume, atol=1e-6)
    doubled = restore_planes(lambda x: 2 * x, volume, planes=("xz",), flips=False)
    np.testing.assert_allclose(doubled, 2 * volume, atol=1e-6)
    # a map that is not flip-equivariant is averaged over the flips
    ramp = restore_planes(lambda x: x + torch.arange(x.shape[-1], dtype=x.dtype), volume, planes=("xz",))
    np.testing.assert_allclose(ramp - volume, (volume.shape[2] - 1) / 2, atol=1e-5)

    # 'z' flips only upside down: a ramp along the rows is averaged, one along the columns kept
    def rows_and_columns(x):
        return x + torch.arange(x.shape[-2], dtype=x.dtype)[:, None] + 10 * torch.arange(x.shape[-1], dtype=x.dtype)

    z_only = restore_planes(rows_and_columns, volume, planes=("xz",), flips="z") - volume
    expected = np.broadcast_to((volume.shape[0] - 1) / 2 + 10 * np.arange(volume.shape[2]), volume.shape)
    np.testing.assert_allclose(z_only, expected, atol=1e-4)
    assert LateralConfig().flips == "z" and LateralConfig(flips=True).flips == "all"
    with pytest.raises(AxialSRError, match="flips"):
        LateralConfig(flips="x")


def test_lateral_method_reproduces_the_measurements_in_input_units(measured, lateral_prior):
    out = restore(measured, "lateral", ACQ, priors=lateral_prior, runtime=QUIET)
    assert out.volume.shape == (32, 48, 48) and out.measurement_rms < 1e-3
    raw = restore(
        measured, "lateral", ACQ, priors=lateral_prior, config=RestoreConfig(consistency=False), runtime=QUIET
    )
    assert raw.measurement_rms > 10 * out.measurement_rms
    assert 0 < raw.volume.mean() - 20 < 200  # back in input units


def test_fusion_starts_at_the_lateral_restoration_and_can_add_conditional_sds(measured, lateral_prior):
    cond = train_prior(
        measured, PriorConfig(kind="conditional", preset="tiny", steps=5), acquisition=ACQ, runtime=QUIET
    )
    recon = ReconstructionConfig(
        iters=6, warmup=0.5, sds_batch=2, fidelity_crop=16, field=FieldConfig(levels=3, features=2)
    )
    config = RestoreConfig(methods={"recon": recon}, consistency=False)
    lateral = restore(measured, "lateral", ACQ, priors=lateral_prior, config=config, runtime=QUIET)
    fused = restore(measured, "inr-lateral", ACQ, priors=[lateral_prior, cond], config=config, runtime=QUIET)
    assert any("sds" in h for h in fused.history)
    # a few iterations from a zero residual stay close to the lateral restoration
    assert np.abs(fused.volume - lateral.volume).mean() < 0.02 * np.ptp(lateral.volume)
    alone = restore(measured, "inr-lateral", ACQ, priors=[lateral_prior], config=config, runtime=QUIET)
    assert not any("sds" in h for h in alone.history)


def test_spread_of_the_views_is_zero_when_they_agree_and_grows_when_they_do_not():
    volume = np.random.default_rng(0).normal(size=(16, 12, 10)).astype(np.float32)
    mean, spread = restore_planes(lambda x: x, volume, spread=True)
    np.testing.assert_allclose(spread, 0.0, atol=1e-3)
    _, spread = restore_planes(lambda x: x + torch.arange(x.shape[-1], dtype=x.dtype), volume, spread=True)
    assert spread.min() > 0.1  # flipped and unflipped views disagree by the ramp


def test_uncertainty_comes_with_the_lateral_methods_only(measured, lateral_prior):
    out = restore(measured, "lateral", ACQ, priors=lateral_prior, config=RestoreConfig(uncertainty=True), runtime=QUIET)
    assert out.uncertainty.shape == out.volume.shape and out.uncertainty.min() >= 0 and out.uncertainty.max() > 0
    # the floor is the regressor's error on its training pairs; the views' spread adds to it
    half = 0.5 * (out.normalization.high - out.normalization.low)
    floor = lateral_prior.meta["pair_rmse"] * half
    assert floor > 0 and out.uncertainty.min() >= floor * (1 - 1e-5)
    assert out.uncertainty.max() > 1.01 * floor
    unscaled = restore(
        measured,
        "lateral",
        ACQ,
        priors=lateral_prior,
        config=RestoreConfig(uncertainty=True, uncertainty_scale=0.0),
        runtime=QUIET,
    )
    np.testing.assert_allclose(unscaled.uncertainty, floor, rtol=1e-5)
    with pytest.raises(AxialSRError, match="gives no uncertainty"):
        restore(measured, "cubic", ACQ, priors=None, config=RestoreConfig(uncertainty=True), runtime=QUIET)


def test_uncertainty_is_written_beside_the_output_whole_and_blockwise(cli, tmp_path, measured, lateral_prior):
    from axialsr.io import read_volume, write_volume

    lr = tmp_path / "lr.tif"
    write_volume(lr, measured.astype(np.float32), (40.0, 10.0, 10.0))
    lateral_prior.save(tmp_path / "lateral")
    code, out, err = cli(
        "reconstruct",
        lr,
        "--out",
        tmp_path / "iso.tif",
        "--prior",
        tmp_path / "lateral",
        "--uncertainty",
        "--device",
        "cpu",
    )
    assert code == 0, err
    sigma = read_volume(tmp_path / "iso.uncertainty.tif")
    assert sigma.data.shape == (32, 48, 48) and sigma.voxel_size == pytest.approx((10.0, 10.0, 10.0))
    code, _, err = cli(
        "reconstruct",
        lr,
        "--out",
        tmp_path / "iso.zarr",
        "--prior",
        tmp_path / "lateral",
        "--uncertainty",
        "--blocks",
        "8x48x48",
        "--workers",
        "0",
        "--device",
        "cpu",
    )
    assert code == 0, err
    blockwise = read_volume(tmp_path / "iso.uncertainty.zarr")
    assert blockwise.data.shape == (32, 48, 48) and blockwise.data.max() > 0


def test_precision_reaches_the_regressor_in_training_and_restoration(measured, lateral_prior):
    """`Runtime.precision`: bf16 changes the numbers (it did run in bf16) far less than the regressor
    changes the cubic interpolation, in training and in restoration alike; auto stays fp32 off the CPU;
    an unknown precision is named."""
    from dataclasses import replace

    from axialsr.device import resolve_precision

    fp32, bf16 = replace(QUIET, precision="fp32"), replace(QUIET, precision="bf16")
    cfg = PriorConfig(kind="lateral", preset="tiny", steps=60, lr=1e-2)
    runs = (("fp32", fp32), ("bf16", bf16))
    trained = {name: train_prior(measured, cfg, acquisition=ACQ, runtime=rt) for name, rt in runs}
    final = {name: np.mean(prior.losses[-10:]) for name, prior in trained.items()}
    assert trained["fp32"].losses != trained["bf16"].losses
    assert abs(final["bf16"] - final["fp32"]) < 0.25 * final["fp32"], final
    cubic = restore(measured, "cubic", ACQ, runtime=QUIET).volume
    out32 = restore(measured, "lateral", ACQ, priors=[lateral_prior], runtime=fp32).volume
    out16 = restore(measured, "lateral", ACQ, priors=[lateral_prior], runtime=bf16).volume
    change, rounding = np.abs(out32 - cubic).mean(), np.abs(out16 - out32).mean()
    assert 0 < rounding < 0.05 * change, (rounding, change)
    assert out16.dtype == np.float32
    assert resolve_precision("auto", "cuda") == torch.float32
    with pytest.raises(AxialSRError, match="precision"):
        Runtime(precision="fp16")
