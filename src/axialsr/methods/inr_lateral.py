"""`inr-lateral`: an INR started at the lateral restoration and fitted to the measurements, coherent in 3D
by construction, with SDS when a diffusion prior is also given."""

from __future__ import annotations

from dataclasses import replace

from axialsr.learning.priors import DiffusionPrior, LateralRegressor
from axialsr.methods.inr import fit_inr
from axialsr.methods.lateral import lateral_volume
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def run(inputs: MethodInputs) -> MethodOutput:
    base, spread = lateral_volume(inputs, inputs.config.uncertainty)
    diffusion = inputs.prior(DiffusionPrior)
    recon = inputs.settings("recon")
    config = replace(recon, field=replace(recon.field, start_at_base=True))
    if diffusion is None:
        config = replace(config, lambda_sds=0.0)
    out = fit_inr(inputs, diffusion, config, base=base)
    out.spread = spread
    return out


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
