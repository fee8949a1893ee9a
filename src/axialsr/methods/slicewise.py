"""`slicewise`: each XZ (or YZ) slice restored on its own by a 2D diffusion prior (DDIM with the
projection onto the measurements at every step; see `axialsr.learning.slicewise_sampling`), the diffusion baseline."""

from __future__ import annotations

from axialsr.learning.priors import DiffusionPrior
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def run(inputs: MethodInputs) -> MethodOutput:
    from axialsr.learning.slicewise_sampling import slicewise_diffusion

    volume = slicewise_diffusion(
        inputs.measured,
        inputs.acquisition,
        inputs.prior(DiffusionPrior),
        inputs.config.slicewise,
        inputs.config.projection,
        inputs.runtime.seed,
        progress=inputs.runtime.progress,
    )
    return MethodOutput(volume)


SPEC = register(
    MethodSpec(
        "slicewise",
        "each XZ (or YZ) slice restored by a diffusion prior, projected on the measurements",
        run,
        settings=("slicewise",),
        needs=(DiffusionPrior,),
        consistent=True,
    )
)
