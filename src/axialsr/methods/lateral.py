"""`lateral` (the default): the lateral regressor on every XZ and YZ plane of the cubic interpolation
(the CARE-isotropic family), flipped copies and both plane families averaged (see `axialsr.learning.planes`), in
the runtime's precision (bf16 where the CPU has it natively)."""

from __future__ import annotations

import numpy as np

from axialsr.learning.priors import LateralRegressor
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def lateral_volume(inputs: MethodInputs, spread: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The regressor's restoration of every plane, views averaged, and (with `spread`) their spread."""
    import torch

    from axialsr.device import autocast
    from axialsr.learning.planes import restore_planes
    from axialsr.operators.interpolation import interpolate_z

    prior = inputs.prior(LateralRegressor)
    prior.check_acquisition(inputs.acquisition)
    settings = inputs.config.lateral
    cubic = interpolate_z(inputs.measured, inputs.acquisition.factor, "cubic")
    with autocast(prior.device, inputs.runtime.precision):
        out = restore_planes(
            prior.regress,
            cubic,
            settings.planes,
            "all" if spread else settings.flips,  # the uncertainty is the spread of all 8 views
            settings.batch or (8 if torch.device(prior.device).type == "cuda" else 2),
            prior.device,
            inputs.runtime.progress,
            spread,
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
