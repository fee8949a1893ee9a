"""Missing and damaged sections: detection, the acquisition's missing sections in every consumer, the CLI."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.evaluation.synthetic import INTENSITY_TRENDS, intensity_trend, knock_out_sections
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.bad_sections import find_bad_sections, parse_bad_sections
from axialsr.operators.measurement import measurement_operator, simulate
from axialsr.pipeline.blocks import BlockConfig
from axialsr.pipeline.restore import restore_array
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

QUIET = Runtime(device="cpu", progress=False)


@pytest.fixture(scope="module")
def em_stack() -> tuple[np.ndarray, np.ndarray]:
    truth = api.synth("em", (64, 64, 64), seed=3, dtype="float32").data
    return truth, simulate(truth, Acquisition(4))


@pytest.mark.parametrize(
    ("kind", "factor", "shape"),
    [("em", 4, (64, 64, 64)), ("em", 10, (160, 64, 64)), ("fluo", 4, (64, 64, 64)), ("fluo", 8, (64, 64, 64))],
)
def test_no_section_is_flagged_on_clean_stacks(kind, factor, shape):
    truth = api.synth(kind, shape, seed=1, dtype="uint8").data
    assert find_bad_sections(simulate(truth, Acquisition(factor)).round().astype(np.uint8)) == []


@pytest.mark.parametrize(
    ("defects", "expected"),
    [
        ({5: "blank"}, [(5, "blank")]),
        ({5: "saturated"}, [(5, "saturated")]),
        ({5: "duplicate"}, [(5, "duplicate")]),
        ({5: "dark"}, [(5, "intensity")]),
        ({5: "dim"}, [(5, "intensity")]),
        ({7: "blank", 8: "blank"}, [(7, "blank"), (8, "blank")]),
        ({0: "blank", 15: "duplicate"}, [(0, "blank"), (15, "duplicate")]),
    ],
)
def test_every_kind_of_knocked_out_section_is_found_and_named(em_stack, defects, expected):
    _, measured = em_stack
    found = find_bad_sections(knock_out_sections(measured, defects))
    assert [(b.index, b.kind) for b in found] == expected


def test_gain_flicker_and_noise_are_not_defects(em_stack):
    from axialsr.evaluation.synthetic import section_artifacts

    _, measured = em_stack
    real = section_artifacts(measured, noise=8 / 255, jitter=0.7, flicker=0.05, seed=0)
    assert find_bad_sections(real) == []


@pytest.mark.parametrize("kind", ["em", "fluo"])
@pytest.mark.parametrize("trend", INTENSITY_TRENDS)
def test_a_trend_along_z_is_not_a_defect(kind, trend):
    measured = simulate(api.synth(kind, (64, 64, 64), seed=2, dtype="float32").data, Acquisition(4))
    assert find_bad_sections(intensity_trend(measured, trend, seed=1)) == []


def test_a_specimen_that_ends_before_the_last_sections_is_not_a_defect():
    measured = simulate(api.synth("fluo", (64, 64, 64), seed=4, dtype="float32").data, Acquisition(4))
    rng = np.random.default_rng(0)
    background = float(np.percentile(measured, 1))
    ended = measured.copy()
    # the last two sections hold only background and detector noise, the one before them half the signal
    ended[-3] = background + 0.5 * (measured[-3] - background)
    ended[-2:] = background + 0.01 * rng.standard_normal(ended[-2:].shape)
    ended[:-2] += 0.01 * rng.standard_normal(ended[:-2].shape).astype(np.float32)
    assert find_bad_sections(ended) == []


def test_a_darker_section_in_the_middle_is_corrected_and_kept(em_stack):
    _, measured = em_stack
    darker = knock_out_sections(measured, {7: "dim"})
    with pytest.warns(UserWarning, match="section 7 is off in brightness.*corrected to match its neighbours and kept"):
        acquisition = api.acquisition_for(api.Volume(darker), 4.0)
    assert acquisition.missing == () and [k for k, _, _ in acquisition.corrections] == [7]
    corrected = acquisition.correct(darker)
    assert abs(corrected[7].mean() - measured[7].mean()) < 0.2 * abs(darker[7].mean() - measured[7].mean())
    assert np.array_equal(corrected[[6, 8]], darker[[6, 8]])  # its neighbours are left as they are
    # kept: the restoration reproduces the corrected section exactly, and its structure is the truth's
    out = restore_array(darker, "cubic", acquisition, config=RestoreConfig(consistency=True), runtime=QUIET).volume
    seen = simulate(out, Acquisition(4))
    assert np.abs(seen - corrected).max() < 1e-4
    assert np.corrcoef(seen[7].ravel(), measured[7].ravel())[0, 1] > 0.99


def test_a_blank_section_at_the_end_is_left_out_and_named(em_stack):
    _, measured = em_stack
    with pytest.warns(UserWarning, match=r"section 15 looks missing or damaged \(15 blank\); it is left out"):
        acquisition = api.acquisition_for(api.Volume(knock_out_sections(measured, {15: "blank"})), 4.0)
    assert acquisition.missing == (15,) and acquisition.corrections == ()


def test_corrections_follow_a_block_and_are_applied_once(tmp_path, em_stack):
    _, measured = em_stack
    darker = knock_out_sections(measured, {3: "dim", 9: "dark"})
    acq = Acquisition(4, corrections=((3, 1 / 0.6, 0.0), (9, 4.0, 0.0)))
    assert acq.within(8, 16).corrections == ((1, 4.0, 0.0),)
    whole, blockwise = _whole_and_blockwise(tmp_path, darker, acq)
    assert np.abs(blockwise - whole).max() < 1e-4
    assert np.abs(simulate(whole, Acquisition(4)) - acq.correct(darker)).max() < 1e-4


def _whole_and_blockwise(tmp_path, stack: np.ndarray, acq: Acquisition) -> tuple[np.ndarray, np.ndarray]:
    """Cubic with the projection on the whole stack, and the same from a file in blocks of 8 sections."""
    path = tmp_path / "in.npy"
    np.save(path, stack)
    source = api.open_source(str(path), (4.0, 1.0, 1.0))
    config = RestoreConfig(consistency=True)
    whole = restore_array(stack, "cubic", acq, config=config, runtime=QUIET).volume
    blocks = BlockConfig(blocks=(8, 64, 64), overlap=0, workers=0)
    api.restore(
        source,
        "cubic",
        out=tmp_path / "out.zarr",
        acquisition=acq,
        priors=None,
        config=config,
        blocks=blocks,
        dtype="float32",
        runtime=QUIET,
    )
    return whole, api.read_volume(str(tmp_path / "out.zarr")).data


def test_parse_bad_sections_and_its_errors():
    assert parse_bad_sections("auto") == "auto"
    assert parse_bad_sections("none") == () and parse_bad_sections(None) == ()
    assert parse_bad_sections("27, 14,14-15") == (14, 15, 27)
    with pytest.raises(AxialSRError, match="indices like"):
        parse_bad_sections("fourteen")
    with pytest.raises(AxialSRError, match="outside the stack"):
        api.bad_sections_for(api.Volume(np.zeros((5, 8, 8), np.float32)), "7")


def test_missing_sections_leave_the_others_exactly_consistent_and_the_gap_bridged(em_stack):
    truth, measured = em_stack
    damaged = knock_out_sections(measured, {6: "blank", 7: "blank"})
    acq = Acquisition(4, missing=(6, 7))
    p = measurement_operator(acq, 64, 16).correction
    assert np.all(p[:, [6, 7]] == 0)
    present = acq.present(16)
    assert np.allclose(measurement_operator(acq, 64, 16).matrix[present] @ p[:, present], np.eye(14), atol=1e-8)
    out = restore_array(damaged, "cubic", acq, config=RestoreConfig(consistency=True)).volume
    seen = simulate(out, Acquisition(4))
    assert np.abs(seen[present] - damaged[present]).max() < 1e-4  # the sections that exist: exactly
    assert measurement_operator(acq, len(out), len(damaged)).residual_rms(out, damaged) < 1e-4
    # the gap: bridged, within the range of its neighbours, far closer to the truth than the blank
    gap = slice(24, 32)
    means = out.mean(axis=(1, 2))
    around = np.r_[means[16:24], means[32:40]]
    assert around.min() - 0.02 <= means[gap].min() and means[gap].max() <= around.max() + 0.02
    blanked = restore_array(damaged, "cubic", Acquisition(4), config=RestoreConfig(consistency=True)).volume
    error = np.abs(out[gap] - truth[gap]).mean()
    assert error < 0.5 * np.abs(blanked[gap] - truth[gap]).mean()
    # the slabs beside the gap are not disturbed by it: no overshoot where the band was
    assert np.abs(means[16:24] - truth[16:24].mean(axis=(1, 2))).max() < 0.02


def test_inr_fidelity_never_draws_a_missing_section():
    import torch

    from axialsr.learning.inr_fit import _Sampler

    acq = Acquisition(4, missing=(1, 3))
    sampler = _Sampler(
        32,
        (8, 16, 16),
        measurement_operator(acq, 32, 8).taps(),
        crop=8,
        device=torch.device("cpu"),
        present=acq.present(8),
    )
    _, _, ks, _, _ = sampler.fidelity(np.random.default_rng(0), 500)
    assert set(ks.tolist()) == {0, 2, 4, 5, 6, 7}


def test_training_leaves_missing_sections_out(em_stack):
    from axialsr.learning.prior_training import train_prior

    _, measured = em_stack
    damaged = knock_out_sections(measured, {4: "saturated"})
    cfg = PriorConfig(kind="lateral", preset="tiny", steps=2, axial_blur=0.0)
    kept = train_prior(damaged, cfg, acquisition=Acquisition(4, missing=(4,)), runtime=QUIET)
    assert kept.meta["bad_sections"] == [4]
    assert kept.meta["pair_degradation"]["gaps"] == 1 / 16  # rows go missing as often as sections do
    clean = train_prior(np.delete(measured, 4, axis=0), cfg, acquisition=Acquisition(4), runtime=QUIET)
    # the saturated section would set the top of the intensity range: left out, it does not
    assert kept.normalization.to_dict() == clean.normalization.to_dict()


def test_blockwise_equals_whole_with_gaps_inside_a_block_and_on_its_boundary(tmp_path, em_stack):
    _, measured = em_stack
    damaged = knock_out_sections(measured, {3: "blank", 8: "blank", 9: "duplicate"})
    acq = Acquisition(4, missing=(3, 8, 9))  # 8 | 9 straddle the boundary of the 8-section blocks
    whole, blockwise = _whole_and_blockwise(tmp_path, damaged, acq)
    assert np.abs(blockwise - whole).max() < 1e-4


def test_validate_sections_scores_no_pair_holding_a_missing_section(em_stack):
    from axialsr.settings import ValidationConfig

    _, measured = em_stack
    damaged = knock_out_sections(measured, {5: "blank"})
    config = ValidationConfig(scheme="sections", methods=("cubic",))
    lost = api.validate(api.Volume(damaged), Acquisition(4, missing=(5,)), config=config, runtime=QUIET)
    clean = api.validate(api.Volume(measured), Acquisition(4), config=config, runtime=QUIET)
    blind = api.validate(api.Volume(damaged), Acquisition(4), config=config, runtime=QUIET)
    assert abs(lost.rows[0]["psnr"] - clean.rows[0]["psnr"]) < 1.0
    assert lost.rows[0]["psnr"] > blind.rows[0]["psnr"] + 1.0


def test_cli_names_the_bad_section_and_rejects_one_outside_the_stack(tmp_path, em_stack, cli):
    import tifffile

    _, measured = em_stack
    damaged = knock_out_sections((measured * 255).round().astype(np.uint8), {6: "blank"})
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, damaged)
    code, out, err = cli("baseline", str(source), "--out", str(tmp_path / "iso.tif"), "--factor", "4")
    assert code == 0
    assert "section 6 looks missing or damaged (6 blank)" in out + err
    iso = api.read_volume(str(tmp_path / "iso.tif")).data.astype(float)
    assert iso[24:28].mean() > 0.5 * iso.mean()  # no black band
    code, out, err = cli(
        "baseline", str(source), "--out", str(tmp_path / "iso2.tif"), "--factor", "4", "--bad-sections", "30"
    )
    assert code == 2
    assert "bad section 30 is outside the stack (sections 0-15)" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "iso2.tif").exists()
    code, out, err = cli(
        "baseline", str(source), "--out", str(tmp_path / "iso3.tif"), "--factor", "4", "--bad-sections", "none"
    )
    assert code == 0 and "missing or damaged" not in out + err
    assert api.read_volume(str(tmp_path / "iso3.tif")).data[24:28].mean() < 0.4 * iso.mean()  # the band


def test_run_json_lists_the_bad_sections(tmp_path, em_stack, cli):
    import tifffile

    _, measured = em_stack
    damaged = knock_out_sections((measured * 255).round().astype(np.uint8), {2: "duplicate"})
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, damaged)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, out, err = cli(
            "run",
            str(source),
            "--out",
            str(tmp_path / "iso.tif"),
            "--factor",
            "4",
            "--prior-preset",
            "tiny",
            "--lateral-prior-steps",
            "3",
            "--device",
            "cpu",
        )
    assert code == 0, err
    record = json.loads((tmp_path / "iso.axialsr" / "run.json").read_text())
    assert record["bad_sections"] == [
        {"index": 2, "kind": "duplicate", "detail": "a copy of section 1", "gain": 1.0, "offset": 0.0, "left_out": True}
    ]
    assert record["acquisition"]["missing"] == [2]
    # the time of each stage: 3 steps are too few to time, so no estimate
    assert record["training_seconds"]["lateral"] > 0 and record["restoration_seconds"] > 0
    assert record["training_estimated_seconds"] == {"lateral": None}
    prior = json.loads((tmp_path / "iso.axialsr" / "lateral" / "prior.json").read_text())
    assert prior["bad_sections"] == [2]


def test_lateral_pairs_bridge_rows_as_the_restoration_bridges_sections():
    from axialsr.learning.planes import LateralPairs

    ramp = np.tile(np.arange(64.0, dtype=np.float32)[None, :, None] ** 2, (2, 1, 64))  # rows = y
    pairs = LateralPairs(ramp, Acquisition(4), patch=32, gaps=0.5)
    plain = LateralPairs(ramp, Acquisition(4), patch=32)
    changed = 0
    for seed in range(20):
        r0 = 4 * (seed % 8)
        degraded = pairs._section_like(np.random.default_rng(seed), 0, 0, r0, 0)
        changed += not np.allclose(degraded, plain.inputs[0][0, r0 : r0 + 32, :32], atol=1e-3)
    assert changed > 5  # a bridged row changes the degraded patch (a quadratic is not linear across a gap)
    with pytest.raises(AxialSRError, match="missing row"):
        LateralPairs(ramp, Acquisition(4), patch=32, gaps=1.0)
