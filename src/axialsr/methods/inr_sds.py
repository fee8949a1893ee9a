"""`inr-sds`: the method of Lee & Jeong (MICCAI 2024): an INR fitted with fidelity to the measured slices
and Score Distillation Sampling under a 2D diffusion prior on its XZ/YZ planes."""

from __future__ import annotations

from axialsr.learning.priors import DiffusionPrior
from axialsr.methods.inr import fit_inr
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register


def run(inputs: MethodInputs) -> MethodOutput:
    return fit_inr(inputs, inputs.prior(DiffusionPrior), inputs.settings("recon"))


SPEC = register(
    MethodSpec(
        "inr-sds",
        "INR with fidelity and SDS under a diffusion prior",
        run,
        settings=("recon",),
        needs=(DiffusionPrior,),
        iterative=True,
        consistent=True,
    )
)
