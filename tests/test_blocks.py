"""Blockwise restoration: tiling and weights, equality with whole-volume interpolation, seams, resume,
failure reporting, and a 2-worker Dask LocalCluster on loopback."""

import numpy as np
import pytest

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.evaluation.metrics import seam_jumps
from axialsr.io import Volume, open_source, read_volume, write_volume
from axialsr.io.pyramid import open_levels
from axialsr.methods.inr import FieldConfig, ReconstructionConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import measurement_operator, projection_z_support
from axialsr.operators.tiling import BlockGrid, z_alignment
from axialsr.pipeline.blocks import BlockConfig, run_blockwise, training_sample
from axialsr.pipeline.restore import blockwise_z_support, get_method
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)

FAST_INR = RestoreConfig(
    methods={
        "recon": ReconstructionConfig(
            iters=40, fidelity_crop=24, sds_batch=2, field=FieldConfig(levels=4, features=2, mlp_width=32)
        )
    }
)
S2 = Acquisition(2.0)


@pytest.fixture(scope="module")
def measured_tif(tmp_path_factory):
    """The EM ground truth (32x48x48) measured at s=2 (16x48x48), written as an OME-TIFF."""
    gt = api.synth("em", (32, 48, 48), seed=1, dtype="float32")
    lr = api.simulate_acquisition(gt, S2)
    path = tmp_path_factory.mktemp("blocks") / "lr.ome.tif"
    write_volume(path, lr.data, lr.voxel_size)
    return path, lr


def test_grid_covers_the_output_and_weights_are_positive():
    grid = BlockGrid.plan((10, 50, 37), 2.5, (4, 16, 16), 6)
    assert z_alignment(2.5) == 2 and grid.core[0] == 4
    assert grid.out_shape == (25, 50, 37)
    owned = np.zeros(grid.out_shape, dtype=int)
    total = np.zeros(grid.out_shape)
    for block in grid.blocks:
        owned[tuple(slice(a, b) for a, b in block.out_inner)] += 1
        total[tuple(slice(a, b) for a, b in block.out_outer)] += grid.weights(block)
    assert (owned == 1).all()  # the cores tile the output exactly once
    assert total.min() > 0.5


def test_weights_sum_to_one_when_blocks_are_longer_than_the_ramps():
    grid = BlockGrid.plan((16, 64, 64), 2.0, (8, 32, 32), 8)
    total = np.zeros(grid.out_shape)
    for block in grid.blocks:
        total[tuple(slice(a, b) for a, b in block.out_outer)] += grid.weights(block)
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


@pytest.mark.parametrize("method", ["nearest", "linear", "cubic"])
def test_blockwise_interpolation_equals_whole_volume(tmp_path, measured_tif, method):
    path, lr = measured_tif
    out = tmp_path / f"{method}.zarr"
    summary = run_blockwise(
        open_source(path),
        out,
        method,
        acquisition=S2,
        config=BlockConfig(blocks=(5, 20, 20), overlap=6, workers=0),
        out_voxel_size=(lr.voxel_size[0] / 2, *lr.voxel_size[1:]),
        runtime=QUIET,
    )
    assert summary.blocks_total == 4 * 3 * 3 and summary.output == str(out)
    result = read_volume(out)
    whole, _ = api.restore(lr, method, acquisition=S2)
    assert result.data.shape == whole.data.shape
    np.testing.assert_allclose(result.data, whole.data, atol=1e-4 if method == "cubic" else 1e-5)  # spline tails
    assert result.voxel_size == pytest.approx((lr.voxel_size[0] / 2, *lr.voxel_size[1:]))
    assert not (tmp_path / f"{method}.zarr.parts").exists()  # parts are removed once the output is written


def test_kill_and_resume_skips_finished_blocks_and_gives_the_same_output(tmp_path, measured_tif):
    path, _ = measured_tif
    source = open_source(path)
    config = BlockConfig(blocks=(8, 24, 24), overlap=8, workers=0)
    whole = run_blockwise(
        source, tmp_path / "once.zarr", "inr", acquisition=S2, config=config, restore_config=FAST_INR, runtime=QUIET
    )
    assert whole.blocks_run == 8
    # A run that stops after 3 blocks (as if killed) leaves 3 parts and no output...
    first = run_blockwise(
        source,
        tmp_path / "twice.zarr",
        "inr",
        acquisition=S2,
        config=BlockConfig(**{**vars(config), "max_blocks": 3}),
        restore_config=FAST_INR,
        runtime=QUIET,
    )
    assert first.blocks_run == 3 and first.output is None and not (tmp_path / "twice.zarr").exists()
    parts = tmp_path / "twice.zarr.parts"
    assert len(list(parts.glob("block_*.npy"))) == 3
    (parts / ".block_1_1_1.npy.123.tmp").write_bytes(b"half-written")  # a part cut off mid-write is not a part
    # ...and the rerun does only the other 5.
    second = run_blockwise(
        source, tmp_path / "twice.zarr", "inr", acquisition=S2, config=config, restore_config=FAST_INR, runtime=QUIET
    )
    assert second.blocks_skipped == 3 and second.blocks_run == 5
    np.testing.assert_array_equal(read_volume(tmp_path / "twice.zarr").data, read_volume(tmp_path / "once.zarr").data)


def test_changed_settings_do_not_mix_with_old_parts(tmp_path, measured_tif):
    path, _ = measured_tif
    source = open_source(path)
    cfg = BlockConfig(blocks=(8, 24, 24), overlap=4, workers=0, max_blocks=1)
    run_blockwise(source, tmp_path / "o.zarr", "linear", acquisition=S2, config=cfg, runtime=QUIET)
    with pytest.raises(AxialSRError, match="different run"):
        run_blockwise(source, tmp_path / "o.zarr", "cubic", acquisition=S2, config=cfg, runtime=QUIET)


def test_a_failing_block_is_reported_and_no_output_is_written(tmp_path):
    data = np.random.default_rng(0).random((8, 32, 32)).astype(np.float32)
    data[6, 30, 30] = np.nan  # only the last block along z, y and x sees it
    path = tmp_path / "nan.npy"
    np.save(path, data)
    with pytest.raises(AxialSRError, match=r"1 of 8 blocks failed \(block_1_1_1: .*NaN"):
        api.restore(
            open_source(path),
            "linear",
            out=str(tmp_path / "o.zarr"),
            acquisition=S2,
            blocks=BlockConfig(blocks=(4, 16, 16), overlap=2, workers=0, retries=1),
            runtime=QUIET,
        )
    assert not (tmp_path / "o.zarr").exists()
    assert len(list((tmp_path / "o.zarr.parts").glob("block_*.npy"))) == 7  # kept for the rerun


def test_two_worker_local_cluster_restores_without_seams(tmp_path, measured_tif):
    path, lr = measured_tif
    prior = api.train_prior(lr, PriorConfig(preset="tiny", steps=60), runtime=QUIET)
    out = tmp_path / "sds.ome.zarr"
    config = BlockConfig(blocks=(8, 24, 24), overlap=8, workers=2, resources="GPU=1")  # one block per worker
    summary = api.restore(
        open_source(path),
        "inr-sds",
        out=str(out),
        acquisition=S2,
        priors=prior,
        config=FAST_INR,
        blocks=config,
        runtime=QUIET,
    )
    assert summary.blocks_run == 8 and summary.output == str(out)
    assert 1 <= summary.worker_processes <= 2
    result = read_volume(out)
    assert result.data.shape == (32, 48, 48) and result.data.dtype == lr.data.dtype
    assert np.isfinite(result.data).all()
    grid = BlockGrid.plan((16, 48, 48), 2.0, (8, 24, 24), 8)
    starts = {axis: sorted({b.out_inner[axis][0] for b in grid.blocks} - {0}) for axis in range(3)}
    for axis, boundaries in starts.items():
        jumps = seam_jumps(result.data, axis, boundaries)
        assert jumps["mean_jump_boundary"] <= jumps["mean_jump_interior"], (axis, jumps)
        assert jumps["energy_jump_boundary"] <= jumps["energy_jump_interior"], (axis, jumps)
        assert jumps["step_jump_boundary"] <= jumps["step_jump_interior"], (axis, jumps)
    # the reconstruction is a reconstruction, not the cubic start: it is closer to the truth than nearest
    gt = api.synth("em", (32, 48, 48), seed=1, dtype="float32")
    nearest, _ = api.restore(lr, "nearest", acquisition=S2)
    assert np.abs(result.data - gt.data).mean() < np.abs(nearest.data - gt.data).mean()


def test_cli_blocks_stop_and_resume(cli, tmp_path, measured_tif):
    path, _ = measured_tif
    out = tmp_path / "iso.zarr"
    args = ["baseline", path, "--out", out, "--method", "linear", "--blocks", "8x24x24", "--workers", "0"]
    code, text, _ = cli(*args, "--max-blocks", "2")
    assert code == 0 and "6 left" in text and not out.exists()
    code, text, _ = cli(*args)
    assert code == 0 and "2 from an earlier run" in text
    assert read_volume(out).data.shape == (32, 48, 48) and not (tmp_path / "iso.zarr.parts").exists()
    code, _, err = cli("baseline", path, "--out", tmp_path / "x.tif", "--blocks", "8x24x24")
    assert code == 2 and "Zarr" in err and "Traceback" not in err


def test_seam_metric_sees_the_seams_of_hard_tiles(tmp_path, measured_tif):
    """Chunks restored on their own extrapolate their edges: the seam statistic must flag it, and must not
    flag the blockwise runner, whose z overlap holds the method's support."""
    path, lr = measured_tif
    chunks = [lr.data[z : z + 4] for z in range(0, lr.data.shape[0], 4)]
    restored = [api.restore(Volume(c), "linear", acquisition=S2, dtype="float32", runtime=QUIET)[0] for c in chunks]
    hard = np.concatenate([volume.data for volume in restored])
    out = tmp_path / "o6.zarr"
    run_blockwise(
        open_source(path),
        out,
        "linear",
        acquisition=S2,
        config=BlockConfig(blocks=(4, 48, 48), overlap=6, workers=0),
        runtime=QUIET,
    )
    steps = {}
    for name, volume in (("hard", hard), ("blockwise", read_volume(out).data)):
        jumps = seam_jumps(volume, 0, [8, 16, 24])
        steps[name] = jumps["step_jump_boundary"] / jumps["step_jump_interior"]
    assert steps["hard"] > 1.0 > steps["blockwise"]


def test_whole_volume_and_blockwise_runs_share_one_normalisation(tmp_path, measured_tif):
    """The one intensity rule: fitted on the same sampled voxels in memory and on disk."""
    path, lr = measured_tif
    assert Normalization.fit(lr.data) == Normalization.fit(open_source(path))
    big = np.random.default_rng(0).gamma(2.0, 100.0, (40, 300, 310)).astype(np.float32)
    np.save(tmp_path / "big.npy", big)
    assert Normalization.fit(big, max_voxels=100_000) == Normalization.fit(
        open_source(tmp_path / "big.npy"), max_voxels=100_000
    )


def test_blockwise_lateral_restoration_matches_the_whole_volume_inside(tmp_path, measured_tif):
    """Any registered method runs blockwise; the lateral regressor is local, so blocks with enough
    overlap reproduce the whole-volume restoration in their cores."""
    path, lr = measured_tif
    prior = api.train_prior(lr, PriorConfig(kind="lateral", preset="tiny", steps=3), acquisition=S2, runtime=QUIET)
    config = RestoreConfig(consistency=False)
    whole, _ = api.restore(lr, "lateral", acquisition=S2, priors=prior, config=config, dtype="float32")
    out = tmp_path / "lat.zarr"
    run_blockwise(
        open_source(path),
        out,
        "lateral",
        acquisition=S2,
        config=BlockConfig(blocks=(16, 48, 48), overlap=0, workers=0),
        priors=prior,
        restore_config=config,
        dtype="float32",
        runtime=QUIET,
    )
    np.testing.assert_allclose(read_volume(out).data, whole.data, atol=1e-4)


@pytest.mark.parametrize("method", ["nearest", "linear", "cubic"])
def test_blockwise_8bit_is_within_one_grey_level_of_the_whole_volume(tmp_path, method):
    """Small blocks along z, the default overlap: the method's z support widens the overlap where needed
    (the natural cubic spline's tails reach ~5 slabs)."""
    truth = api.synth("em", (96, 40, 40), seed=3)  # uint8
    lr = api.simulate_acquisition(truth, Acquisition(4.0))  # 24 slabs
    write_volume(tmp_path / "lr.tif", lr.data, lr.voxel_size)
    out = tmp_path / f"{method}.zarr"
    run_blockwise(
        open_source(tmp_path / "lr.tif"),
        out,
        method,
        acquisition=Acquisition(4.0),
        config=BlockConfig(blocks=(4, 40, 40), overlap=8, workers=0),
        runtime=QUIET,
    )
    whole, _ = api.restore(lr, method, acquisition=Acquisition(4.0))
    diff = np.abs(read_volume(out).data.astype(int) - whole.data.astype(int))
    assert diff.max() <= 1, (method, diff.max(), int((diff > 1).sum()))


@pytest.mark.parametrize("projection", ["h2", "l2"])
def test_blockwise_with_the_projection_equals_the_whole_volume(tmp_path, projection):
    """A method that ends with the projection: the smooth correction spreads each slab's residual over
    its neighbours, and the blocks widen their overlap by its reach, so that blockwise still equals the
    whole volume (8-bit: within one grey level) while each block reads far less than the volume."""
    truth = api.synth("em", (240, 32, 32), seed=3)  # uint8
    acq = Acquisition(4.0)
    lr = api.simulate_acquisition(truth, acq)  # 60 slabs
    write_volume(tmp_path / "lr.tif", lr.data, lr.voxel_size)
    config = RestoreConfig(consistency=True, projection=projection)
    out = tmp_path / "linear.zarr"
    summary = run_blockwise(
        open_source(tmp_path / "lr.tif"),
        out,
        "linear",
        acquisition=acq,
        config=BlockConfig(blocks=(4, 32, 32), overlap=0, workers=0),
        restore_config=config,
        runtime=QUIET,
    )
    whole, info = api.restore(lr, "linear", acquisition=acq, config=config)
    assert info.measurement_rms < 0.5  # grey levels: the whole volume reproduces the measurements
    diff = np.abs(read_volume(out).data.astype(int) - whole.data.astype(int))
    assert diff.max() <= 1, (projection, diff.max(), int((diff > 1).sum()))
    support = blockwise_z_support(get_method("linear"), acq, config)
    assert support == 1 + (0 if projection == "l2" else projection_z_support(acq, projection))
    assert summary.blocks_total == 15 and 4 + 2 * (support + 1) < 60  # real blocks, each reading a part


def test_training_sample_reads_tiles_from_across_the_volume(tmp_path):
    """Small volumes are read whole; a large one gives tiles, each an exact region of the volume, from
    places spread over all of it (not one corner)."""
    volume = np.random.default_rng(0).normal(size=(40, 96, 96)).astype(np.float32)
    np.save(tmp_path / "v.npy", volume)
    source = open_source(tmp_path / "v.npy")
    np.testing.assert_array_equal(training_sample(source, max_voxels=volume.size), volume)
    sample = training_sample(source, max_voxels=6 * 8 * 24 * 24, tile=(8, 24, 24), seed=3)
    assert sample.shape == (6 * 8, 24, 24)
    corners = []
    for tile in np.split(sample, 6):
        hits = [
            (z, y, x)
            for z in range(40 - 7)
            for y in range(96 - 23)
            for x in range(96 - 23)
            if volume[z, y, x] == tile[0, 0, 0] and np.array_equal(volume[z : z + 8, y : y + 24, x : x + 24], tile)
        ]
        assert len(hits) == 1
        corners.append(hits[0])
    for axis, n in ((0, 40), (1, 96), (2, 96)):
        starts = sorted(c[axis] for c in corners)
        assert starts[0] < n / 4 and starts[-1] > n / 2  # spread along every axis


def test_cli_run_with_blocks_trains_on_tiles_and_restores_a_zarr_input(cli, tmp_path, measured_tif):
    """`run --blocks`: the priors train on tiles read from the file, the output is assembled block by block
    and reproduces the measurements (the lateral method ends with the projection onto them)."""
    _, lr = measured_tif
    source = tmp_path / "lr.zarr"
    write_volume(source, lr.data, lr.voxel_size)
    out = tmp_path / "iso.zarr"
    code, text, err = cli(
        "run", source, "--out", out, "--blocks", "8x48x48", "--workers", "0", "--prior-preset", "tiny",
        "--lateral-prior-steps", "3", "--device", "cpu", "--uncertainty",
    )  # fmt: skip
    assert code == 0, err
    result = read_volume(out)
    assert result.data.shape == (32, 48, 48) and result.voxel_size == api.output_voxel_size(lr, 2.0)
    assert read_volume(tmp_path / "iso.uncertainty.zarr").data.shape == (32, 48, 48)
    assert (tmp_path / "iso.axialsr" / "lateral" / "prior.json").is_file() and "blocks" in text
    rms = measurement_operator(S2, len(result.data), len(lr.data)).residual_rms(result.data, lr.data)
    assert rms < 1e-3 * float(np.ptp(lr.data))
    code, _, err = cli("run", source, "--out", tmp_path / "x.zarr", "--blocks", "8x48x48", "--report", tmp_path / "r")
    assert code == 2 and "--report needs the whole volume" in err


def test_blockwise_multiscale_ome_zarr_levels_are_mean_downsampled_level_0(tmp_path, measured_tif):
    import zarr
    from ome_zarr_models import open_ome_zarr

    from axialsr.io.pyramid import downsample_mean

    path, lr = measured_tif
    out = tmp_path / "pyramid.ome.zarr"
    config = BlockConfig(blocks=(5, 20, 20), overlap=6, workers=0, pyramid_levels="3")
    run_blockwise(open_source(path), out, "cubic", acquisition=S2, config=config, dtype="uint8", runtime=QUIET)
    group = zarr.open_group(out, mode="r")
    open_ome_zarr(group)  # validates, or raises
    datasets = group.attrs["ome"]["multiscales"][0]["datasets"]
    assert [d["path"] for d in datasets] == ["0", "1", "2"]
    level0 = np.asarray(group["0"]).astype(np.float64)
    whole, _ = api.restore(lr, "cubic", acquisition=S2, dtype="uint8")
    assert np.abs(level0 - whole.data).max() <= 1  # level 0 is the single-scale result
    assert read_volume(out).data.shape == whole.data.shape  # readers open level 0
    scale0 = datasets[0]["coordinateTransformations"][0]["scale"]
    for level in (1, 2):
        data = np.asarray(group[str(level)]).astype(np.float64)
        expected = level0
        for _ in range(level):
            expected = downsample_mean(expected)
        assert data.shape == expected.shape == tuple(-(-s // 2**level) for s in level0.shape)
        assert np.abs(data - expected).max() <= 0.5 * level + 1e-9  # rounded once per level
        scale, translation = datasets[level]["coordinateTransformations"]
        assert scale["scale"] == pytest.approx([v * 2**level for v in scale0])
        assert translation["translation"] == pytest.approx([v * (2**level - 1) / 2 for v in scale0])
    # a whole-volume write gets the same pyramid; 'auto' adds none below 256^3
    write_volume(tmp_path / "w.ome.zarr", whole.data, whole.voxel_size, levels=2)
    assert set(zarr.open_group(tmp_path / "w.ome.zarr", mode="r").keys()) == {"0", "1"}
    write_volume(tmp_path / "a.ome.zarr", whole.data, whole.voxel_size)
    assert set(zarr.open_group(tmp_path / "a.ome.zarr", mode="r").keys()) == {"0"}


def test_ngff_0_4_outputs_are_zarr_v2_images_that_validate_and_read_back(cli, tmp_path, measured_tif):
    """`--ngff-version 0.4`: a Zarr v2 store ('/' chunk keys, metadata under `multiscales`) that
    ome-zarr-models validates as NGFF 0.4, from a whole-volume write and from a blockwise run alike, with
    the same data and pyramid as the 0.5 output; an unknown version fails before any work."""
    import zarr
    from ome_zarr_models import open_ome_zarr
    from ome_zarr_models.v04 import Image as ImageV04

    path, lr = measured_tif
    whole, _ = api.restore(lr, "cubic", acquisition=S2, dtype="uint8")
    write_volume(tmp_path / "w4.ome.zarr", whole.data, whole.voxel_size, levels=2, ngff_version="0.4")
    config = BlockConfig(blocks=(5, 20, 20), overlap=6, workers=0, pyramid_levels="2", ngff_version="0.4")
    run_blockwise(
        open_source(path),
        tmp_path / "b4.ome.zarr",
        "cubic",
        acquisition=S2,
        config=config,
        dtype="uint8",
        runtime=QUIET,
        out_voxel_size=whole.voxel_size,
    )
    write_volume(tmp_path / "w5.ome.zarr", whole.data, whole.voxel_size, levels=2)
    v5 = zarr.open_group(tmp_path / "w5.ome.zarr", mode="r")
    for name in ("w4.ome.zarr", "b4.ome.zarr"):
        group = zarr.open_group(tmp_path / name, mode="r")
        assert group.metadata.zarr_format == 2 and "ome" not in group.attrs
        assert isinstance(open_ome_zarr(group, version="0.4"), ImageV04)  # validates, or raises
        (multiscale,) = group.attrs["multiscales"]
        assert multiscale["version"] == "0.4"
        assert multiscale["datasets"] == v5.attrs["ome"]["multiscales"][0]["datasets"]
        assert (tmp_path / name / "0" / "0" / "0" / "0").is_file()  # '/'-separated chunk keys
        assert np.abs(np.asarray(group["0"]).astype(int) - np.asarray(v5["0"])).max() <= 1
        assert np.abs(np.asarray(group["1"]).astype(int) - np.asarray(v5["1"])).max() <= 1
        back = read_volume(tmp_path / name)
        assert back.voxel_size == whole.voxel_size and back.data.shape == whole.data.shape
        assert [level.shape for level in open_levels(str(tmp_path / name))] == [v5["0"].shape, v5["1"].shape]
    code, _, err = cli("reconstruct", path, "--out", tmp_path / "y.zarr", "--method", "cubic", "--ngff-version", "0.3")
    assert code == 2 and "--ngff-version" in err and "0.4, 0.5" in err and not (tmp_path / "y.zarr").exists()
    code, _, err = cli("reconstruct", path, "--out", tmp_path / "z.zarr", "--method", "cubic", "--ngff-version", "0.4")
    assert code == 0, err
    assert zarr.open_group(tmp_path / "z.zarr", mode="r").metadata.zarr_format == 2


def test_a_parts_identity_holds_what_its_method_reads_however_the_config_was_made():
    """The command line gives every settings section, the API only those it sets: the same settings make
    the same parts; a section the method does not read does not make other parts, one it reads does."""
    from axialsr.methods.inr import ReconstructionConfig
    from axialsr.methods.lateral import LateralConfig
    from axialsr.pipeline.blocks import _read_by
    from axialsr.settings import identity

    given = RestoreConfig()
    full = RestoreConfig(methods={"lateral": LateralConfig(), "recon": ReconstructionConfig()})
    assert identity(_read_by("lateral", given)) == identity(_read_by("lateral", full))
    other_inr = given.with_settings(recon=ReconstructionConfig(iters=7))
    assert identity(_read_by("lateral", other_inr)) == identity(_read_by("lateral", given))
    assert identity(_read_by("inr", other_inr)) != identity(_read_by("inr", given))
    other_flips = given.with_settings(lateral=LateralConfig(flips="all"))
    assert identity(_read_by("lateral", other_flips)) != identity(_read_by("lateral", given))
