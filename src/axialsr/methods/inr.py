"""`inr`: an implicit neural representation fitted to the measurements alone (fidelity, no prior)."""

from __future__ import annotations

from dataclasses import replace

from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def fit_inr(inputs: MethodInputs, prior, config) -> MethodOutput:
    """The INR fitted to the measurements with `config` (a ReconstructionConfig), SDS from `prior` if any."""
    from axialsr.learning.inr_fit import reconstruct

    result = reconstruct(
        inputs.measured, inputs.acquisition, prior, config, inputs.checkpoint_dir, inputs.resume, runtime=inputs.runtime
    )
    return MethodOutput(result.volume, result.history)


def run(inputs: MethodInputs) -> MethodOutput:
    return fit_inr(inputs, None, replace(inputs.config.recon, lambda_sds=0.0))


SPEC = register(
    MethodSpec(
        "inr",
        "INR fitted to the measurements (fidelity only)",
        run,
        settings=("recon",),
        iterative=True,
        consistent=True,
    )
)
