"""`lateral` (the default): the lateral regressor on every XZ and YZ plane of the cubic interpolation
(the CARE-isotropic family), flipped copies and both plane families averaged (see `axialsr.learning.planes`), in
the runtime's precision (bf16 where the CPU has it natively)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.learning.priors import LateralRegressor
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register, register_settings
from axialsr.settings import PLANES, flips_setting


@dataclass
class LateralConfig:
    """How the lateral regressor is applied: the plane families it restores (their views are averaged),
    which flipped copies are restored too and averaged (test-time augmentation: `z`, each plane also
    upside down, 2 passes; `all`, also left-right, 4 passes; `none`) and the batch. On real EM at x10 the
    flips are worth 0.01 dB; on synthetic EM `z` is worth 0.11-0.18 dB over `none` and `all` another
    0.04-0.08 dB for twice the passes (`benchmarks/results/flips.md`), so `z` is the default. The uncertainty,
    the spread of the views, always uses all of them.

    Examples
    --------
    >>> LateralConfig().flips, LateralConfig(flips=False).flips, LateralConfig(flips=True).flips
    ('z', 'none', 'all')
    """

    planes: tuple[str, ...] = field(default=PLANES, metadata={"help": "Planes the regressor restores: xz, yz."})
    flips: str = field(
        default="z",
        metadata={
            "help": "Flipped copies restored too and averaged: z (upside down, 2x the passes), all (also "
            "left-right, 4x) or none; always all with --uncertainty."
        },
    )
    batch: int | None = field(
        default=None,
        metadata={
            "help": "Planes per forward pass; default 2 on a CPU (a third faster than 8 there, measured; the "
            "same result) and 8 on a GPU.",
            "runtime": True,
        },
    )

    def __post_init__(self) -> None:
        self.planes = tuple(self.planes)
        if not self.planes or set(self.planes) - set(PLANES):
            raise AxialSRError(f"lateral planes must be among {PLANES}, got {self.planes}")
        self.flips = flips_setting(self.flips)
        if self.batch is not None and self.batch < 1:
            raise AxialSRError(f"lateral batch must be >= 1, got {self.batch}")


register_settings("lateral", LateralConfig, title="Lateral regressor (methods lateral, inr-lateral, lateral-diffusion)")


def lateral_volume(inputs: MethodInputs, spread: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The regressor's restoration of every plane, views averaged, and (with `spread`) their spread."""
    import torch

    from axialsr.device import autocast
    from axialsr.learning.planes import restore_planes
    from axialsr.operators.interpolation import interpolate_z

    prior = inputs.prior(LateralRegressor)
    prior.check_acquisition(inputs.acquisition)
    settings = inputs.settings("lateral")
    cubic = interpolate_z(inputs.measured, inputs.acquisition.factor, "cubic")
    with autocast(prior.device, inputs.runtime.precision):
        out = restore_planes(
            prior.regress,
            cubic,
            planes=settings.planes,
            flips="all" if spread else settings.flips,  # the uncertainty is the spread of all 8 views
            batch=settings.batch or (8 if torch.device(prior.device).type == "cuda" else 2),
            device=prior.device,
            progress=inputs.runtime.progress,
            spread=spread,
        )
    return out if spread else (out, None)


def run(inputs: MethodInputs) -> MethodOutput:
    volume, spread = lateral_volume(inputs, inputs.config.uncertainty)
    return MethodOutput(volume, spread=spread)


SPEC = register(
    MethodSpec(
        "lateral",
        "lateral regressor on every XZ and YZ plane (CARE-isotropic family), views averaged",
        run,
        settings=("lateral",),
        needs=(LateralRegressor,),
        consistent=True,
        uncertainty=True,
        z_support=12,
    )
)
