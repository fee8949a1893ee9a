"""`lateral-diffusion`: the lateral restoration (the posterior mean) refined by the diffusion prior into a
sharp posterior sample, as far as `realism` says: noised to realism x the schedule, then denoised by the
prior on XZ and YZ planes in turn (one 3D state, so one coherent volume), projected onto the measurements
at every step (see `axialsr.learning.sampling`)."""

from __future__ import annotations

from axialsr.learning.priors import DiffusionPrior, LateralRegressor
from axialsr.methods.lateral import lateral_volume
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def run(inputs: MethodInputs) -> MethodOutput:
    from axialsr.learning.sampling import refine_volume

    estimate, spread = lateral_volume(inputs, inputs.config.uncertainty)
    prior = inputs.prior(DiffusionPrior)
    if prior.conditional:
        prior.check_acquisition(inputs.acquisition)
    refine = inputs.config.refine
    volume = refine_volume(
        estimate,
        inputs.measured,
        inputs.acquisition,
        prior,
        realism=refine.realism,
        steps=refine.steps,
        samples=refine.samples,
        guidance=refine.guidance,
        projection=inputs.config.projection,
        seed=inputs.runtime.seed,
        batch=refine.batch,
        progress=inputs.runtime.progress,
        precision=inputs.runtime.precision,
    )
    return MethodOutput(volume, spread=spread)


SPEC = register(
    MethodSpec(
        "lateral-diffusion",
        "the lateral restoration refined into a sharp posterior sample by the diffusion prior (--realism)",
        run,
        settings=("lateral", "refine"),
        needs=(LateralRegressor, DiffusionPrior),
        consistent=True,
    )
)
