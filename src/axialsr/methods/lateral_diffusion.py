"""`lateral-diffusion`: the lateral restoration (the posterior mean) refined by the diffusion prior into a
sharp posterior sample, as far as `realism` says: noised to realism x the schedule, then denoised by the
prior on XZ and YZ planes in turn (one 3D state, so one coherent volume), projected onto the measurements
at every step (see `axialsr.learning.sampling`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from axialsr.errors import AxialSRError
from axialsr.learning.priors import DiffusionPrior, LateralRegressor
from axialsr.methods.lateral import lateral_volume
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register, register_settings


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class RefineConfig:
    """How `lateral-diffusion` turns the lateral restoration (the posterior mean) into a posterior sample
    (see `axialsr.learning.sampling`): the realism (0: the mean unchanged; 1: a sample started from pure noise),
    DDIM steps of the whole schedule, samples averaged, the conditional prior's guidance, the plane batch."""

    realism: float = field(
        default=0.5,
        metadata=_help(
            "0..1: how far the diffusion prior moves the lateral restoration towards a sharp posterior "
            "sample (0: the posterior mean, smoothest, best PSNR; 1: one sample, sharpest).",
            flag="--realism",
        ),
    )
    steps: int = field(default=25, metadata=_help("DDIM steps of the whole noise schedule."))
    samples: int = field(default=1, metadata=_help("Samples averaged (more: closer to the mean)."))
    guidance: float = field(default=1.0, metadata=_help("Classifier-free guidance of a conditional prior."))
    batch: int = field(default=16, metadata=_help("Planes per forward pass.", runtime=True))

    def __post_init__(self) -> None:
        if not 0 <= self.realism <= 1:
            raise AxialSRError(f"realism must be in [0, 1], got {self.realism}", setting="realism")
        if self.steps < 1 or self.samples < 1 or self.batch < 1:
            raise AxialSRError("refinement needs steps >= 1, samples >= 1, batch >= 1")


register_settings("refine", RefineConfig, title="Diffusion refinement (method lateral-diffusion)")


def run(inputs: MethodInputs) -> MethodOutput:
    from axialsr.learning.sampling import refine_volume

    estimate, spread = lateral_volume(inputs, inputs.config.uncertainty)
    prior = inputs.prior(DiffusionPrior)
    if prior.conditional:
        prior.check_acquisition(inputs.acquisition)
    refine = inputs.settings("refine")
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
