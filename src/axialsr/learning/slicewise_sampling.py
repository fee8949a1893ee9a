"""Slice-by-slice 2D diffusion baseline (the DiffuseIR / TPDM family).

Every XZ slice (or YZ) of the output grid is restored independently by the same 2D prior (a conditional
prior is conditioned on the slice's cubic interpolation, SR3-style): DDIM sampling
(eta 0), started SDEdit-style from the cubic interpolation noised to `strength` (or from pure noise with
strength 1), with measurement consistency at each reverse step: the prior's clean estimate x0 is
projected onto {x : A x = y} along z, x0 <- x0 + P (y - A x0), with A the acquisition matrix and P the
correction of the chosen projection (`axialsr.operators.measurement`: smooth along z by default). The UNet
is convolutional, so a whole (Z, X) slice goes through it at once.

Slices are processed in batches; the noise of slice j comes from its own generator seeded (seed, j), so a
batched run equals a slice-at-a-time run. Because nothing ties neighbouring slices together, XZ-wise and
YZ-wise restorations disagree: `metrics.coherence` measures that.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.errors import AxialSRError
from axialsr.interrupts import report_step
from axialsr.learning.networks import pad_to_multiple, size_multiple
from axialsr.learning.priors import DiffusionPrior
from axialsr.learning.sampling import consistent_ddim_step, sampling_timesteps
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import DEFAULT_PROJECTION, MeasurementOperator, measurement_operator


@torch.no_grad()
def restore_slices(
    measured: torch.Tensor,
    start: torch.Tensor,
    *,
    prior,
    operator: MeasurementOperator,
    config: Any,
    slice_ids: list[int],
    seed: int = 0,
) -> torch.Tensor:
    """Restore a batch of slices. measured (B, Z_lr, L), start (B, Z_hr, L) (cubic), projected onto the
    measurements by `operator` at every step; slice j's noise comes from (seed, j); returns
    (B, Z_hr, L), all in normalised units."""
    timesteps = sampling_timesteps(prior, config.steps, config.strength)
    alphas = prior.alphas_cumprod.cpu()
    device = prior.device
    multiple = size_multiple(prior.meta)
    condition = None
    if prior.conditional:
        condition, _ = pad_to_multiple(start.unsqueeze(1), multiple)
        condition = condition.to(device)

    def project(x0: torch.Tensor) -> torch.Tensor:
        return operator.project(x0, measured.unsqueeze(1), dim=2)

    noise = torch.stack(
        [torch.randn(start.shape[1:], generator=torch.Generator().manual_seed(seed * 1_000_003 + j)) for j in slice_ids]
    )
    a0 = alphas[timesteps[0]]
    x = (a0.sqrt() * start + (1 - a0).sqrt() * noise).unsqueeze(1)
    x0 = start.unsqueeze(1)
    for i, t in enumerate(timesteps):
        a_t = alphas[t]
        a_prev = alphas[timesteps[i + 1]] if i + 1 < len(timesteps) else torch.tensor(1.0)
        padded, (h, w) = pad_to_multiple(x, multiple)
        eps = prior.predict_noise(padded.to(device), t, condition).cpu()[..., :h, :w]
        x, x0 = consistent_ddim_step(x, eps, a_t, a_prev, project)
    return x0[:, 0]


def slicewise_diffusion(
    measured: np.ndarray,
    acquisition: Acquisition,
    *,
    prior: DiffusionPrior,
    config: Any,
    projection: str = DEFAULT_PROJECTION,
    seed: int = 0,
    progress: bool = True,
) -> np.ndarray:
    """Restore normalised measured slices (Z_lr, Y, X) slice by slice, with the `projection`'s correction
    onto the measurements at every step and noise drawn from `seed`, as `config` says (a
    `methods.slicewise.SlicewiseConfig`, read here by its fields); returns (round(Z_lr s), Y, X) float32."""
    cfg = config
    if not isinstance(prior, DiffusionPrior):
        raise AxialSRError(f"the slice-wise baseline needs a diffusion or conditional prior, not a {prior.kind} prior")
    if prior.conditional:
        prior.check_acquisition(acquisition)
    z_lr, y_n, x_n = measured.shape
    depth = acquisition.output_depth(z_lr)
    operator = measurement_operator(acquisition, depth, z_lr, projection=projection)
    start = interpolate_z(measured, acquisition.factor, "cubic", depth)
    # bring the slice axis first: XZ slices are indexed by y, YZ slices by x
    if cfg.axis == "xz":
        m, s = measured.transpose(1, 0, 2), start.transpose(1, 0, 2)
    else:
        m, s = measured.transpose(2, 0, 1), start.transpose(2, 0, 1)
    out = np.empty_like(s)
    bar = tqdm(total=len(m), desc=f"slicewise {cfg.axis}", disable=not progress, unit="slice")
    for b0 in range(0, len(m), cfg.batch):
        ids = list(range(b0, min(len(m), b0 + cfg.batch)))
        restored = restore_slices(
            torch.from_numpy(np.ascontiguousarray(m[ids])),
            torch.from_numpy(np.ascontiguousarray(s[ids])),
            prior=prior,
            operator=operator,
            config=cfg,
            slice_ids=ids,
            seed=seed,
        )
        out[ids] = restored.numpy()
        bar.update(len(ids))
        report_step(f"slicewise {cfg.axis}", ids[-1] + 1, len(m))
    bar.close()
    return np.ascontiguousarray(out.transpose(1, 0, 2) if cfg.axis == "xz" else out.transpose(1, 2, 0))
