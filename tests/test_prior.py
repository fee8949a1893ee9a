"""Priors of every kind: training learns, save/load, resume, sampling, the lateral regressor and the
conditional model."""

import json

import numpy as np
import pytest
import torch

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.learning.planes import LateralPairs
from axialsr.learning.prior_training import CHECKPOINT_FILE, loss_trend, train_prior
from axialsr.learning.priors import DiffusionPrior, LateralRegressor, Prior
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import measurement_operator, simulate
from axialsr.settings import PriorConfig, Runtime, identity

QUIET = Runtime(device="cpu", progress=False)


def _cfg(**kw) -> PriorConfig:
    return PriorConfig(**{"preset": "tiny", **kw})


@pytest.fixture(scope="module")
def measured(em_small):
    return simulate(em_small, Acquisition(4))  # (8, 48, 48)


def test_training_loss_falls(em_small):
    prior = train_prior(em_small, _cfg(steps=80), runtime=QUIET)
    first, last = loss_trend(prior.losses, window=15)
    assert last < 0.8 * first


def test_save_load_round_trip_gives_identical_predictions(tmp_path, em_small):
    prior = train_prior(em_small, _cfg(steps=5), out_dir=tmp_path / "p", runtime=QUIET)
    loaded = Prior.load(tmp_path / "p")
    x = torch.randn(3, 1, prior.patch, prior.patch, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([10, 500, 900])
    with torch.no_grad():
        torch.testing.assert_close(prior.predict_noise(x, t), loaded.predict_noise(x, t), rtol=0, atol=0)
    assert loaded.meta["steps_trained"] == 5 and loaded.kind == "diffusion"
    assert loaded.normalization == prior.normalization


def test_resume_equals_uninterrupted_even_on_another_device_setting(tmp_path, em_small):
    full = train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "a", runtime=QUIET)
    train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "b", stop_after=3, runtime=QUIET)
    assert (tmp_path / "b" / CHECKPOINT_FILE).exists() and not (tmp_path / "b" / "prior.json").exists()
    # the device and the checkpoint cadence are runtime settings: they do not stop a resume
    elsewhere = Runtime(device="auto", progress=False, checkpoint_every=2)
    resumed = train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "b", resume=True, runtime=elsewhere)
    for (name, a), b in zip(full.unet.state_dict().items(), resumed.unet.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert len(resumed.losses) == 8 and resumed.losses == full.losses
    train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "c", stop_after=3, runtime=QUIET)
    with pytest.raises(AxialSRError, match="other settings"):
        train_prior(em_small, _cfg(steps=8, lr=1e-4), out_dir=tmp_path / "c", resume=True, runtime=QUIET)
    with pytest.raises(AxialSRError, match="other settings"):  # another seed is another result
        train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "c", resume=True, runtime=QUIET.offset(1))


def test_corrupt_or_mismatched_prior_is_a_clear_error(tmp_path, em_small):
    train_prior(em_small, _cfg(steps=2), out_dir=tmp_path / "p", runtime=QUIET)
    weights = tmp_path / "p" / "prior.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(AxialSRError, match="corrupt"):
        Prior.load(tmp_path / "p")
    weights.write_bytes(good)
    meta = json.loads((tmp_path / "p" / "prior.json").read_text())
    meta["unet"]["block_out_channels"] = [16, 32]
    (tmp_path / "p" / "prior.json").write_text(json.dumps(meta))
    with pytest.raises(AxialSRError, match="does not match"):
        Prior.load(tmp_path / "p")
    with pytest.raises(AxialSRError, match="not a prior folder"):
        Prior.load(tmp_path / "nothing")


def test_sampling_is_seeded_and_draws_different_patches(em_small):
    prior = train_prior(em_small, _cfg(steps=20), runtime=QUIET)
    a = prior.sample(3, steps=4, seed=1, progress=False)
    b = prior.sample(3, steps=4, seed=1, progress=False)
    c = prior.sample(3, steps=4, seed=2, progress=False)
    assert a.shape == (3, prior.patch, prior.patch)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).mean() > 0.05 and np.abs(a[0] - a[1]).mean() > 0.05


def test_config_none_takes_the_preset_and_zero_stays_zero():
    cfg = PriorConfig(preset="small", kind="lateral").resolved()
    assert (cfg.patch, cfg.steps, cfg.projection) == (64, 2400, "h2")
    assert PriorConfig(preset="small", steps=0).resolved().steps == 0
    assert PriorConfig(preset="small").resolved().patch == 32
    assert PriorConfig().resolved().preset == "small" and PriorConfig().resolved(gpu=True).preset == "base"
    with pytest.raises(AxialSRError, match="kind"):
        PriorConfig(kind="gan")
    with pytest.raises(AxialSRError, match="bin_xy"):
        PriorConfig(kind="lateral", bin_xy=2)
    assert "device" not in identity(PriorConfig()) and "seed" not in identity(PriorConfig())  # both: runtime


def test_lateral_regressor_learns_to_undo_the_degradation(measured):
    acq = Acquisition(4)
    prior = train_prior(measured, _cfg(kind="lateral", steps=250, patch=16, lr=1e-2), acquisition=acq, runtime=QUIET)
    assert isinstance(prior, LateralRegressor) and prior.kind == "lateral" and prior.acquisition == acq
    data = prior.normalization.forward(measured)
    degraded, target = LateralPairs(data, acq, 16)(np.random.default_rng(7), 64)
    with torch.no_grad():
        restored = prior.regress(torch.from_numpy(degraded)[:, None])[:, 0].numpy()
    # scored as restorations are (and as the default consistent loss trains it): after the projection onto
    # the pair's measurements, which leaves (I - P A) of the error along the degraded axis
    error_kept = measurement_operator(acq, 16).error_operator()
    before = np.mean(np.einsum("rk,bkl->brl", error_kept, degraded - target) ** 2)
    after = np.mean(np.einsum("rk,bkl->brl", error_kept, restored - target) ** 2)
    assert after < 0.93 * before, (before, after)
    # any plane size works (the regressor pads internally)
    odd = torch.zeros(2, 1, 19, 23)
    assert prior.regress(odd).shape == odd.shape
    with pytest.raises(AxialSRError, match="factor 8"):
        prior.check_acquisition(Acquisition(8))


def test_lateral_regressor_sees_each_rows_place_in_its_slab(measured):
    from axialsr.learning.networks import LateralUNet

    acq = Acquisition(4)
    prior = train_prior(measured, _cfg(kind="lateral", steps=1), acquisition=acq, runtime=QUIET)
    assert prior.meta["unet"]["slab"] == 4.0
    blind = train_prior(measured, _cfg(kind="lateral", steps=1, slab_phase=False), acquisition=acq, runtime=QUIET)
    assert "slab" not in blind.meta["unet"]
    # auto: none where the pairs use an axial blur (a truth smooth at the slab scale), unless asked for
    blurred = train_prior(measured, _cfg(kind="lateral", steps=1, axial_blur=1.5), acquisition=acq, runtime=QUIET)
    assert "slab" not in blurred.meta["unet"]
    asked = _cfg(kind="lateral", steps=1, axial_blur=1.5, slab_phase="on")
    assert train_prior(measured, asked, acquisition=acq, runtime=QUIET).meta["unet"]["slab"] == 4.0
    # auto: none on sparse fluorescence (bright objects on a dark background), where it made steps
    fluo = simulate(api.synth("fluo", (32, 48, 48), seed=1, dtype="float32").data, acq)
    sparse = train_prior(fluo, _cfg(kind="lateral", steps=1, axial_blur=0.0), acquisition=acq, runtime=QUIET)
    assert "slab" not in sparse.meta["unet"]
    with pytest.raises(AxialSRError, match="slab phase"):
        _cfg(kind="lateral", slab_phase="sometimes")
    torch.manual_seed(0)
    uniform = torch.ones(1, 1, 48, 48)
    inner = slice(10, 38)  # beyond the receptive field's reach of the image edges
    with torch.no_grad():
        seeing = LateralUNet((8, 16), slab=4.0)(uniform)[0, 0, :, inner]
        plain = LateralUNet((8, 16))(uniform)[0, 0, :, inner]
    # a uniform plane: the plain network's output is the same on every inner row; the slab-aware one's
    # changes within a slab and repeats with the slab
    assert torch.allclose(plain[10:14], plain[14:18], atol=1e-6)
    assert (seeing[10:14] - seeing[11:15]).abs().max() > 1e-3
    assert torch.allclose(seeing[10:34], seeing[14:38], atol=1e-5)


def test_patches_start_on_slab_boundaries_only_for_a_regressor_that_sees_the_phase():
    from axialsr.learning.planes import LateralPairs

    rows = np.broadcast_to(np.arange(64, dtype=np.float32)[None, :, None], (4, 64, 64))  # each pixel: its y

    def starts(pairs) -> set[int]:  # the row each patch degraded along y starts at, within its slab
        _, targets = pairs(np.random.default_rng(1), 64)
        return {int(t[:, 0].min()) % 4 for t in targets if np.ptp(t[:, 0]) > 0}

    aligned = LateralPairs(rows, Acquisition(4), patch=16)
    blind = LateralPairs(rows, Acquisition(4), patch=16, aligned=False)
    assert starts(aligned) == {0} and starts(blind) == {0, 1, 2, 3}


def test_conditional_prior_uses_its_condition_and_guidance_mixes(measured):
    acq = Acquisition(4)
    prior = train_prior(measured, _cfg(kind="conditional", steps=30), acquisition=acq, runtime=QUIET)
    assert isinstance(prior, DiffusionPrior) and prior.conditional and prior.meta["in_channels"] == 2
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 16, 16, generator=gen)
    cond = torch.randn(2, 1, 16, 16, generator=gen)
    t = torch.tensor([100, 600])
    with torch.no_grad():
        eps_c = prior.predict_noise(x, t, cond)
        eps_u = prior.predict_noise(x, t)
        eps_g = prior.predict_noise(x, t, cond, guidance=2.5)
    assert (eps_c - eps_u).abs().mean() > 1e-4
    torch.testing.assert_close(eps_g, eps_u + 2.5 * (eps_c - eps_u), rtol=1e-5, atol=1e-5)
    samples = prior.sample(2, steps=3, seed=0, progress=False, condition=cond[:, 0].numpy())
    assert samples.shape == (2, 16, 16)
    with pytest.raises(AxialSRError, match="acquisition"):
        train_prior(measured, _cfg(kind="lateral", steps=1), runtime=QUIET)


def test_pair_priors_record_the_estimated_axial_blur(em_small):
    acq = Acquisition(4)
    measured = simulate(em_small, acq)
    prior = train_prior(measured, _cfg(kind="lateral", steps=1), acquisition=acq, runtime=QUIET)
    assert prior.axial_blur == pytest.approx(prior.meta["axial_blur"]) and prior.axial_blur >= 0
    fixed = train_prior(measured, _cfg(kind="lateral", steps=1, axial_blur=1.5), acquisition=acq, runtime=QUIET)
    assert fixed.axial_blur == 1.5
    assert Normalization(**fixed.meta["normalization"]) == Normalization.fit(measured)


def test_training_says_how_long_the_rest_will_take(measured, monkeypatch, capsys):
    from axialsr.learning import loop as trainer

    monkeypatch.setattr(trainer, "ESTIMATE_MIN_SECONDS", 0.0)  # a tiny prior: announce even a short rest
    cfg = _cfg(kind="lateral", steps=30)
    prior = train_prior(measured, cfg, acquisition=Acquisition(4), runtime=Runtime(device="cpu", precision="fp32"))
    said = capsys.readouterr()
    line = next(x for x in (said.out + said.err).splitlines() if "more on this machine" in x)
    assert line.startswith("training lateral prior: 30 steps on cpu (fp32), about ") and "quicker first look" in line
    # the estimate is the pace of steps 4-23 times the 7 steps left: within a factor of the time they took
    estimate = prior.meta["estimated_seconds"]
    assert 0 < estimate < prior.meta["seconds"]


def test_a_pretrained_start_is_where_fine_tuning_begins(tmp_path):
    from axialsr.evaluation.synthetic import em_neuropil, fluorescence_nuclei
    from axialsr.learning.pretraining import load_start, pretrain_lateral, save_start

    quiet = Runtime(device="cpu", progress=False)
    cfg = PriorConfig(kind="lateral", preset="tiny", steps=3)
    start = pretrain_lateral([em_neuropil((8, 40, 40), seed=0)], (4.0, 5.0), cfg, runtime=quiet)
    path = save_start(start, tmp_path / "start.pt")
    assert load_start(path)["meta"]["factors"] == [4.0, 5.0]
    acq = Acquisition(4.0)
    stack = simulate(em_neuropil((48, 40, 40), seed=1), acq)
    # no step: the prior is the start itself; a step moves it
    tuned = train_prior(
        stack, PriorConfig(kind="lateral", preset="tiny", steps=0, start=str(path)), acquisition=acq, runtime=quiet
    )
    for name, value in start["state"].items():
        assert torch.equal(tuned.unet.state_dict()[name].cpu(), value), name
    assert PriorConfig(kind="lateral", preset="tiny", start=str(path)).resolved().steps == 20  # fine_tune_steps
    sparse = simulate(fluorescence_nuclei((48, 40, 40), seed=0), acq)
    with pytest.raises(AxialSRError, match="slab phase"):
        train_prior(
            sparse, PriorConfig(kind="lateral", preset="tiny", steps=1, start=str(path)), acquisition=acq, runtime=quiet
        )
    with pytest.raises(AxialSRError, match="not a pretrained start"):
        torch.save({"meta": {}}, tmp_path / "other.pt")
        train_prior(
            stack,
            PriorConfig(kind="lateral", preset="tiny", start=str(tmp_path / "other.pt")),
            acquisition=acq,
            runtime=quiet,
        )


def test_the_packaged_start_is_used_where_it_applies(tmp_path, monkeypatch):
    from axialsr.evaluation.synthetic import em_neuropil, fluorescence_nuclei
    from axialsr.learning import pretraining
    from axialsr.learning.pretraining import pretrain_lateral, save_start

    quiet = Runtime(device="cpu", progress=False)
    start = pretrain_lateral(
        [em_neuropil((8, 40, 40), seed=0)], (4.0,), PriorConfig(kind="lateral", preset="tiny", steps=2), runtime=quiet
    )
    path = save_start(start, tmp_path / "start.pt")
    monkeypatch.setattr(pretraining, "packaged_start", lambda: path)
    monkeypatch.setattr("axialsr.learning.prior_training.packaged_start", lambda: path)
    acq = Acquisition(4.0)
    em = simulate(em_neuropil((48, 40, 40), seed=1), acq)
    fluo = simulate(fluorescence_nuclei((48, 40, 40), seed=0), acq)
    auto = PriorConfig(kind="lateral", preset="tiny")
    tuned = train_prior(em, auto, acquisition=acq, runtime=quiet)
    assert tuned.meta["steps_trained"] == 20 and tuned.meta["start"] == "start.pt"  # the tiny fine_tune_steps
    scratch = train_prior(em, PriorConfig(kind="lateral", preset="tiny", start="none"), acquisition=acq, runtime=quiet)
    assert scratch.meta["steps_trained"] == 60 and scratch.meta["start"] is None
    sparse = train_prior(fluo, auto, acquisition=acq, runtime=quiet)  # no slab phase: from scratch
    assert sparse.meta["steps_trained"] == 60 and sparse.meta["start"] is None
