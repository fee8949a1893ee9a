"""`inr-lateral`: an INR started at the lateral restoration and fitted to the measurements, coherent in 3D
by construction, with SDS when a diffusion prior is also given."""

from __future__ import annotations

from dataclasses import replace

from axialsr.learning.priors import DiffusionPrior, LateralRegressor
from axialsr.methods.lateral import lateral_volume
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def run(inputs: MethodInputs) -> MethodOutput:
    from axialsr.learning.inr_fit import reconstruct

    base, spread = lateral_volume(inputs, inputs.config.uncertainty)
    diffusion = inputs.prior(DiffusionPrior)
    recon = inputs.settings("recon")
    config = replace(recon, field=replace(recon.field, start_at_base=True))
    if diffusion is None:
        config = replace(config, lambda_sds=0.0)
    result = reconstruct(
        inputs.measured,
        inputs.acquisition,
        prior=diffusion,
        config=config,
        checkpoint_dir=inputs.checkpoint_dir,
        resume=inputs.resume,
        base=base,
        runtime=inputs.runtime,
    )
    return MethodOutput(result.volume, result.history, spread)


SPEC = register(
    MethodSpec(
        "inr-lateral",
        "INR over the lateral restoration: fidelity, 3D coherence (and SDS with a diffusion prior)",
        run,
        settings=("lateral", "recon"),
        needs=(LateralRegressor,),
        optional=(DiffusionPrior,),
        iterative=True,
        consistent=True,
        uncertainty=True,
    )
)
