"""`inr`: an implicit neural representation fitted to the measurements alone (fidelity, no prior)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from dataclasses import field as dataclass_field

from axialsr.errors import AxialSRError
from axialsr.methods.registry import MethodInputs, MethodOutput, MethodSpec, register, register_settings
from axialsr.settings import ENCODINGS, SDS_WEIGHTINGS


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


@dataclass
class FieldConfig:
    """Architecture of the field. Resolutions in cells per axis; `z_finest_ratio` scales the finest z
    resolution relative to the output depth (z detail is what the prior must add)."""

    encoding: str = field(default="dense", metadata={"help": "Encoding: dense, hash or fourier."})
    levels: int = field(default=6, metadata={"help": "Resolution levels of the grid encodings."})
    features: int = field(default=4, metadata={"help": "Features per level."})
    coarsest: int = field(default=8, metadata={"help": "Cells per axis of the coarsest level."})
    z_finest_ratio: float = field(default=0.5, metadata={"help": "Finest z cells per output slice."})
    hash_table_log2: int = field(default=17, metadata={"help": "log2 of the hash table size (hash encoding)."})
    fourier_features: int = field(default=128, metadata={"help": "Random Fourier features (fourier encoding)."})
    fourier_sigma: float = field(default=8.0, metadata={"help": "Scale of the Fourier frequencies."})
    mlp_width: int = field(default=64, metadata={"help": "Width of the MLP head."})
    mlp_layers: int = field(default=2, metadata={"help": "Hidden layers of the MLP head."})
    start_at_base: bool = field(
        default=False, metadata={"help": "Zero the MLP's output layer, so that the field starts exactly at its base."}
    )

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise AxialSRError(f"unknown encoding '{self.encoding}'; choose one of {ENCODINGS}")
        if min(self.levels, self.features, self.coarsest, self.mlp_width, self.fourier_features) < 1:
            raise AxialSRError("levels, features, coarsest, mlp_width and fourier_features must be >= 1")
        if not self.z_finest_ratio > 0 or self.mlp_layers < 0:
            raise AxialSRError("z_finest_ratio must be > 0 and mlp_layers >= 0")


@dataclass
class ReconstructionConfig:
    """Settings of one INR reconstruction. Sizes in output voxels; learning rates per Adam group; t values
    as fractions of the prior's timesteps; `warmup` as a fraction of `iters` run with fidelity alone."""

    iters: int = dataclass_field(default=1500, metadata=_help("Optimisation iterations."))
    field: FieldConfig = dataclass_field(default_factory=FieldConfig, metadata=_help("INR architecture.", nested=True))
    base: str = dataclass_field(default="cubic", metadata=_help("Residual base of the field: cubic or none."))
    lr_encoding: float = dataclass_field(default=1e-2, metadata=_help("Learning rate of the feature grids."))
    lr_mlp: float = dataclass_field(default=2e-3, metadata=_help("Learning rate of the MLP."))
    fidelity_batch: int = dataclass_field(default=4, metadata=_help("Measured-slice crops per iteration."))
    fidelity_crop: int = dataclass_field(default=48, metadata=_help("Side of the fidelity crops (pixels)."))
    fidelity_loss: str = dataclass_field(default="l2", metadata=_help("l2 or l1."))
    lambda_sds: float = dataclass_field(default=1.0, metadata=_help("Weight of the SDS loss (0: fidelity only)."))
    sds_batch: int = dataclass_field(default=32, metadata=_help("SDS patches per iteration."))
    sds_planes: tuple[str, ...] = dataclass_field(
        default=("xz", "yz"), metadata=_help("Planes SDS renders: xz, yz, xy.")
    )
    sds_weighting: str = dataclass_field(default="x0", metadata=_help("SDS weighting w(t): x0 or sds."))
    guidance: float = dataclass_field(
        default=1.0, metadata=_help("Classifier-free guidance scale (conditional prior).")
    )
    t_min: float = dataclass_field(default=0.02, metadata=_help("Smallest SDS timestep (fraction of the schedule)."))
    t_max_start: float = dataclass_field(default=0.3, metadata=_help("Largest SDS timestep at the start of SDS."))
    t_max_end: float = dataclass_field(default=0.1, metadata=_help("Largest SDS timestep at the end."))
    warmup: float = dataclass_field(default=0.3, metadata=_help("Fraction of iterations with fidelity alone."))

    def __post_init__(self) -> None:
        if self.iters < 1:
            raise AxialSRError(f"iters must be >= 1, got {self.iters}")
        if self.base not in ("cubic", "none"):
            raise AxialSRError(f"base must be 'cubic' or 'none', got '{self.base}'")
        if self.fidelity_loss not in ("l1", "l2"):
            raise AxialSRError(f"fidelity loss must be 'l1' or 'l2', got '{self.fidelity_loss}'")
        if self.sds_weighting not in SDS_WEIGHTINGS:
            raise AxialSRError(f"SDS weighting must be one of {SDS_WEIGHTINGS}, got '{self.sds_weighting}'")
        if self.lambda_sds < 0:
            raise AxialSRError(f"lambda_sds must be >= 0, got {self.lambda_sds}")
        if min(self.fidelity_batch, self.fidelity_crop, self.sds_batch) < 1:
            raise AxialSRError("fidelity_batch, fidelity_crop and sds_batch must be >= 1")
        if not self.lr_encoding > 0 or not self.lr_mlp > 0:
            raise AxialSRError("learning rates must be > 0")
        self.sds_planes = tuple(self.sds_planes)
        bad = set(self.sds_planes) - {"xz", "yz", "xy"}
        if bad or not self.sds_planes:
            raise AxialSRError(f"SDS planes must be among xz, yz, xy; got {self.sds_planes}")
        if not 0 <= self.t_min < self.t_max_end <= 1 or not self.t_min < self.t_max_start <= 1:
            raise AxialSRError("need 0 <= t_min < t_max_end, t_max_start <= 1")
        if not 0 <= self.warmup < 1:
            raise AxialSRError(f"warmup must be in [0, 1), got {self.warmup}")


register_settings(
    "recon", ReconstructionConfig, title="INR reconstruction (methods inr, inr-sds, inr-lateral)", prefix=""
)


def fit_inr(inputs: MethodInputs, prior, config, base=None) -> MethodOutput:
    """The INR fitted to the measurements with `config` (a ReconstructionConfig), SDS from `prior` if any,
    as a residual over `base` when given (else over the cubic interpolation)."""
    from axialsr.learning.inr_fit import reconstruct

    result = reconstruct(
        inputs.measured,
        inputs.acquisition,
        prior=prior,
        config=config,
        checkpoint_dir=inputs.checkpoint_dir,
        resume=inputs.resume,
        base=base,
        runtime=inputs.runtime,
    )
    return MethodOutput(result.volume, result.history)


def run(inputs: MethodInputs) -> MethodOutput:
    return fit_inr(inputs, None, replace(inputs.settings("recon"), lambda_sds=0.0))


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
