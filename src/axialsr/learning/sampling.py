"""Posterior sampling of a whole volume under a 2D diffusion prior, started from an estimate.

The lateral regressor returns the posterior mean: the best estimate in squared error, and blurry where
the measurements leave detail open (between the slabs at x8-x10). `refine_volume` turns such an estimate
into a sample of the posterior, as far as `realism` says:

1. noise the estimate to the timestep t* = realism x T of the prior's schedule (SDEdit);
2. run DDIM (eta 0) from t* down to 0; at each step the prior denoises **every plane of one family** of
   the 3D state, XZ planes at one step and YZ planes at the next (so the volume stays one coherent
   volume: each plane family corrects the other's, as in perpendicular-2D-prior samplers), a conditional
   prior seeing each plane's cubic interpolation as its condition;
3. each step's clean estimate x0 is projected onto the measurements along z (hard data consistency,
   `axialsr.operators.measurement`: smooth along z by default), so the sample reproduces every measured slice.

realism 0 returns the estimate; 1 starts from pure noise (a sample of the prior given the measurements
alone). `samples` K > 1 averages K samples (from K seeds): between a sample and the mean.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.device import autocast
from axialsr.interrupts import report_step
from axialsr.learning.networks import pad_to_multiple, size_multiple
from axialsr.learning.priors import DiffusionPrior
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import DEFAULT_PROJECTION, measurement_operator

PLANE_ORDER = ("xz", "yz")
CLAMP = 2.0  # normalised units: the percentile range is [-1, 1]; x0 estimates beyond twice it are noise


def sampling_timesteps(prior: DiffusionPrior, steps: int, realism: float) -> list[int]:
    """The DDIM timesteps (descending) of a `steps`-step schedule at or below realism x (T - 1).

    Examples
    --------
    >>> class Prior:  # what this function reads of a prior
    ...     timesteps = 1000
    ...     scheduler = type("S", (), {"config": {"num_train_timesteps": 1000}})()
    >>> sampling_timesteps(Prior(), 10, 0.35)
    [300, 200, 100, 0]
    >>> sampling_timesteps(Prior(), 10, 0.0)
    []
    """
    if realism <= 0:
        return []
    from diffusers import DDIMScheduler

    ddim = DDIMScheduler.from_config(prior.scheduler.config)
    ddim.set_timesteps(steps)
    limit = realism * (prior.timesteps - 1)
    return [int(t) for t in ddim.timesteps if int(t) <= limit] or [int(ddim.timesteps[-1])]


def consistent_ddim_step(
    x: torch.Tensor, eps: torch.Tensor, a_t: torch.Tensor, a_prev: torch.Tensor, project
) -> tuple[torch.Tensor, torch.Tensor]:
    """One deterministic DDIM step (eta 0) with hard data consistency: the clean estimate x0 from the noise
    estimate `eps`, clamped and passed through `project` (onto the measurements), then x at the previous
    timestep from it; alphas `a_t`, `a_prev` are the cumulative products. Returns (x_prev, x0)."""
    x0 = project(((x - (1 - a_t).sqrt() * eps) / a_t.sqrt()).clamp(-CLAMP, CLAMP))
    eps = (x - a_t.sqrt() * x0) / (1 - a_t).sqrt()
    return a_prev.sqrt() * x0 + (1 - a_prev).sqrt() * eps, x0


def _planes(volume: torch.Tensor, family: str) -> torch.Tensor:
    """(Z, Y, X) -> the planes of a family as a batch: XZ planes (Y, Z, X), YZ planes (X, Z, Y)."""
    return volume.permute(1, 0, 2) if family == "xz" else volume.permute(2, 0, 1)


def _volume(planes: torch.Tensor, family: str) -> torch.Tensor:
    """The inverse of `_planes`."""
    return planes.permute(1, 0, 2) if family == "xz" else planes.permute(1, 2, 0)


@torch.no_grad()
def predict_noise_planes(
    prior: DiffusionPrior,
    x_t: torch.Tensor,
    t: int,
    *,
    condition: torch.Tensor | None,
    family: str,
    batch: int,
    guidance: float = 1.0,
    precision: str = "fp32",
) -> torch.Tensor:
    """The prior's noise estimate for every plane of `family` of the noisy volume x_t (Z, Y, X), in
    batches of `batch` planes; `condition` (Z, Y, X) the degraded volume for a conditional prior; the
    network in `precision` (`device.autocast`), its estimate returned in float32."""
    planes = _planes(x_t, family)
    conds = _planes(condition, family) if condition is not None else None
    multiple = size_multiple(prior.meta)
    out = torch.empty_like(planes)
    for b0 in range(0, planes.shape[0], batch):
        x, (h, w) = pad_to_multiple(planes[b0 : b0 + batch].unsqueeze(1), multiple)
        c = None
        if conds is not None:
            c, _ = pad_to_multiple(conds[b0 : b0 + batch].unsqueeze(1), multiple)
            c = c.to(prior.device)
        with autocast(prior.device, precision):
            eps = prior.predict_noise(x.to(prior.device), t, c, guidance)
        out[b0 : b0 + batch] = eps[:, 0, :h, :w].to(out.device, torch.float32)
    return _volume(out, family)


@torch.no_grad()
def refine_volume(
    estimate: np.ndarray,
    measured: np.ndarray,
    acquisition: Acquisition,
    prior: DiffusionPrior,
    *,
    realism: float = 0.5,
    steps: int = 25,
    samples: int = 1,
    guidance: float = 1.0,
    projection: str = DEFAULT_PROJECTION,
    seed: int = 0,
    batch: int = 16,
    progress: bool = False,
    precision: str = "fp32",
) -> np.ndarray:
    """Posterior sample(s) of the volume started from `estimate`, consistent with the measurements.

    Parameters
    ----------
    estimate : ndarray
        (round(Z_lr s), Y, X) the starting estimate in normalised units (e.g. the lateral restoration).
    measured : ndarray
        (Z_lr, Y, X) the measured slices in the same units.
    acquisition : Acquisition
        How z was measured (the projection's forward model).
    prior : DiffusionPrior
        Conditional (conditioned on each plane's cubic interpolation) or unconditional.
    realism : float
        In [0, 1]: the start timestep as a fraction of the schedule (0: the estimate unchanged).
    steps : int
        DDIM steps of the whole schedule (realism r runs about r x steps of them).
    samples : int
        Samples averaged (each from its own seed).
    guidance : float
        Classifier-free guidance of a conditional prior (1: conditional only).
    projection : str
        The projection onto the measurements at every step ('h2', 'h1' or 'l2').
    seed : int
        Sample k draws its noise from seed (seed, k).
    batch : int
        Planes per forward pass.
    progress : bool
        Show a progress bar over the steps.
    precision : str
        Arithmetic of the prior's network ('fp32', 'bf16' or 'auto', see `device.resolve_precision`); the
        DDIM update and the projection stay in float32.

    Returns
    -------
    ndarray
        (round(Z_lr s), Y, X) float32, reproducing the measurements through the acquisition model.

    Examples
    --------
    >>> from axialsr.operators.measurement import simulate
    >>> truth = np.random.default_rng(0).normal(size=(8, 8, 8)).astype(np.float32)
    >>> measured = simulate(truth, Acquisition(2))
    >>> refine_volume(truth, measured, Acquisition(2), prior=None, realism=0.0).shape  # realism 0: no prior needed
    (8, 8, 8)
    """
    depth = estimate.shape[0]
    z_lr = measured.shape[0]
    operator = measurement_operator(acquisition, depth, z_lr, projection=projection)
    m = torch.from_numpy(np.ascontiguousarray(measured, np.float32))

    def project(x: torch.Tensor) -> torch.Tensor:
        return operator.project(x, m)

    start = project(torch.from_numpy(np.ascontiguousarray(estimate, np.float32)))
    timesteps = sampling_timesteps(prior, steps, realism)
    if not timesteps:
        return start.numpy()
    condition = None
    if prior.conditional:
        condition = torch.from_numpy(interpolate_z(measured, acquisition.factor, "cubic", depth).astype(np.float32))
    alphas = prior.alphas_cumprod.cpu()
    total = torch.zeros_like(start)
    bar = tqdm(total=samples * len(timesteps), desc="diffusion refinement", disable=not progress, unit="step")
    for k in range(samples):
        noise = torch.randn(start.shape, generator=torch.Generator().manual_seed(seed * 1_000_003 + k))
        a0 = alphas[timesteps[0]]
        x = a0.sqrt() * start + (1 - a0).sqrt() * noise
        x0 = start
        for i, t in enumerate(timesteps):
            a_t = alphas[t]
            a_prev = alphas[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.tensor(1.0)
            family = PLANE_ORDER[i % 2]
            eps = predict_noise_planes(
                prior, x, t, condition=condition, family=family, batch=batch, guidance=guidance, precision=precision
            )
            x, x0 = consistent_ddim_step(x, eps, a_t, a_prev, project)
            bar.update(1)
            report_step("diffusion refinement", k * len(timesteps) + i + 1, samples * len(timesteps))
        total += x0
    bar.close()
    return (total / samples).numpy()
