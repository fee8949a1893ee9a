"""The learned priors: 2D UNets (diffusers `UNet2DModel`) trained on the input's own XY slices.

Three kinds, one network family:

- `diffusion`: an unconditional DDPM over XY patches (epsilon prediction): what the tissue looks like.
  Used by SDS (`inr-sds`) and the slice-wise baseline.
- `conditional`: a DDPM that also sees a degraded version of the patch (a second input channel): what a
  measured-resolution patch should become. Trained on lateral pairs (see `lateral`), with the condition
  dropped `condition_dropout` of the time so that the same weights also give the unconditional score
  (classifier-free guidance). Used by conditional SDS and the slice-wise baseline.
- `lateral`: a UNet trained as a direct regressor on lateral pairs (the CARE-isotropic idea): it maps
  a degraded patch to the measured one, as a residual over its input. Used by `lateral`. It is a plain
  convolutional UNet (`LateralUNet`: two 3x3 convolutions and ReLU per level, max-pooling, nearest
  upsampling, skip connections), the architecture of CARE, rather than diffusers' `UNet2DModel`: the
  regressor needs no timestep, and on a CPU the time-conditioned, group-normalised diffusers blocks
  cost 3x the time per step for a lower score (benchmarks/results/lateral_arch.md).

A prior is a folder: `prior.safetensors` (EMA weights) and `prior.json` (kind, architecture, schedule,
patch size, pixel size, intensity normalisation, the acquisition its pairs were made with, training
settings, library versions). Training (and its checkpoints) lives in `axialsr.training`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.acquisition import Acquisition
from axialsr.device import resolve_device
from axialsr.errors import AxialSRError
from axialsr.intensity import Normalization
from axialsr.io import atomic_write
from axialsr.settings import PRIOR_KINDS

PRIOR_FORMAT = "axialsr-prior"
PRIOR_FORMAT_VERSION = 2
WEIGHTS_FILE = "prior.safetensors"
CONFIG_FILE = "prior.json"


class LateralUNet(torch.nn.Module):
    """CARE-style residual UNet for one-channel images: per level two convolutions (`kernel`, same
    padding) with ReLU, 2x2 max-pooling down, nearest upsampling and a 1x1 projection up, skip
    connections by concatenation; the output is added to the input. Image sides must be multiples of
    2 ** (len(channels) - 1)."""

    def __init__(self, channels: tuple[int, ...] = (32, 64, 128), kernel: int = 3) -> None:
        super().__init__()
        nn = torch.nn

        def block(c_in: int, c_out: int) -> torch.nn.Module:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, kernel, padding=kernel // 2),
                nn.ReLU(inplace=True),
            )

        self.down = nn.ModuleList()
        width = 1
        for c in channels[:-1]:
            self.down.append(block(width, c))
            width = c
        self.middle = block(width, channels[-1])
        width = channels[-1]
        self.project = nn.ModuleList()
        self.up = nn.ModuleList()
        for c in reversed(channels[:-1]):
            self.project.append(nn.Conv2d(width, c, 1))
            self.up.append(block(2 * c, c))
            width = c
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        h = x
        for down in self.down:
            h = down(h)
            skips.append(h)
            h = torch.nn.functional.max_pool2d(h, 2)
        h = self.middle(h)
        for project, up in zip(self.project, self.up, strict=True):
            h = project(torch.nn.functional.interpolate(h, scale_factor=2, mode="nearest"))
            h = up(torch.cat([h, skips.pop()], 1))
        return x + self.out(h)


def make_unet(unet_kwargs: dict, patch: int, in_channels: int = 1, kind: str = "diffusion") -> torch.nn.Module:
    """The network of a prior: a `LateralUNet` for the lateral kind (kwargs `channels`, `kernel`), else a
    diffusers UNet2DModel with one output channel (lists in `unet_kwargs` become tuples)."""
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in unet_kwargs.items()}
    if kind == "lateral":
        return LateralUNet(**kwargs)
    from diffusers import UNet2DModel

    return UNet2DModel(sample_size=patch, in_channels=in_channels, out_channels=1, **kwargs)


def make_scheduler(timesteps: int, beta_schedule: str):
    """The DDPM noise schedule (diffusers DDPMScheduler, epsilon prediction)."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule, prediction_type="epsilon")


def size_multiple(meta: dict) -> int:
    """Image sides must be multiples of this for the UNet (2 ** (levels - 1))."""
    unet = meta["unet"]
    return 2 ** (len(unet.get("block_out_channels") or unet["channels"]) - 1)


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two axes at their end (reflect, or replicate where too short) to multiples of
    `multiple`; returns the padded tensor and the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class Prior:
    """A trained 2D prior over normalised ([-1, 1]) image patches (see the module docstring for kinds)."""

    def __init__(self, unet: torch.nn.Module, meta: dict, device: torch.device | str = "cpu") -> None:
        self.unet = unet.to(device).eval()
        self.unet.requires_grad_(False)
        self.meta = meta
        self.device = torch.device(device)
        self.scheduler = make_scheduler(meta["timesteps"], meta["beta_schedule"])
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device, torch.float32)
        self.normalization = Normalization(**meta["normalization"])
        self.losses: list[float] = []

    @property
    def kind(self) -> str:
        """'diffusion', 'conditional' or 'lateral'."""
        return str(self.meta.get("kind", "diffusion"))

    @property
    def conditional(self) -> bool:
        return self.kind == "conditional"

    @property
    def patch(self) -> int:
        """Patch size (pixels) the prior was trained on."""
        return int(self.meta["patch"])

    @property
    def timesteps(self) -> int:
        return int(self.meta["timesteps"])

    @property
    def acquisition(self) -> Acquisition | None:
        """The acquisition model the lateral pairs were made with (None for the unconditional kind)."""
        acq = self.meta.get("acquisition")
        return None if acq is None else Acquisition(acq["factor"], acq["model"], acq.get("fwhm"))

    @property
    def axial_blur(self) -> float:
        """Extra axial Gaussian blur (sigma, output voxels) the lateral targets were given (0: none)."""
        return float(self.meta.get("axial_blur") or 0.0)

    def check_acquisition(self, acquisition: Acquisition) -> None:
        """Raise AxialSRError when a pair-trained prior was made for another factor or model."""
        own = self.acquisition
        if own is None:
            return
        if abs(own.factor - acquisition.factor) > 1e-6 or own.model != acquisition.model:
            raise AxialSRError(
                f"this {self.kind} prior was trained for factor {own.factor:g} ({own.model}); the data need factor "
                f"{acquisition.factor:g} ({acquisition.model}): train one for them"
            )

    def predict_noise(
        self,
        x_t: torch.Tensor,
        t: torch.Tensor | int,
        condition: torch.Tensor | None = None,
        guidance: float = 1.0,
    ) -> torch.Tensor:
        """The epsilon estimate for noisy patches x_t (B, 1, H, W) at integer timesteps t (B,).

        A conditional prior takes `condition` (B, 1, H, W), the degraded patch; without one it gives its
        unconditional estimate. `guidance` g mixes them as eps_u + g (eps_c - eps_u) (1: conditional)."""
        if self.kind == "lateral":
            raise AxialSRError("a lateral prior is a regressor, not a diffusion model")
        if not torch.is_tensor(t):
            t = torch.full((x_t.shape[0],), int(t), device=x_t.device, dtype=torch.long)
        if not self.conditional:
            return self.unet(x_t, t).sample
        empty = torch.zeros_like(x_t)
        if condition is None:
            return self.unet(torch.cat([x_t, empty], 1), t).sample
        eps_c = self.unet(torch.cat([x_t, condition.to(x_t.dtype)], 1), t).sample
        if guidance == 1.0:
            return eps_c
        eps_u = self.unet(torch.cat([x_t, empty], 1), t).sample
        return eps_u + guidance * (eps_c - eps_u)

    def regress(self, degraded: torch.Tensor) -> torch.Tensor:
        """A lateral prior's restoration of degraded images (B, 1, H, W), any H, W (padded internally)."""
        if self.kind != "lateral":
            raise AxialSRError(f"a {self.kind} prior is not a regressor; train one with kind 'lateral'")
        padded, (h, w) = pad_to_multiple(degraded, size_multiple(self.meta))
        return self.unet(padded)[..., :h, :w]

    def to(self, device: torch.device | str) -> Prior:
        self.device = torch.device(device)
        self.unet.to(self.device)
        self.alphas_cumprod = self.alphas_cumprod.to(self.device)
        return self

    @torch.no_grad()
    def sample(
        self,
        n: int,
        steps: int = 50,
        seed: int = 0,
        progress: bool = True,
        condition: np.ndarray | None = None,
        guidance: float = 1.0,
    ) -> np.ndarray:
        """Draw n patches (n, P, P) in [-1, 1] by DDIM sampling (eta 0) with `steps` steps; a conditional
        prior samples given `condition` (n, H, W) degraded patches (any H, W multiple of the UNet's)."""
        from diffusers import DDIMScheduler

        ddim = DDIMScheduler.from_config(self.scheduler.config)
        ddim.set_timesteps(steps)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        cond = None
        shape = (n, 1, self.patch, self.patch)
        if condition is not None:
            cond = torch.from_numpy(np.ascontiguousarray(condition, np.float32))[:, None].to(self.device)
            shape = tuple(cond.shape)
        x = torch.randn(shape, generator=gen).to(self.device)
        for t in tqdm(ddim.timesteps, desc="sampling prior", disable=not progress, leave=False):
            eps = self.predict_noise(x, int(t), cond, guidance)
            x = ddim.step(eps, int(t), x).prev_sample
        return x.clamp(-1, 1)[:, 0].cpu().numpy()

    def save(self, directory: str | os.PathLike) -> Path:
        """Write prior.safetensors + prior.json into `directory` (atomically, file by file)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.unet.state_dict().items()}
        with atomic_write(directory / WEIGHTS_FILE) as tmp:
            save_file(state, str(tmp))
        with atomic_write(directory / CONFIG_FILE) as tmp:
            tmp.write_text(json.dumps(self.meta, indent=2))
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
        if meta.get("kind", "diffusion") not in PRIOR_KINDS:
            raise AxialSRError(f"{cfg_path}: unknown prior kind '{meta.get('kind')}'")
        try:
            state = load_file(str(w_path))
        except (SafetensorError, OSError, RuntimeError, ValueError) as exc:
            raise AxialSRError(f"{w_path} is corrupt: {exc}".splitlines()[0]) from None
        try:
            unet = make_unet(
                meta["unet"], meta["patch"], int(meta.get("in_channels", 1)), meta.get("kind", "diffusion")
            )
            unet.load_state_dict(state, strict=True)
        except (KeyError, TypeError, RuntimeError, ValueError) as exc:
            raise AxialSRError(f"{w_path} does not match {cfg_path}: {exc}".splitlines()[0]) from None
        return cls(unet, meta, resolve_device(str(device)) if isinstance(device, str) else device)


def noise_level(prior: Prior, t: int) -> float:
    """sqrt(1 - alphabar_t): the noise standard deviation at integer timestep t."""
    return math.sqrt(1.0 - float(prior.alphas_cumprod[t]))
