"""Training a prior (any kind, see `axialsr.prior`) on the XY slices of the input itself.

One loop serves every kind; only the batch and the loss differ:

- `diffusion`: random XY patches with the 8 flips/90-degree rotations; epsilon-prediction MSE, noise
  added by the scheduler (`DDPMScheduler.add_noise`).
- `conditional`: lateral pairs (`axialsr.lateral.LateralPairs`); the degraded patch is a second input
  channel, replaced by zeros `condition_dropout` of the time.
- `lateral`: lateral pairs; MSE between the regressor's output and the measured patch.

AdamW with a linear warm-up (then constant for `diffusion`, cosine decay for the pair kinds), gradient
clipping and an EMA of the weights, which is what the saved prior holds. With an output folder, a
checkpoint (model, EMA, optimiser and RNG states) is written every `checkpoint_every` steps and at the
end, so `resume` continues to the same result as an uninterrupted run; `loss.jsonl` holds the curve.
"""

from __future__ import annotations

import json
import os
import time
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.acquisition import Acquisition
from axialsr.consistency import DEFAULT_PROJECTION, check_projection, projection_error_operator
from axialsr.device import resolve_device
from axialsr.errors import AxialSRError
from axialsr.intensity import Normalization
from axialsr.interrupts import RunInterruptedError, deferred_interrupt, report_step, stop_message
from axialsr.io import atomic_write, write_text_atomic
from axialsr.lateral import LateralPairs, estimate_axial_blur
from axialsr.prior import (
    PRESETS,
    PRIOR_FORMAT,
    PRIOR_FORMAT_VERSION,
    PRIOR_KINDS,
    Prior,
    make_scheduler,
    make_unet,
)

CHECKPOINT_FILE = "checkpoint.pt"
LOSS_FILE = "loss.jsonl"
PAIR_KINDS = ("conditional", "lateral")


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class PriorConfig:
    """How to train a prior. Fields left None take the preset's value for the kind (see
    `axialsr.prior.PRESETS`); sizes in (binned) pixels. `device` and `checkpoint_every` are runtime
    settings: a checkpoint resumes under other values of them."""

    kind: str = field(default="diffusion", metadata=_help("diffusion, conditional or lateral (see axialsr.prior)."))
    preset: str = field(default="small", metadata=_help("Network size: tiny (tests), small (CPU), base (GPU)."))
    patch: int | None = field(default=None, metadata=_help("Training patch size in pixels (default: the preset's)."))
    steps: int | None = field(default=None, metadata=_help("Training steps (default: the preset's for the kind)."))
    batch: int | None = field(default=None, metadata=_help("Patches per step (default: the preset's)."))
    lr: float | None = field(default=None, metadata=_help("Peak learning rate (default: the preset's)."))
    ema_decay: float = field(default=0.999, metadata=_help("Decay of the EMA of the weights that is saved."))
    bin_xy: int = field(
        default=1, metadata=_help("Average-pool XY by this factor first (diffusion kind only).", flag="bin")
    )
    axial_blur: float | None = field(
        default=None,
        metadata=_help(
            "Extra axial blur (Gaussian sigma, pixels) given to the lateral targets; default: estimated "
            "from the data (pair kinds)."
        ),
    )
    condition_dropout: float = field(
        default=0.1, metadata=_help("Fraction of steps without the condition (conditional kind).")
    )
    consistent_loss: bool = field(
        default=True,
        metadata=_help(
            "Lateral kind: score the output after the projection onto the pair's measurements, as restorations "
            "are scored (the network then spends itself on what the projection cannot fix)."
        ),
    )
    projection: str = field(
        default=DEFAULT_PROJECTION,
        metadata=_help(
            "Lateral kind, consistent loss: the projection onto the measurements it learns for: h2 (smooth "
            "along z), h1, or l2 (a constant per slab). Use the one restorations will use."
        ),
    )
    timesteps: int = field(default=1000, metadata=_help("Diffusion timesteps.", internal=True))
    beta_schedule: str = field(default="squaredcos_cap_v2", metadata=_help("Noise schedule.", internal=True))
    warmup_steps: int = field(default=100, metadata=_help("Linear learning-rate warm-up steps.", internal=True))
    unet: dict = field(default_factory=dict, metadata=_help("UNet2DModel overrides.", internal=True))
    seed: int = field(default=0, metadata=_help("Random seed."))
    device: str = field(default="auto", metadata=_help("auto, cpu or cuda.", runtime=True))
    checkpoint_every: int = field(default=250, metadata=_help("Steps between checkpoints.", runtime=True))
    checkpoint_seconds: float = field(
        default=300.0, metadata=_help("Also checkpoint after this many seconds since the last one.", runtime=True)
    )

    def __post_init__(self) -> None:
        if self.kind not in PRIOR_KINDS:
            raise AxialSRError(f"prior kind must be one of {PRIOR_KINDS}, got '{self.kind}'")
        if self.preset not in PRESETS:
            raise AxialSRError(f"unknown prior preset '{self.preset}'; choose one of {list(PRESETS)}")
        for name in ("patch", "steps", "batch"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "steps" else 1):
                raise AxialSRError(f"prior {name} must be positive, got {value}")
        if self.lr is not None and not self.lr > 0:
            raise AxialSRError(f"prior lr must be > 0, got {self.lr}")
        if self.bin_xy < 1:
            raise AxialSRError(f"bin_xy must be >= 1, got {self.bin_xy}")
        if self.bin_xy > 1 and self.kind != "diffusion":
            raise AxialSRError("bin_xy > 1 is for the diffusion kind; pair kinds work at the lateral pixel")
        if self.axial_blur is not None and self.axial_blur < 0:
            raise AxialSRError(f"axial_blur must be >= 0, got {self.axial_blur}")
        if not 0 <= self.condition_dropout < 1:
            raise AxialSRError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.checkpoint_every < 1:
            raise AxialSRError(f"checkpoint_every must be >= 1, got {self.checkpoint_every}")
        check_projection(self.projection)

    def resolved(self) -> PriorConfig:
        """A copy with every None replaced by the preset's value for this kind (0 steps stays 0)."""
        p = PRESETS[self.preset]
        cfg = replace(
            self,
            patch=self.patch if self.patch is not None else p["lateral_patch" if self.kind == "lateral" else "patch"],
            steps=self.steps if self.steps is not None else p["steps"][self.kind],
            batch=self.batch if self.batch is not None else p["batch"],
            lr=self.lr if self.lr is not None else p["lr"],
            unet={**p["lateral_unet" if self.kind == "lateral" else "unet"], **self.unet},
        )
        levels = len(cfg.unet.get("block_out_channels") or cfg.unet["channels"])
        if cfg.patch % 2 ** (levels - 1):
            raise AxialSRError(f"patch {cfg.patch} must be divisible by {2 ** (levels - 1)} for this UNet")
        return cfg

    def identity(self) -> dict:
        """What a checkpoint must match to be resumed: every field but the runtime ones."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("runtime")} | {
            "unet": json.loads(json.dumps(self.unet))
        }


def _library_versions() -> dict[str, str]:
    import diffusers

    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "numpy": np.__version__}


def _learning_rate(step: int, cfg: PriorConfig) -> float:
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if cfg.kind == "diffusion":
        return cfg.lr * warm
    return cfg.lr * warm * 0.5 * (1 + np.cos(np.pi * step / max(1, cfg.steps)))


class _XYPatches:
    """Random (P, P) XY patches of a normalised (Z, Y, X) volume with the 8 flips/90-degree rotations."""

    def __init__(self, volume: np.ndarray, patch: int) -> None:
        if volume.shape[1] < patch or volume.shape[2] < patch:
            raise AxialSRError(f"XY size {volume.shape[1:]} is smaller than the prior's patch {patch}; use --patch")
        self.volume = volume
        self.patch = patch

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z_n, y_n, x_n = self.volume.shape
        zs = rng.integers(0, z_n, n)
        ys = rng.integers(0, y_n - self.patch + 1, n)
        xs = rng.integers(0, x_n - self.patch + 1, n)
        rots = rng.integers(0, 4, n)
        flips = rng.integers(0, 2, n)
        out = np.empty((n, self.patch, self.patch), dtype=np.float32)
        for i in range(n):
            p = self.volume[zs[i], ys[i] : ys[i] + self.patch, xs[i] : xs[i] + self.patch]
            p = np.rot90(p, rots[i])
            out[i] = p[:, ::-1] if flips[i] else p
        return out


def xy_patches(volume: np.ndarray, patch: int, n: int, seed: int = 0, bin_factor: int = 1) -> np.ndarray:
    """`n` random XY patches (n, P, P) of a normalised volume, binned like a prior's training data."""
    return _XYPatches(bin_xy(volume, bin_factor), patch)(np.random.default_rng(seed), n)


def bin_xy(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool a (Z, Y, X) volume by `factor` in Y and X (cropping the remainder)."""
    if factor == 1:
        return volume
    z, y, x = volume.shape
    y2, x2 = y // factor * factor, x // factor * factor
    v = volume[:, :y2, :x2].reshape(z, y2 // factor, factor, x2 // factor, factor)
    return v.mean(axis=(2, 4)).astype(volume.dtype)


def train_prior(
    volume: np.ndarray,
    config: PriorConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    pixel_size: float | None = None,
    acquisition: Acquisition | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> Prior:
    """Train a prior on the XY slices of `volume` (Z, Y, X; any dtype, input units).

    Parameters
    ----------
    volume : ndarray
        The measured (anisotropic) stack; its XY slices are the training data.
    config : PriorConfig, optional
        Kind, size and training settings (default: an unconditional `small` diffusion prior).
    out_dir : path, optional
        Folder for checkpoints, the loss curve and the final prior.
    resume : bool
        Continue from `out_dir`'s checkpoint (same settings required).
    pixel_size : float, optional
        Lateral pixel size, recorded in the prior.
    acquisition : Acquisition, optional
        Required for the pair kinds (`conditional`, `lateral`): how z was measured, applied along y/x.
    stop_after : int, optional
        End after this many steps in total (an interruption, for tests).
    progress : bool
        Show a progress bar.

    Returns
    -------
    Prior
        With its EMA weights; `prior.losses` holds the loss per step.
    """
    cfg = (config or PriorConfig()).resolved()
    pair = cfg.kind in PAIR_KINDS
    if pair and acquisition is None:
        raise AxialSRError(f"a {cfg.kind} prior learns to undo the acquisition: give the acquisition (factor, model)")
    device = resolve_device(cfg.device)
    out_path = Path(out_dir) if out_dir is not None else None
    ckpt_path = out_path / CHECKPOINT_FILE if out_path else None

    normalization = Normalization.fit(volume)
    data = normalization.forward(volume)
    axial_blur = None
    null_space = None
    if pair:
        axial_blur = cfg.axial_blur if cfg.axial_blur is not None else estimate_axial_blur(data, acquisition)
        pairs = LateralPairs(data, acquisition, cfg.patch, axial_blur)
        if cfg.consistent_loss and cfg.kind == "lateral":
            operator = projection_error_operator(acquisition, cfg.patch, cfg.projection)
            null_space = torch.from_numpy(operator.astype(np.float32)).to(device)
    else:
        patches = _XYPatches(bin_xy(data, cfg.bin_xy), cfg.patch)

    torch.manual_seed(cfg.seed)
    in_channels = 2 if cfg.kind == "conditional" else 1
    unet = make_unet(cfg.unet, cfg.patch, in_channels, cfg.kind).to(device)
    ema = make_unet(cfg.unet, cfg.patch, in_channels, cfg.kind).to(device)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-4)
    scheduler = make_scheduler(cfg.timesteps, cfg.beta_schedule)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    step = 0
    losses: list[float] = []

    if resume and ckpt_path is not None and not ckpt_path.is_file():
        warnings.warn(f"no training checkpoint in {out_path}: training from the beginning", stacklevel=2)
    if resume and ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if state["config"] != cfg.identity():
            raise AxialSRError(f"{ckpt_path} was written with other settings; start afresh without resume")
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        gen.set_state(state["torch_rng"])
        step = state["step"]
        losses = state["losses"]

    meta = {
        "format": PRIOR_FORMAT,
        "format_version": PRIOR_FORMAT_VERSION,
        "kind": cfg.kind,
        "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.unet.items()},
        "in_channels": in_channels,
        "patch": cfg.patch,
        "timesteps": cfg.timesteps,
        "beta_schedule": cfg.beta_schedule,
        "prediction_type": "sample" if cfg.kind == "lateral" else "epsilon",
        "pixel_size": None if pixel_size is None else pixel_size * cfg.bin_xy,
        "bin_xy": cfg.bin_xy,
        "normalization": normalization.to_dict(),
        "acquisition": None
        if acquisition is None or not pair
        else {"factor": acquisition.factor, "model": acquisition.model, "fwhm": acquisition.fwhm},
        "axial_blur": axial_blur,
        "training": asdict(cfg),
        "libraries": _library_versions(),
    }

    def save_checkpoint() -> None:
        if ckpt_path is None:
            return
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(
            out_path / LOSS_FILE, "".join(json.dumps({"step": i + 1, "loss": v}) + "\n" for i, v in enumerate(losses))
        )
        state = {
            "config": cfg.identity(),
            "step": step,
            "unet": unet.state_dict(),
            "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
            "numpy_rng": rng.bit_generator.state,
            "torch_rng": gen.get_state(),
            "losses": losses,
        }
        with atomic_write(ckpt_path) as tmp:
            torch.save(state, tmp)

    def batch_loss() -> torch.Tensor:
        if cfg.kind == "diffusion":
            x0 = torch.from_numpy(patches(rng, cfg.batch)).unsqueeze(1).to(device)
            cond = None
        else:
            degraded, target = pairs(rng, cfg.batch)
            cond = torch.from_numpy(degraded).unsqueeze(1).to(device)
            x0 = torch.from_numpy(target).unsqueeze(1).to(device)
            if cfg.kind == "lateral":
                residual = unet(cond) - x0
                if null_space is not None:  # (I - P A) along rows: the part the projection leaves
                    residual = torch.einsum("rk,bckl->bcrl", null_space, residual)
                return (residual**2).mean()
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, cfg.timesteps, (cfg.batch,), generator=gen).to(device)
        x_t = scheduler.add_noise(x0, noise, t)
        if cond is not None:
            keep = (torch.rand(cfg.batch, generator=gen) >= cfg.condition_dropout).to(device, x0.dtype)
            x_t = torch.cat([x_t, cond * keep.view(-1, 1, 1, 1)], 1)
        return torch.nn.functional.mse_loss(unet(x_t, t).sample, noise)

    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    unet.train()
    bar = tqdm(
        total=cfg.steps,
        initial=step,
        desc=f"training {cfg.kind} prior",
        disable=not progress,
        unit="step",
        mininterval=2.0,
    )
    started = time.perf_counter()
    last_save = time.monotonic()
    with deferred_interrupt() as stop:
        while step < end:
            loss = batch_loss()
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, cfg)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimizer.step()
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, p in zip(ema.parameters(), unet.parameters(), strict=True):
                    pe.lerp_(p, 1 - decay)
            step += 1
            losses.append(loss.item())
            bar.update(1)
            report_step(f"training {cfg.kind} prior", step, cfg.steps)
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3g}", refresh=False)
            due = time.monotonic() - last_save > cfg.checkpoint_seconds
            if step % cfg.checkpoint_every == 0 or step == end or due or stop.requested:
                save_checkpoint()
                last_save = time.monotonic()
            if stop.requested:
                bar.close()
                raise RunInterruptedError(stop_message("step", step, cfg.steps, out_path))
    bar.close()
    meta["steps_trained"] = step
    meta["seconds"] = time.perf_counter() - started
    if cfg.kind == "lateral" and losses:
        # RMS error (normalised units) on the training pairs, after the projection with the consistent loss:
        # the floor of the uncertainty, the error no disagreement between views reveals
        meta["pair_rmse"] = float(np.sqrt(np.mean(losses[-50:])))
    prior = Prior(ema, meta, device)
    if out_path is not None and step >= cfg.steps:
        prior.save(out_path)
    prior.losses = losses
    return prior


def loss_trend(losses: list[float], window: int = 10) -> tuple[float, float]:
    """(mean of the first `window` losses, mean of the last `window`): a quick check that training learns."""
    w = min(window, max(1, len(losses) // 2))
    return float(np.mean(losses[:w])), float(np.mean(losses[-w:]))
