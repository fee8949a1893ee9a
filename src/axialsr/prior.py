"""The 2D diffusion prior: a DDPM (diffusers UNet2DModel + scheduler) trained on the input's own XY slices.

A prior is a folder: `prior.safetensors` (EMA weights), `prior.json` (architecture, schedule, patch
size, pixel size, intensity normalisation, training steps, library versions), and while training
`checkpoint.pt` (model, EMA, optimiser and RNG states, so that `resume` continues to the same result
as an uninterrupted run) and `loss.jsonl` (the loss curve).
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.errors import AxialSRError
from axialsr.intensity import Normalization
from axialsr.runtime import resolve_device

PRIOR_FORMAT = "axialsr-prior"
PRIOR_FORMAT_VERSION = 1
WEIGHTS_FILE = "prior.safetensors"
CONFIG_FILE = "prior.json"
CHECKPOINT_FILE = "checkpoint.pt"
LOSS_FILE = "loss.jsonl"

# Architectures sized for the machines: tiny (tests, seconds), small (CPU demo), base (GPU).
PRESETS: dict[str, dict] = {
    "tiny": {
        "patch": 16,
        "steps": 60,
        "batch": 8,
        "lr": 2e-3,
        "unet": {
            "block_out_channels": (8, 16),
            "down_block_types": ("DownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "UpBlock2D"),
            "layers_per_block": 1,
            "norm_num_groups": 4,
        },
    },
    "small": {
        "patch": 32,
        "steps": 3000,
        "batch": 16,
        "lr": 1e-3,
        "unet": {
            "block_out_channels": (32, 64, 64),
            "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
            "up_block_types": ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "attention_head_dim": 16,
        },
    },
    "base": {
        "patch": 64,
        "steps": 30000,
        "batch": 32,
        "lr": 2e-4,
        "unet": {
            "block_out_channels": (64, 128, 128, 256),
            "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
            "up_block_types": ("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            "layers_per_block": 2,
            "norm_num_groups": 16,
            "attention_head_dim": 32,
        },
    },
}


@dataclass
class PriorConfig:
    """Training settings; None means the preset's value. Units: patch in (binned) pixels."""

    preset: str = "small"
    patch: int | None = None
    steps: int | None = None
    batch: int | None = None
    lr: float | None = None
    ema_decay: float = 0.999
    bin_xy: int = 1
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 250
    timesteps: int = 1000
    beta_schedule: str = "squaredcos_cap_v2"
    warmup_steps: int = 100
    unet: dict = field(default_factory=dict)

    def resolved(self) -> PriorConfig:
        """A copy with the preset's values filled in; validates the preset and sizes."""
        if self.preset not in PRESETS:
            raise AxialSRError(f"unknown prior preset '{self.preset}'; choose one of {list(PRESETS)}")
        p = PRESETS[self.preset]
        cfg = PriorConfig(**{**asdict(self)})
        cfg.patch = cfg.patch or p["patch"]
        cfg.steps = cfg.steps if cfg.steps is not None else p["steps"]
        cfg.batch = cfg.batch or p["batch"]
        cfg.lr = cfg.lr or p["lr"]
        cfg.unet = {**p["unet"], **cfg.unet}
        levels = len(cfg.unet["block_out_channels"])
        if cfg.patch % 2 ** (levels - 1):
            raise AxialSRError(f"patch {cfg.patch} must be divisible by {2 ** (levels - 1)} for this UNet")
        if cfg.bin_xy < 1:
            raise AxialSRError(f"--bin must be >= 1, got {cfg.bin_xy}")
        return cfg


def _make_unet(unet_kwargs: dict, patch: int):
    from diffusers import UNet2DModel

    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in unet_kwargs.items()}
    return UNet2DModel(sample_size=patch, in_channels=1, out_channels=1, **kwargs)


def _make_scheduler(timesteps: int, beta_schedule: str):
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule, prediction_type="epsilon")


class Prior:
    """A trained 2D diffusion prior over normalised ([-1, 1]) image patches."""

    def __init__(self, unet: torch.nn.Module, meta: dict, device: torch.device | str = "cpu") -> None:
        self.unet = unet.to(device).eval()
        self.unet.requires_grad_(False)
        self.meta = meta
        self.device = torch.device(device)
        self.scheduler = _make_scheduler(meta["timesteps"], meta["beta_schedule"])
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device, torch.float32)
        self.normalization = Normalization(**meta["normalization"])

    @property
    def patch(self) -> int:
        """Patch size (pixels) the prior was trained on."""
        return int(self.meta["patch"])

    @property
    def timesteps(self) -> int:
        return int(self.meta["timesteps"])

    def predict_noise(self, x_t: torch.Tensor, t: torch.Tensor | int) -> torch.Tensor:
        """The UNet's epsilon estimate for noisy patches x_t (B, 1, P, P) at integer timesteps t (B,)."""
        if not torch.is_tensor(t):
            t = torch.full((x_t.shape[0],), int(t), device=x_t.device, dtype=torch.long)
        return self.unet(x_t, t).sample

    def to(self, device: torch.device | str) -> Prior:
        self.device = torch.device(device)
        self.unet.to(self.device)
        self.alphas_cumprod = self.alphas_cumprod.to(self.device)
        return self

    @torch.no_grad()
    def sample(self, n: int, steps: int = 50, seed: int = 0, progress: bool = True) -> np.ndarray:
        """Draw n patches (n, P, P) in [-1, 1] by DDIM sampling (eta 0) with `steps` steps."""
        from diffusers import DDIMScheduler

        ddim = DDIMScheduler.from_config(self.scheduler.config)
        ddim.set_timesteps(steps)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        x = torch.randn((n, 1, self.patch, self.patch), generator=gen).to(self.device)
        for t in tqdm(ddim.timesteps, desc="sampling prior", disable=not progress, leave=False):
            eps = self.predict_noise(x, int(t))
            x = ddim.step(eps, int(t), x).prev_sample
        return x.clamp(-1, 1)[:, 0].cpu().numpy()

    def save(self, directory: str | os.PathLike) -> Path:
        """Write prior.safetensors + prior.json into `directory` (atomically, file by file)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.unet.state_dict().items()}
        tmp = directory / f".{WEIGHTS_FILE}.tmp"
        save_file(state, str(tmp))
        os.replace(tmp, directory / WEIGHTS_FILE)
        tmp = directory / f".{CONFIG_FILE}.tmp"
        tmp.write_text(json.dumps(self.meta, indent=2))
        os.replace(tmp, directory / CONFIG_FILE)
        return directory

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | torch.device = "cpu") -> Prior:
        """Load and validate a prior folder; a missing, corrupt or mismatched file is an AxialSRError."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        cfg_path, w_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        if not cfg_path.is_file() or not w_path.is_file():
            raise AxialSRError(f"{directory} is not a prior folder (needs {CONFIG_FILE} and {WEIGHTS_FILE})")
        try:
            meta = json.loads(cfg_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise AxialSRError(f"{cfg_path} is corrupt: {exc}") from None
        if not isinstance(meta, dict) or meta.get("format") != PRIOR_FORMAT:
            raise AxialSRError(f"{cfg_path} is not an axialsr prior config")
        if meta.get("format_version", 0) > PRIOR_FORMAT_VERSION:
            raise AxialSRError(f"{cfg_path} was written by a newer axialsr (format {meta.get('format_version')})")
        try:
            state = load_file(str(w_path))
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise AxialSRError(f"{w_path} is corrupt: {exc}".splitlines()[0]) from None
        try:
            unet = _make_unet(meta["unet"], meta["patch"])
            unet.load_state_dict(state, strict=True)
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise AxialSRError(f"{w_path} does not match {cfg_path}: {exc}".splitlines()[0]) from None
        return cls(unet, meta, resolve_device(str(device)) if isinstance(device, str) else device)


class PatchSampler:
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


def bin_xy(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool a (Z, Y, X) volume by `factor` in Y and X (cropping the remainder)."""
    if factor == 1:
        return volume
    z, y, x = volume.shape
    y2, x2 = y // factor * factor, x // factor * factor
    v = volume[:, :y2, :x2].reshape(z, y2 // factor, factor, x2 // factor, factor)
    return v.mean(axis=(2, 4)).astype(volume.dtype)


def _library_versions() -> dict[str, str]:
    import diffusers

    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "numpy": np.__version__}


def _lr_at(step: int, cfg: PriorConfig) -> float:
    return cfg.lr * min(1.0, (step + 1) / max(1, cfg.warmup_steps))


def train_prior(
    volume: np.ndarray,
    config: PriorConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    pixel_size: float | None = None,
    stop_after: int | None = None,
    progress: bool = True,
) -> Prior:
    """Train a prior on random XY patches of `volume` (Z, Y, X; any dtype, input units).

    With `out_dir`, writes checkpoints every `checkpoint_every` steps and the final prior there;
    `resume` continues from `out_dir/checkpoint.pt`. `stop_after` ends the run after that many steps
    in total (an interruption, for tests). Returns the prior with its EMA weights."""
    cfg = (config or PriorConfig()).resolved()
    device = resolve_device(cfg.device)
    out_path = Path(out_dir) if out_dir is not None else None
    ckpt_path = out_path / CHECKPOINT_FILE if out_path else None

    normalization = Normalization.fit(volume)
    data = bin_xy(normalization.forward(volume), cfg.bin_xy)
    sampler = PatchSampler(data, cfg.patch)

    torch.manual_seed(cfg.seed)
    unet = _make_unet(cfg.unet, cfg.patch).to(device)
    ema = _make_unet(cfg.unet, cfg.patch).to(device)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-4)
    scheduler = _make_scheduler(cfg.timesteps, cfg.beta_schedule)
    alphas = scheduler.alphas_cumprod.to(device, torch.float32)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    step = 0
    losses: list[float] = []

    if resume and ckpt_path is not None and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location=device, weights_only=False)
        if state["config"] != asdict(cfg):
            raise AxialSRError(f"{ckpt_path} was written with other settings; start afresh without --resume")
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
        "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.unet.items()},
        "patch": cfg.patch,
        "timesteps": cfg.timesteps,
        "beta_schedule": cfg.beta_schedule,
        "prediction_type": "epsilon",
        "pixel_size": None if pixel_size is None else pixel_size * cfg.bin_xy,
        "bin_xy": cfg.bin_xy,
        "normalization": normalization.to_dict(),
        "training": asdict(cfg),
        "libraries": _library_versions(),
    }

    def save_checkpoint() -> None:
        if ckpt_path is None:
            return
        ckpt_path.parent.mkdir(parents=True, exist_ok=True)
        curve = out_path / LOSS_FILE
        curve.with_suffix(".tmp").write_text(
            "".join(json.dumps({"step": i + 1, "loss": v}) + "\n" for i, v in enumerate(losses))
        )
        os.replace(curve.with_suffix(".tmp"), curve)
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save(
            {
                "config": asdict(cfg),
                "step": step,
                "unet": unet.state_dict(),
                "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": gen.get_state(),
                "losses": losses,
            },
            tmp,
        )
        os.replace(tmp, ckpt_path)

    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    unet.train()
    bar = tqdm(total=cfg.steps, initial=step, desc="training prior", disable=not progress, unit="step", mininterval=2.0)
    started = time.perf_counter()
    try:
        while step < end:
            x0 = torch.from_numpy(sampler(rng, cfg.batch)).unsqueeze(1).to(device)
            noise = torch.randn(x0.shape, generator=gen).to(device)
            t = torch.randint(0, cfg.timesteps, (cfg.batch,), generator=gen).to(device)
            a = alphas[t].view(-1, 1, 1, 1)
            x_t = a.sqrt() * x0 + (1 - a).sqrt() * noise
            loss = torch.nn.functional.mse_loss(unet(x_t, t).sample, noise)
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(step, cfg)
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
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}", refresh=False)
            if step % cfg.checkpoint_every == 0 or step == end:
                save_checkpoint()
    finally:
        bar.close()
    meta["steps_trained"] = step
    meta["seconds"] = time.perf_counter() - started
    prior = Prior(ema, meta, device)
    if out_path is not None and step >= cfg.steps:
        prior.save(out_path)
    prior.losses = losses  # type: ignore[attr-defined]
    return prior


def loss_trend(losses: list[float], window: int = 10) -> tuple[float, float]:
    """(mean of the first `window` losses, mean of the last `window`): a quick check that training learns."""
    w = min(window, max(1, len(losses) // 2))
    return float(np.mean(losses[:w])), float(np.mean(losses[-w:]))


def noise_level(prior: Prior, t: int) -> float:
    """sqrt(1 - alphabar_t): the noise standard deviation at integer timestep t."""
    return math.sqrt(1.0 - float(prior.alphas_cumprod[t]))
