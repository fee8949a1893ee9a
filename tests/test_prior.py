import json

import numpy as np
import pytest
import torch

from axialsr.errors import AxialSRError
from axialsr.prior import CHECKPOINT_FILE, Prior, PriorConfig, loss_trend, train_prior


def _cfg(**kw) -> PriorConfig:
    return PriorConfig(preset="tiny", device="cpu", checkpoint_every=1000, **kw)


def test_training_loss_falls(em_small):
    prior = train_prior(em_small, _cfg(steps=80), progress=False)
    first, last = loss_trend(prior.losses, window=15)
    assert last < 0.8 * first


def test_save_load_round_trip_gives_identical_predictions(tmp_path, em_small):
    prior = train_prior(em_small, _cfg(steps=5), out_dir=tmp_path / "p", progress=False)
    loaded = Prior.load(tmp_path / "p")
    x = torch.randn(3, 1, prior.patch, prior.patch, generator=torch.Generator().manual_seed(0))
    t = torch.tensor([10, 500, 900])
    with torch.no_grad():
        torch.testing.assert_close(prior.predict_noise(x, t), loaded.predict_noise(x, t), rtol=0, atol=0)
    assert loaded.meta["steps_trained"] == 5
    assert loaded.normalization == prior.normalization


def test_resume_equals_uninterrupted(tmp_path, em_small):
    full = train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "a", progress=False)
    train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "b", stop_after=3, progress=False)
    assert (tmp_path / "b" / CHECKPOINT_FILE).exists() and not (tmp_path / "b" / "prior.json").exists()
    resumed = train_prior(em_small, _cfg(steps=8), out_dir=tmp_path / "b", resume=True, progress=False)
    for (name, a), b in zip(full.unet.state_dict().items(), resumed.unet.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert len(resumed.losses) == 8 and resumed.losses == full.losses


def test_corrupt_or_mismatched_prior_is_a_clear_error(tmp_path, em_small):
    train_prior(em_small, _cfg(steps=2), out_dir=tmp_path / "p", progress=False)
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


def test_sampling_shape_and_range(em_small):
    prior = train_prior(em_small, _cfg(steps=2), progress=False)
    samples = prior.sample(2, steps=3, progress=False)
    assert samples.shape == (2, prior.patch, prior.patch)
    assert np.all(np.abs(samples) <= 1)
