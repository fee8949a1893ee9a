"""`slicewise`: each XZ (or YZ) slice restored on its own by a 2D diffusion prior (DDIM with the
projection onto the measurements at every step; see `axialsr.learning.slicewise_sampling`), the diffusion baseline."""

from __future__ import annotations

from dataclasses import dataclass, field

from axialsr.errors import AxialSRError
from axialsr.learning.priors import DiffusionPrior
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register, register_settings


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class SlicewiseConfig:
    """How the slice-wise baseline samples: DDIM steps, the start strength (fraction of the schedule;
    1 = from pure noise), the slice batch and the plane family it restores."""

    steps: int = field(default=25, metadata=_help("DDIM steps per slice."))
    strength: float = field(
        default=0.5, metadata=_help("Start at this fraction of the noise schedule (1: from pure noise).")
    )
    batch: int = field(default=16, metadata=_help("Slices per batch.", runtime=True))
    axis: str = field(default="xz", metadata=_help("Plane family restored slice by slice: xz or yz."))

    def __post_init__(self) -> None:
        if self.axis not in ("xz", "yz"):
            raise AxialSRError(f"slicewise axis must be 'xz' or 'yz', got '{self.axis}'")
        if not 0 < self.strength <= 1 or self.steps < 1 or self.batch < 1:
            raise AxialSRError("slicewise needs 0 < strength <= 1, steps >= 1, batch >= 1")


register_settings("slicewise", SlicewiseConfig, title="Slice-wise baseline (method slicewise)")


def run(inputs: MethodInputs) -> MethodOutput:
    from axialsr.learning.slicewise_sampling import slicewise_diffusion

    volume = slicewise_diffusion(
        inputs.measured,
        inputs.acquisition,
        prior=inputs.prior(DiffusionPrior),
        config=inputs.settings("slicewise"),
        projection=inputs.config.projection,
        seed=inputs.runtime.seed,
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
