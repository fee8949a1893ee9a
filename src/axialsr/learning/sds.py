"""Score Distillation Sampling: a frozen diffusion prior's opinion on rendered patches, as a loss.

For a rendered patch x, draw t and noise eps, form x_t with the prior's scheduler (`add_noise`), ask the
prior for eps_hat(x_t, t) without a gradient through the UNet, and push x along -w(t) (eps_hat - eps).
A conditional prior also gets the degraded version of the patch (the same plane of the measured volume
interpolated onto the output grid), and optionally a classifier-free guidance scale.

Weightings w(t):
- `x0`  : sqrt((1 - ab)/ab), so the gradient is x - x0_hat, the difference between the render and the
          prior's one-step denoised estimate, in image units (comparable with the fidelity residual).
- `sds` : 1 - ab (DreamFusion's choice).
"""

from __future__ import annotations

import torch

from axialsr.errors import AxialSRError
from axialsr.settings import SDS_WEIGHTINGS


def sds_gradient(
    prior,
    x: torch.Tensor,
    t: torch.Tensor,
    noise: torch.Tensor,
    *,
    weighting: str = "x0",
    condition: torch.Tensor | None = None,
    guidance: float = 1.0,
) -> torch.Tensor:
    """The SDS gradient w(t) (eps_hat - eps) on patches x (B, 1, P, P), for given timesteps and noise;
    `condition` (B, 1, P, P) for a conditional prior."""
    if weighting not in SDS_WEIGHTINGS:
        raise AxialSRError(f"unknown SDS weighting '{weighting}'; choose one of {SDS_WEIGHTINGS}")
    a = prior.alphas_cumprod[t].view(-1, 1, 1, 1)
    with torch.no_grad():
        x_t = prior.scheduler.add_noise(x.detach(), noise, t)
        eps_hat = prior.predict_noise(x_t, t, condition, guidance)
        w = ((1 - a) / a).sqrt() if weighting == "x0" else (1 - a)
        return w * (eps_hat - noise)


def sds_loss(
    prior,
    x: torch.Tensor,
    t_min: float,
    t_max: float,
    generator: torch.Generator,
    *,
    weighting: str = "x0",
    condition: torch.Tensor | None = None,
    guidance: float = 1.0,
) -> torch.Tensor:
    """A scalar whose gradient with respect to x is the SDS gradient divided by x.numel().

    t is drawn uniformly in [t_min, t_max] (fractions of the prior's timesteps), one per patch."""
    steps = prior.timesteps
    lo = max(0, int(t_min * steps))
    hi = max(lo + 1, min(steps, int(t_max * steps)))
    t = torch.randint(lo, hi, (x.shape[0],), generator=generator).to(x.device)
    noise = torch.randn(x.shape, generator=generator).to(x.device, x.dtype)
    grad = sds_gradient(prior, x, t, noise, weighting=weighting, condition=condition, guidance=guidance)
    return 0.5 * ((x - (x - grad).detach()) ** 2).mean()


def denoising_error(
    prior, x: torch.Tensor, t: torch.Tensor, noise: torch.Tensor, condition: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean squared error of the prior's noise estimate on x noised with (t, noise): how unlikely x
    looks to the prior (lower is more like its training patches)."""
    x_t = prior.scheduler.add_noise(x, noise, t)
    return ((prior.predict_noise(x_t, t, condition) - noise) ** 2).mean()
