"""Real serial sections: the `sections` validation scheme (pairs of sections as the truth), the axial-blur
estimate that says when it cannot tell, and training pairs that look like real sections (noise, jitter,
flicker)."""

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.evaluation.synthetic import make_volume
from axialsr.learning.planes import LateralPairs, SectionPairs, axial_blur_estimate
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.measurement import simulate
from axialsr.operators.noise import section_noise, stack_noise
from axialsr.pipeline.validate import pair_sections, score_sections, validate
from axialsr.settings import PriorConfig, Runtime, ValidationConfig

QUIET = Runtime(device="cpu", progress=False)


@pytest.fixture(scope="module")
def sections():
    """A synthetic stack of 12 'real' sections at factor 2 (so pairs are at factor 4)."""
    truth = make_volume("em", (24, 64, 64), seed=3)
    return simulate(truth, Acquisition(2.0))


def test_pairs_are_the_sections_twice_as_thick(sections):
    thick = simulate(make_volume("em", (24, 64, 64), seed=3), Acquisition(4.0))
    np.testing.assert_allclose(pair_sections(sections), thick, atol=1e-5)
    assert pair_sections(sections[:5]).shape == (2, 64, 64)  # the odd last section is left out
    with pytest.raises(AxialSRError, match="at least 4"):
        pair_sections(sections[:3])


def test_section_scores_reward_the_detail_between_sections(sections):
    acq = Acquisition(4.0)
    pairs = pair_sections(sections)
    perfect = np.repeat(sections, 2, axis=0)  # each section over its 2 output slices
    flat = np.repeat(pairs, 4, axis=0)  # no detail between the sections of a pair
    wrong = np.repeat(pairs[:, None] + (pairs[:, None] - sections.reshape(6, 2, 64, 64)), 2, axis=1).reshape(24, 64, 64)
    best, none, bad = (score_sections(v, sections, acq) for v in (perfect, flat, wrong))
    assert best["detail_r2"] == pytest.approx(1.0) and best["psnr"] > 60
    assert none["detail_r2"] == pytest.approx(0.0, abs=1e-6)
    assert bad["detail_r2"] == pytest.approx(-3.0, abs=1e-4)  # the detail reversed: error twice the detail
    assert best["psnr"] > none["psnr"] > bad["psnr"]
    # sections left out of the scores do not count
    spoiled = perfect.copy()
    spoiled[4:6] += 50
    mask = np.ones(12, bool)
    mask[2] = False
    assert score_sections(spoiled, sections, acq, mask)["psnr"] == best["psnr"]
    with pytest.raises(AxialSRError, match="average"):
        score_sections(perfect, sections, Acquisition(4.0, "gaussian"))


def test_sections_scheme_trains_on_the_pairs_and_scores_real_sections(sections):
    cfg = ValidationConfig(
        scheme="sections",
        methods=("linear", "cubic", "lateral"),
        lateral_prior=PriorConfig(kind="lateral", preset="tiny", steps=40, patch=16),
    )
    result = validate(sections, Acquisition(2.0), None, cfg, runtime=QUIET)
    rows = {r["method"]: r for r in result.rows}
    assert result.scheme == "sections" and result.truth.shape == sections.shape
    assert result.restored["cubic"].shape == (24, 64, 64)  # 6 pairs at factor 4
    for r in rows.values():
        assert 10 < r["psnr"] < 60 and r["detail_r2"] < r["detail_r2_ceiling"] + 1e-9
    assert rows["lateral"]["detail_r2"] > rows["linear"]["detail_r2"]


def test_cli_validate_sections(cli, tmp_path):
    path = tmp_path / "sections.tif"
    sections = simulate(make_volume("em", (24, 64, 64), seed=3), Acquisition(2.0))
    api.write_volume(path, (sections * 255).astype(np.uint8), (16.0, 8.0, 8.0), "nm")
    code, out, err = cli(
        "validate", path, "--scheme", "sections", "--methods", "linear,cubic", "--json", tmp_path / "v.json"
    )
    assert code == 0, err
    assert "validate (sections), factor 4" in out
    rows = json.loads((tmp_path / "v.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"linear", "cubic"} and all("detail_r2" in r for r in rows)


@pytest.mark.parametrize("seed", [0, 1])
def test_axial_blur_estimate_cannot_tell_a_small_blur_at_x10(seed):
    """On EM at x10 with no axial blur, the raw fit can say ~2 px; the estimate must not use it."""
    acq = Acquisition(10.0)
    measured = simulate(make_volume("em", (160, 96, 96), seed=seed), acq)
    estimate = axial_blur_estimate(measured, acq)
    assert not estimate.resolved and estimate.sigma == 0.0
    assert estimate.smallest == pytest.approx(3.3)


def test_axial_blur_estimate_finds_a_confocal_blur():
    acq = Acquisition(4.0)
    truth = ndimage.gaussian_filter1d(make_volume("fluo", (64, 96, 96), seed=0), 2.5, axis=0)
    estimate = axial_blur_estimate(simulate(truth, acq), acq)
    assert estimate.resolved and abs(estimate.sigma - 2.5) <= 0.4 and estimate.spread < 0.3


def test_noise_estimate_sees_white_noise_and_not_edges():
    rng = np.random.default_rng(0)
    edges = np.zeros((128, 128))
    edges[:, 64:] = 100.0
    assert section_noise(edges) == 0.0
    assert section_noise(edges + rng.normal(0, 5, edges.shape)) == pytest.approx(5.0, rel=0.1)
    stack = rng.normal(0, 3, (6, 64, 64))
    assert stack_noise(stack) == pytest.approx(3.0, rel=0.1)


def test_section_like_pairs_get_the_noise_jitter_and_flicker_they_are_given(sections):
    acq = Acquisition(4.0)
    plain = LateralPairs(sections, acq, 16)
    draws = {}
    for name, kwargs in {"noise": {"noise": 0.2}, "jitter": {"jitter": 1.0}, "flicker": {"flicker": 0.1}}.items():
        pairs = LateralPairs(sections, acq, 16, **kwargs)
        rng = np.random.default_rng(0)
        degraded = pairs._section_like(rng, 0, 3, 8, 5)
        draws[name] = degraded - plain.inputs[0][3, 8:24, 5:21]
        target = pairs(np.random.default_rng(1), 4)[1]
        assert np.isin(target[0, 0, 0], plain.targets[0]) or np.isin(target[0, 0, 0], plain.targets[1])
    # each changes the degraded rows, the noise by about what it was given (cubic keeps the rows' variance)
    assert all(np.abs(d).mean() > 1e-3 for d in draws.values())
    assert 0.1 < draws["noise"].std() < 0.3
    # without any of them, the section-like path is the precomputed degradation
    np.testing.assert_allclose(
        plain._section_like(np.random.default_rng(0), 1, 2, 4, 3), plain.inputs[1][2, 4:20, 3:19], atol=1e-5
    )


def test_training_records_the_section_noise(sections):
    acq = Acquisition(2.0)
    measured = api.Volume(sections * 255)
    estimated = api.train_prior(
        measured,
        PriorConfig(kind="lateral", preset="tiny", steps=2, section_noise=None),
        acquisition=acq,
        runtime=QUIET,
    )
    fixed = api.train_prior(
        measured, PriorConfig(kind="lateral", preset="tiny", steps=2, section_noise=6.0), acquisition=acq, runtime=QUIET
    )
    assert estimated.meta["pair_degradation"]["section_noise_estimated"]
    assert fixed.meta["pair_degradation"]["section_noise"] == pytest.approx(6.0)
    # a degraded row of s = 2 rows keeps half the noise variance: it gets the other half
    scale = 2.0 / (fixed.normalization.high - fixed.normalization.low)
    assert fixed.meta["pair_degradation"]["noise"] == pytest.approx(6.0 * scale * np.sqrt(0.5))


@pytest.mark.parametrize("bin", [1, 2])
def test_section_pairs_target_the_measured_sections_of_their_rows(bin):
    """Every patch's targets are the sections its rows measure (a truth that varies along z only, so
    any misplaced start shows; on the grid of the binned pixel), the input is the cubic of the pair means,
    and a pair holding a missing section is no target."""
    rows = np.sin(np.arange(96) / 3.0) + 0.1 * np.arange(96)
    truth = np.broadcast_to(rows[:, None, None], (96, 80, 80)).astype(np.float32)
    acq = Acquisition(4.0, missing=(5,))
    measured = simulate(truth, acq)
    pairs = SectionPairs(measured, acq, patch=32, bin=bin)
    inputs, targets, valid = pairs(np.random.default_rng(0), 12)
    grid = rows.reshape(-1, bin).mean(axis=1)  # the truth on the output grid of the binned pixel
    matrix = pairs.matrix()
    expected = {int(r0): matrix @ grid[r0 : r0 + pairs.rows] for r0 in pairs.starts}
    for target, keep in zip(targets, valid, strict=True):
        column = target[:, 0]
        r0 = min(expected, key=lambda r: np.abs(expected[r] - column)[keep].max())
        np.testing.assert_allclose(column[keep], expected[r0][keep], atol=1e-5)
        first = int(round(r0 / (4 / bin)))
        assert keep.tolist() == [(first + k) // 2 != 2 for k in range(len(keep))]  # sections 4, 5
    assert np.ptp(inputs, axis=2).max() < 1e-5  # planes constant along their columns stay so
    with pytest.raises(AxialSRError, match="too few"):
        SectionPairs(measured[:3], Acquisition(4.0), patch=32, bin=bin)


def test_training_with_section_pairs_uses_them():
    truth = make_volume("em", (64, 48, 48), seed=1)
    acq = Acquisition(4.0, missing=(3,))
    measured = simulate(truth, acq)
    base = PriorConfig(kind="lateral", preset="tiny", steps=4, section_pairs=0.0)
    plain = api.train_prior(api.Volume(measured), base, acquisition=acq, runtime=QUIET)
    mixed = api.train_prior(api.Volume(measured), replace(base, section_pairs=0.5), acquisition=acq, runtime=QUIET)
    assert np.all(np.isfinite(mixed.losses)) and mixed.losses != plain.losses
    assert mixed.meta["section_pairs"] and not plain.meta["section_pairs"]
    # the uncertainty's floor is the lateral pairs' error, not the mixed loss
    assert mixed.meta["pair_rmse"] != pytest.approx(float(np.sqrt(np.mean(mixed.losses))))
    # sparse fluorescence (no slab phase) trains on lateral pairs alone, exactly as without them
    sparse = simulate(make_volume("fluo", (64, 48, 48), seed=1), acq)
    alone = api.train_prior(api.Volume(sparse), base, acquisition=acq, runtime=QUIET)
    asked = api.train_prior(api.Volume(sparse), replace(base, section_pairs=0.5), acquisition=acq, runtime=QUIET)
    assert not asked.meta["section_pairs"] and asked.losses == alone.losses
    with pytest.raises(AxialSRError, match="section_pairs"):
        PriorConfig(kind="lateral", section_pairs=1.0)
