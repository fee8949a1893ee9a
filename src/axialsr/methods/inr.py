"""`inr`: an implicit neural representation fitted to the measurements alone (fidelity, no prior)."""

from __future__ import annotations

from dataclasses import replace

from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def run(inputs: MethodInputs) -> MethodOutput:
    from axialsr.reconstruct import reconstruct

    config = replace(inputs.config.recon, lambda_sds=0.0)
    result = reconstruct(
        inputs.measured,
        inputs.acquisition,
        None,
        config,
        inputs.checkpoint_dir,
        inputs.resume,
        runtime=inputs.runtime,
    )
    return MethodOutput(result.volume, result.history)


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
