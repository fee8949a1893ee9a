"""The learned priors, by type: 2D networks trained on the input's own XY slices.

- `DiffusionPrior`: a DDPM over XY patches (epsilon prediction) that owns its noise schedule. The
  `diffusion` kind is unconditional (what the tissue looks like); the `conditional` kind also sees a
  degraded version of the patch (a second input channel): what a measured-resolution patch should
  become, trained on lateral pairs (see `lateral`) with the condition dropped `condition_dropout` of
  the time, so that the same weights also give the unconditional score (classifier-free guidance). Used
  by SDS (`inr-sds`, `inr-lateral`) and the slice-wise baseline.
- `LateralRegressor`: a UNet trained as a direct regressor on lateral pairs (the CARE-isotropic idea):
  it maps a degraded patch to the measured one, as a residual over its input. Used by `lateral`. It is
  a plain convolutional UNet (`networks.LateralUNet`), the architecture of CARE, rather than diffusers'
  `UNet2DModel`: the regressor needs no timestep, and on a CPU the time-conditioned, group-normalised
  diffusers blocks cost 3x the time per step for a lower score (benchmarks/results/lateral_arch.md).

What a method does with a prior follows from its type (`Prior.role`: 'diffusion' or 'lateral').

A prior is a folder: `prior.safetensors` (EMA weights) and `prior.json` (kind, architecture, schedule,
patch size, pixel size, intensity normalisation, the acquisition its pairs were made with, training
settings, library versions); `load_prior` reads either type from it. Training (and its checkpoints)
lives in `axialsr.learning.prior_training`, the networks in `axialsr.learning.networks`. This module
imports torch only when a prior is built, so that front ends can name the types without it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.io.atomic import atomic_write
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.settings import PRIOR_KINDS

if TYPE_CHECKING:
    import torch

PRIOR_FORMAT = "axialsr-prior"
PRIOR_FORMAT_VERSION = 2
WEIGHTS_FILE = "prior.safetensors"
CONFIG_FILE = "prior.json"


class Prior:
    """A trained 2D network over normalised ([-1, 1]) images, with its metadata (see the module docstring).
    Use a subclass: `DiffusionPrior` or `LateralRegressor`."""

    role: ClassVar[str] = ""
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, unet: torch.nn.Module, meta: dict, device: torch.device | str = "cpu") -> None:
        import torch

        self.unet = unet.to(device).eval()
        self.unet.requires_grad_(False)
        self.meta = meta
        self.device = torch.device(device)
        self.normalization = Normalization(**meta["normalization"])
        self.losses: list[float] = []

    @property
    def kind(self) -> str:
        """The kind it was trained as: 'diffusion', 'conditional' or 'lateral' (its file's name for it)."""
        return str(self.meta.get("kind", "diffusion"))

    @property
    def patch(self) -> int:
        """Patch size (pixels) the prior was trained on."""
        return int(self.meta["patch"])

    @property
    def acquisition(self) -> Acquisition | None:
        """The acquisition model the lateral pairs were made with (None for the unconditional kind)."""
        acq = self.meta.get("acquisition")
        return None if acq is None else Acquisition(acq["factor"], acq["model"], acq.get("fwhm"))

    @property
    def axial_blur(self) -> float:
        """Extra axial Gaussian blur (sigma, output voxels) the targets of its lateral pairs were given (0:
        none, or not pair-trained)."""
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

    def to(self, device: torch.device | str) -> Prior:
        import torch

        self.device = torch.device(device)
        self.unet.to(self.device)
        return self

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
        """`load_prior`, checked to give this type (any type when called on `Prior`)."""
        prior = load_prior(directory, device)
        if not isinstance(prior, cls):
            raise AxialSRError(f"{directory} holds a {prior.kind} prior, not a {cls.__name__}")
        return prior


class DiffusionPrior(Prior):
    """A DDPM prior (kind `diffusion`, or `conditional` with a degraded patch as a second input channel),
    with its noise schedule (diffusers `DDPMScheduler`)."""

    role = "diffusion"
    kinds = ("diffusion", "conditional")

    def __init__(self, unet: torch.nn.Module, meta: dict, device: torch.device | str = "cpu") -> None:
        import torch

        from axialsr.learning.networks import make_scheduler

        super().__init__(unet, meta, device)
        self.scheduler = make_scheduler(meta["timesteps"], meta["beta_schedule"])
        self.alphas_cumprod = self.scheduler.alphas_cumprod.to(self.device, torch.float32)

    @property
    def conditional(self) -> bool:
        """Whether it also takes the degraded patch (kind `conditional`)."""
        return self.kind == "conditional"

    @property
    def timesteps(self) -> int:
        return int(self.meta["timesteps"])

    def to(self, device: torch.device | str) -> DiffusionPrior:
        super().to(device)
        self.alphas_cumprod = self.alphas_cumprod.to(self.device)
        return self

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
        import torch

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

    def sample(
        self,
        n: int,
        steps: int = 50,
        *,
        seed: int = 0,
        progress: bool = True,
        condition: np.ndarray | None = None,
        guidance: float = 1.0,
    ) -> np.ndarray:
        """Draw n patches (n, P, P) in [-1, 1] by DDIM sampling (eta 0) with `steps` steps; a conditional
        prior samples given `condition` (n, H, W) degraded patches (any H, W multiple of the UNet's)."""
        import torch
        from diffusers import DDIMScheduler
        from tqdm.auto import tqdm

        ddim = DDIMScheduler.from_config(self.scheduler.config)
        ddim.set_timesteps(steps)
        gen = torch.Generator(device="cpu").manual_seed(seed)
        cond = None
        shape = (n, 1, self.patch, self.patch)
        if condition is not None:
            cond = torch.from_numpy(np.ascontiguousarray(condition, np.float32))[:, None].to(self.device)
            shape = tuple(cond.shape)
        x = torch.randn(shape, generator=gen).to(self.device)
        with torch.no_grad():
            for t in tqdm(ddim.timesteps, desc="sampling prior", disable=not progress, leave=False):
                eps = self.predict_noise(x, int(t), cond, guidance)
                x = ddim.step(eps, int(t), x).prev_sample
        return x.clamp(-1, 1)[:, 0].cpu().numpy()


class LateralRegressor(Prior):
    """The lateral regressor (kind `lateral`): degraded images in, restored images out."""

    role = "lateral"
    kinds = ("lateral",)

    @property
    def pair_rmse(self) -> float:
        """RMS error (normalised units) on its training pairs: the floor of the uncertainty."""
        return float(self.meta.get("pair_rmse", 0.0))

    def regress(self, degraded: torch.Tensor) -> torch.Tensor:
        """The restoration of degraded images (B, 1, H, W), any H, W (padded internally)."""
        from axialsr.learning.networks import pad_to_multiple, size_multiple

        padded, (h, w) = pad_to_multiple(degraded, size_multiple(self.meta))
        return self.unet(padded)[..., :h, :w]


PRIOR_TYPES: tuple[type[Prior], ...] = (DiffusionPrior, LateralRegressor)


def prior_type(kind: str) -> type[Prior]:
    """The prior type that holds a prior of `kind` ('diffusion', 'conditional' or 'lateral')."""
    for cls in PRIOR_TYPES:
        if kind in cls.kinds:
            return cls
    raise AxialSRError(f"unknown prior kind '{kind}'; choose one of {PRIOR_KINDS}")


def load_prior(directory: str | os.PathLike, device: str | torch.device = "cpu") -> Prior:
    """Load and validate a prior folder as its type (`DiffusionPrior` or `LateralRegressor`); a missing,
    corrupt or mismatched file is an AxialSRError."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from axialsr.device import resolve_device
    from axialsr.learning.networks import make_unet

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
    kind = meta.get("kind", "diffusion")
    try:
        unet = make_unet(meta["unet"], meta["patch"], int(meta.get("in_channels", 1)), kind)
        unet.load_state_dict(state, strict=True)
    except (KeyError, TypeError, RuntimeError, ValueError) as exc:
        raise AxialSRError(f"{w_path} does not match {cfg_path}: {exc}".splitlines()[0]) from None
    return prior_type(kind)(unet, meta, resolve_device(str(device)) if isinstance(device, str) else device)


def as_prior_list(priors: Prior | Sequence[Prior] | None) -> list[Prior]:
    """One prior, several, or none, as a list."""
    if priors is None:
        return []
    return [priors] if isinstance(priors, Prior) else list(priors)
