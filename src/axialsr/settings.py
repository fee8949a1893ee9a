"""The settings of every step, as dataclasses with their defaults and help texts (the command-line
options are generated from them, see `axialsr.frontends.options`).

What a result depends on lives here: the INR (`FieldConfig`, `ReconstructionConfig`), the slice-wise
baseline (`SlicewiseConfig`), the lateral regressor's application (`LateralConfig`), the restoration
(`RestoreConfig`: those, plus the projection onto the measurements and the uncertainty), prior training
(`PriorConfig`, with the architecture `PRESETS`), blockwise runs (`BlockConfig`) and validation
(`ValidationConfig`). How a job runs, beside what it computes, is a `Runtime` (device, seed, threads,
progress bars, checkpoint cadence), passed next to the configs, never inside them. `identity` is what a
checkpoint or a blockwise part must match: a config without its fields marked `runtime` (batch sizes
that do not change the numbers).

This module imports neither torch nor the methods, so that front ends (`axialsr --help`, the napari
reader) load fast.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass, replace
from dataclasses import field as dataclass_field
from typing import Any

from axialsr.errors import AxialSRError
from axialsr.io.ome import check_ngff_version
from axialsr.operators.measurement import DEFAULT_PROJECTION, check_projection


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


DEVICES = ("auto", "cpu", "cuda")

PRECISIONS = ("auto", "fp32", "bf16")

# the flipped copies of each plane that the lateral regressor also restores: (flip rows, flip columns) per pass
FLIPS: dict[str, tuple[tuple[bool, bool], ...]] = {
    "all": ((False, False), (True, False), (False, True), (True, True)),
    "z": ((False, False), (True, False)),
    "none": ((False, False),),
}


def _named_setting(value: str | bool, names: tuple[str, ...], on: str, off: str, what: str) -> str:
    """The name among `names` of a setting that was once on/off (True and False mean `on` and `off`)."""
    name = (on if value else off) if isinstance(value, bool) else value
    if name not in names:
        raise AxialSRError(f"{what} must be one of {names}, got '{value}'")
    return name


def flips_setting(flips: str | bool) -> str:
    """The name in `FLIPS` of a flips setting (True and False, the earlier on/off setting: 'all', 'none')."""
    return _named_setting(flips, tuple(FLIPS), "all", "none", "lateral flips")


SLAB_PHASES = ("auto", "on", "off")


def slab_phase_setting(value: str | bool) -> str:
    """The name in `SLAB_PHASES` of a slab-phase setting (True and False, the earlier on/off setting)."""
    return _named_setting(value, SLAB_PHASES, "on", "off", "the slab phase")


def uses_slab_phase(setting: str | bool, axial_blur: float, sparse: bool = False) -> bool:
    """Whether a lateral regressor sees the slab phase: `on`, or `auto` where the structure fills the
    sections (not `sparse`: bright objects on a dark background, as in fluorescence, see
    `lateral.is_sparse`) and its pairs use no axial blur.

    Where the structure fills the sections (EM), the phase lets the regressor find the slab boundaries in
    noisy sections (+0.14 dB on real EM). A truth with an axial blur (sigma, output pixels, estimated or
    given) is smooth at the scale of a slab, and there the phase was measured to cost (fluoaxial_x4: -0.34
    and -0.11 dB over two seeds, benchmarks/results/slab_phase.md). On sparse fluorescence it makes steps at
    the slab boundaries (real confocal x4: step index 1.34 against 1.10 without it, at the same PSNR;
    benchmarks/results/stripes.md).

    Examples
    --------
    >>> uses_slab_phase("auto", 0.0), uses_slab_phase("auto", 2.2), uses_slab_phase("auto", 0.0, sparse=True)
    (True, False, False)
    >>> uses_slab_phase(True, 2.2, sparse=True)
    True
    """
    name = slab_phase_setting(setting)
    return name == "on" or (name == "auto" and not axial_blur > 0 and not sparse)


@dataclass(frozen=True)
class Runtime:
    """How a job runs, beside what it computes: the device ('auto', 'cpu', 'cuda' or 'cuda:N'), the random
    seed (one for every step: the same seed on the same device gives the same result), torch's CPU
    threads (None: torch's default), the arithmetic of the networks (`precision`: the lateral regressor,
    and the diffusion priors in training and in `lateral-diffusion` sampling; like the device, it changes
    the numbers in their last digits, not what is computed), progress bars, and how often the iterative steps checkpoint
    (every `checkpoint_every` steps, and `checkpoint_seconds` after the last checkpoint). A checkpoint
    records the seed it was made with (another seed is another result), not the device, the precision or
    the cadence.

    Examples
    --------
    >>> Runtime(device="cpu", seed=3).offset(2).seed
    5
    """

    device: str = field(default="auto", metadata=_help("auto, cpu, cuda or cuda:N."))
    seed: int = field(default=0, metadata=_help("Random seed (same seed, same device: same result)."))
    threads: int | None = field(default=None, metadata=_help("CPU threads of torch (default: torch's choice)."))
    precision: str = field(
        default="auto",
        metadata=_help(
            "Arithmetic of the lateral regressor and of the diffusion priors' training and sampling: "
            "bf16 (bfloat16 autocast, several times faster on CPUs with native bf16), fp32, or auto (bf16 "
            "on a CPU with AVX512-BF16 or AMX, fp32 elsewhere)."
        ),
    )
    progress: bool = field(default=True, metadata=_help("Show progress bars.", internal=True))
    checkpoint_every: int = field(default=250, metadata=_help("Steps between checkpoints of iterative steps."))
    checkpoint_seconds: float = field(
        default=300.0, metadata=_help("Also checkpoint after this many seconds since the last checkpoint.")
    )

    def __post_init__(self) -> None:
        if self.device not in DEVICES and not str(self.device).startswith("cuda:"):
            raise AxialSRError(f"unknown device '{self.device}'; choose one of {DEVICES}")
        if self.precision not in PRECISIONS:
            raise AxialSRError(f"precision must be one of {PRECISIONS}, got '{self.precision}'", setting="precision")
        if self.threads is not None and self.threads < 1:
            raise AxialSRError(f"threads must be >= 1, got {self.threads}")
        if self.checkpoint_every < 1 or not self.checkpoint_seconds > 0:
            raise AxialSRError("checkpoint_every must be >= 1 and checkpoint_seconds > 0")

    def offset(self, k: int) -> Runtime:
        """The same runtime with seed + k (e.g. one seed per block of a blockwise run)."""
        return replace(self, seed=self.seed + k)

    def quiet(self) -> Runtime:
        """The same runtime without progress bars."""
        return replace(self, progress=False)


def identity(config: Any) -> Any:
    """What a result depends on in a config: its fields (nested configs as dicts), without those marked
    `runtime`, as JSON values. A checkpoint or a blockwise part is reused only under the same identity.

    Examples
    --------
    >>> identity(LateralConfig(batch=2)) == identity(LateralConfig(batch=64))   # batch: runtime
    True
    >>> identity(LateralConfig(flips=False)) == identity(LateralConfig())
    False
    """
    if is_dataclass(config) and not isinstance(config, type):
        out = {f.name: identity(getattr(config, f.name)) for f in fields(config) if not f.metadata.get("runtime")}
    elif isinstance(config, dict):
        out = {str(k): identity(v) for k, v in config.items()}
    else:
        out = config
    return json.loads(json.dumps(out, default=str))


ENCODINGS = ("dense", "hash", "fourier")

SDS_WEIGHTINGS = ("x0", "sds")

PLANES = ("xz", "yz")

PRIOR_KINDS = ("diffusion", "conditional", "lateral")

PAIR_KINDS = ("conditional", "lateral")
START_CHOICES = ("auto", "none")  # `PriorConfig.start`, besides a file

VALIDATION_SCHEMES = ("lateral", "holdout", "sections")


# Architectures sized for the machines: tiny (tests, seconds), small (CPU), base (GPU). `patch` is the
# training patch of the diffusion kinds; `lateral_patch` that of the regressor, which sees whole planes at
# inference and learns from larger patches at little cost (it is far cheaper per pixel).
PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {
        "patch": 16,
        "lateral_patch": 16,
        "steps": {"diffusion": 60, "conditional": 60, "lateral": 60},
        "fine_tune_steps": 20,
        "batch": 8,
        "lr": 2e-3,
        "unet": {
            "block_out_channels": (8, 16),
            "down_block_types": ("DownBlock2D", "DownBlock2D"),
            "up_block_types": ("UpBlock2D", "UpBlock2D"),
            "layers_per_block": 1,
            "norm_num_groups": 4,
        },
        "lateral_unet": {"channels": (8, 16), "kernel": 3},
    },
    "small": {
        "patch": 32,
        "lateral_patch": 64,
        "steps": {"diffusion": 3000, "conditional": 3000, "lateral": 2400},
        "fine_tune_steps": 600,
        "batch": 16,
        "lr": 1e-3,
        "unet": {
            "block_out_channels": (32, 64, 64),
            "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
            "up_block_types": ("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            "layers_per_block": 1,
            "norm_num_groups": 8,
            "attention_head_dim": 16,
        },
        "lateral_unet": {"channels": (32, 64, 128), "kernel": 3},
    },
    "base": {
        "patch": 64,
        "lateral_patch": 128,
        "steps": {"diffusion": 30000, "conditional": 30000, "lateral": 6000},
        "fine_tune_steps": 1500,
        "batch": 32,
        "lr": 2e-4,
        "unet": {
            "block_out_channels": (64, 128, 128, 256),
            "down_block_types": ("DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"),
            "up_block_types": ("AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"),
            "layers_per_block": 2,
            "norm_num_groups": 16,
            "attention_head_dim": 32,
        },
        "lateral_unet": {"channels": (64, 128, 256, 512), "kernel": 3},
    },
}


def machine_preset(gpu: bool) -> str:
    """The prior preset a machine gets by default: `base` on a GPU, `small` on a CPU."""
    return "base" if gpu else "small"


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


@dataclass
class LateralConfig:
    """How the lateral regressor is applied: the plane families it restores (their views are averaged),
    which flipped copies are restored too and averaged (test-time augmentation: `z`, each plane also
    upside down, 2 passes; `all`, also left-right, 4 passes; `none`) and the batch. On real EM at x10 the
    flips are worth 0.01 dB; on synthetic EM `z` is worth 0.11-0.18 dB over `none` and `all` another
    0.04-0.08 dB for twice the passes (`benchmarks/results/flips.md`), so `z` is the default. The uncertainty,
    the spread of the views, always uses all of them.

    Examples
    --------
    >>> LateralConfig().flips, LateralConfig(flips=False).flips, LateralConfig(flips=True).flips
    ('z', 'none', 'all')
    """

    planes: tuple[str, ...] = field(default=PLANES, metadata={"help": "Planes the regressor restores: xz, yz."})
    flips: str = field(
        default="z",
        metadata={
            "help": "Flipped copies restored too and averaged: z (upside down, 2x the passes), all (also "
            "left-right, 4x) or none; always all with --uncertainty."
        },
    )
    batch: int | None = field(
        default=None,
        metadata={
            "help": "Planes per forward pass; default 2 on a CPU (a third faster than 8 there, measured; the "
            "same result) and 8 on a GPU.",
            "runtime": True,
        },
    )

    def __post_init__(self) -> None:
        self.planes = tuple(self.planes)
        if not self.planes or set(self.planes) - set(PLANES):
            raise AxialSRError(f"lateral planes must be among {PLANES}, got {self.planes}")
        self.flips = flips_setting(self.flips)
        if self.batch is not None and self.batch < 1:
            raise AxialSRError(f"lateral batch must be >= 1, got {self.batch}")


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


@dataclass
class RestoreConfig:
    """Settings of every method: the INR (`recon`), the slice-wise baseline, the lateral regressor, the
    diffusion refinement of `lateral-diffusion` (`refine`), whether to end with the projection onto the
    measurements (None: the method's default) and which (`projection`: 'h2' smoothest along z, 'h1', or
    'l2' smallest; see `axialsr.operators.measurement`; slice-wise and the refinement use it at every step),
    whether to estimate a per-voxel uncertainty (methods that can, see `MethodSpec.uncertainty`), and the
    configs of methods that bring their own (`MethodSpec.config`), by method name (absent: their defaults)."""

    recon: ReconstructionConfig = field(default_factory=ReconstructionConfig)
    slicewise: SlicewiseConfig = field(default_factory=SlicewiseConfig)
    lateral: LateralConfig = field(default_factory=LateralConfig)
    refine: RefineConfig = field(default_factory=RefineConfig)
    consistency: bool | None = None
    projection: str = DEFAULT_PROJECTION
    uncertainty: bool = False
    uncertainty_scale: float | None = None  # None: UNCERTAINTY_SCALE (benchmarks/uncertainty.py fits it)
    methods: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_projection(self.projection)


@dataclass
class PriorConfig:
    """How to train a prior. Fields left None take the preset's value for the kind (see `PRESETS`); the
    preset itself defaults to `small` on a CPU and `base` on a GPU; sizes in (binned) pixels."""

    kind: str = field(
        default="diffusion", metadata=_help("diffusion, conditional or lateral (see axialsr.learning.priors).")
    )
    preset: str | None = field(
        default=None,
        metadata=_help("Network size: tiny (tests), small (CPU), base (GPU); default: small on a CPU, base on a GPU."),
    )
    patch: int | None = field(default=None, metadata=_help("Training patch size in pixels (default: the preset's)."))
    steps: int | None = field(default=None, metadata=_help("Training steps (default: the preset's for the kind)."))
    batch: int | None = field(default=None, metadata=_help("Patches per step (default: the preset's)."))
    lr: float | None = field(default=None, metadata=_help("Peak learning rate (default: the preset's)."))
    ema_decay: float = field(default=0.999, metadata=_help("Decay of the EMA of the weights that is saved."))
    bin_xy: int = field(
        default=1, metadata=_help("Average-pool XY by this factor first (diffusion kind only).", flag="bin")
    )
    axial_blur: float | None = field(
        default=None,
        metadata=_help(
            "Extra axial blur (Gaussian sigma, pixels) given to the lateral targets; default: estimated "
            "from the data (pair kinds)."
        ),
    )
    section_noise: float | None = field(
        default=0.0,
        metadata=_help(
            "Pair kinds: noise (standard deviation, input units) of one measured section, which the degraded "
            "rows of the pairs get where averaging s rows removed it; None: estimated from the XY slices; 0: none."
        ),
    )
    jitter: float = field(
        default=0.0,
        metadata=_help("Pair kinds: shift along the row (standard deviation, pixels) of each degraded row."),
    )
    flicker: float = field(
        default=0.0,
        metadata=_help(
            "Pair kinds: gain and offset (standard deviation, fraction of the normalised range) of each degraded row."
        ),
    )
    condition_dropout: float = field(
        default=0.1, metadata=_help("Fraction of steps without the condition (conditional kind).")
    )
    consistent_loss: bool = field(
        default=True,
        metadata=_help(
            "Lateral kind: score the output after the projection onto the pair's measurements, as restorations "
            "are scored (the network then spends itself on what the projection cannot fix)."
        ),
    )
    loss: str = field(
        default="l2", metadata=_help("Lateral kind: the regression loss, l2 (the posterior mean) or l1 (its median).")
    )
    start: str = field(
        default="auto",
        metadata=_help(
            "Lateral kind: where the regressor starts: auto (the start that ships with axialsr where it applies: "
            "EM-like stacks, with the slab phase, at the preset's network size), none (from scratch: the stack "
            "alone), or a file from axialsr.learning.pretraining. From a start it trains the preset's fine_tune_steps "
            "unless steps are given."
        ),
    )
    section_pairs: float = field(
        default=0.25,
        metadata=_help(
            "Lateral kind: fraction of each batch drawn from the stack's own XZ/YZ planes, its sections averaged "
            "in pairs and restored back to the measured sections (real axial planes; see lateral.SectionPairs), "
            "where the regressor sees the slab phase (EM-like stacks)."
        ),
    )
    section_bin: int = field(
        default=2,
        metadata=_help(
            "Lateral kind, section pairs: pixels averaged (bin x bin) in their planes; 2 makes them measured at "
            "the stack's own factor, 1 at twice it.",
            internal=True,
        ),
    )
    slab_phase: str = field(
        default="auto",
        metadata=_help(
            "Lateral kind: whether the regressor also sees where each row lies in its slab (two position "
            "channels), which a convolution cannot tell from the image alone where the sections are noisy: "
            "on, off, or auto (on where the structure fills the sections, as in EM, and the pairs use no "
            "axial blur; off on sparse fluorescence, where it makes steps at the slab boundaries)."
        ),
    )
    projection: str | None = field(
        default=None,
        metadata=_help(
            "Lateral kind, consistent loss: the projection onto the measurements it learns for: h2 (smooth "
            f"along z), h1, or l2 (a constant per slab); default {DEFAULT_PROJECTION} (in a run: the run's)."
        ),
    )
    timesteps: int = field(default=1000, metadata=_help("Diffusion timesteps.", internal=True))
    beta_schedule: str = field(default="squaredcos_cap_v2", metadata=_help("Noise schedule.", internal=True))
    warmup_steps: int = field(default=100, metadata=_help("Linear learning-rate warm-up steps.", internal=True))
    unet: dict = field(default_factory=dict, metadata=_help("UNet2DModel overrides.", internal=True))

    def __post_init__(self) -> None:
        if self.kind not in PRIOR_KINDS:
            raise AxialSRError(f"prior kind must be one of {PRIOR_KINDS}, got '{self.kind}'")
        if self.preset is not None and self.preset not in PRESETS:
            raise AxialSRError(f"unknown prior preset '{self.preset}'; choose one of {list(PRESETS)}")
        for name in ("patch", "steps", "batch"):
            value = getattr(self, name)
            if value is not None and value < (0 if name == "steps" else 1):
                raise AxialSRError(f"prior {name} must be positive, got {value}")
        if self.lr is not None and not self.lr > 0:
            raise AxialSRError(f"prior lr must be > 0, got {self.lr}")
        if self.bin_xy < 1:
            raise AxialSRError(f"bin_xy must be >= 1, got {self.bin_xy}")
        if self.bin_xy > 1 and self.kind != "diffusion":
            raise AxialSRError("bin_xy > 1 is for the diffusion kind; pair kinds work at the lateral pixel")
        if self.axial_blur is not None and self.axial_blur < 0:
            raise AxialSRError(f"axial_blur must be >= 0, got {self.axial_blur}")
        if self.loss not in ("l1", "l2"):
            raise AxialSRError(f"the regression loss must be 'l1' or 'l2', got '{self.loss}'")
        if (self.section_noise is not None and self.section_noise < 0) or min(self.jitter, self.flicker) < 0:
            raise AxialSRError("section_noise, jitter and flicker must be >= 0")
        if self.start not in START_CHOICES and self.kind != "lateral":
            raise AxialSRError("a pretrained start is for the lateral kind", setting="start")
        if not 0 <= self.section_pairs < 1:
            raise AxialSRError(f"section_pairs must be in [0, 1), got {self.section_pairs}")
        if not 0 <= self.condition_dropout < 1:
            raise AxialSRError(f"condition_dropout must be in [0, 1), got {self.condition_dropout}")
        if self.projection is not None:
            check_projection(self.projection)
        self.slab_phase = slab_phase_setting(self.slab_phase)

    def resolved(self, gpu: bool = False) -> PriorConfig:
        """A copy with every None replaced: the preset by the machine's (`base` when `gpu`, else `small`),
        sizes by the preset's value for this kind (0 steps stays 0), the projection by the default."""
        preset = self.preset or machine_preset(gpu)
        p = PRESETS[preset]
        cfg = replace(
            self,
            preset=preset,
            projection=self.projection or DEFAULT_PROJECTION,
            patch=self.patch if self.patch is not None else p["lateral_patch" if self.kind == "lateral" else "patch"],
            steps=self.steps
            if self.steps is not None
            else p["fine_tune_steps"]
            if self.start not in START_CHOICES and self.kind == "lateral"
            else p["steps"][self.kind],
            batch=self.batch if self.batch is not None else p["batch"],
            lr=self.lr if self.lr is not None else p["lr"],
            unet={**p["lateral_unet" if self.kind == "lateral" else "unet"], **self.unet},
        )
        levels = len(cfg.unet.get("block_out_channels") or cfg.unet["channels"])
        if cfg.patch % 2 ** (levels - 1):
            raise AxialSRError(f"patch {cfg.patch} must be divisible by {2 ** (levels - 1)} for this UNet")
        return cfg


@dataclass
class BlockConfig:
    """How to cut and schedule a blockwise run.

    `blocks`: core block size (Z, Y, X) in measured voxels (slices, pixels, pixels). `overlap`: extension of
    each block on every side in output (isotropic) voxels; along z it is rounded up to whole measured slices.
    `workers`: Dask LocalCluster worker processes (0: run in this process, without Dask); `scheduler`: the
    address of an existing Dask scheduler instead. `max_blocks`: stop after this many blocks (for jobs with a
    time limit: rerun to continue). `work_dir`: where parts live (default: beside the output). `resources`:
    Dask worker resources each block claims, e.g. 'GPU=1' with workers started with `--resources GPU=1`, so
    that two blocks never share a GPU (a LocalCluster's workers get them too)."""

    blocks: tuple[int, int, int] = (16, 256, 256)
    overlap: int = field(default=16, metadata={"help": "Extension of each block on every side, in output voxels."})
    workers: int = field(default=1, metadata={"help": "Dask LocalCluster worker processes (0: in this process)."})
    threads_per_worker: int = field(default=1, metadata={"help": "Threads of each worker process."})
    memory_limit: str = field(default="4GiB", metadata={"help": "Memory limit of each worker process."})
    scheduler: str | None = field(
        default=None, metadata={"help": "Address of an existing Dask scheduler (instead of a LocalCluster)."}
    )
    retries: int = field(default=1, metadata={"help": "Retries of a failing block before it is reported."})
    work_dir: str | None = field(default=None, metadata={"help": "Folder of the parts (default: OUT.parts)."})
    keep_parts: bool = field(default=False, metadata={"help": "Keep the parts after the output is written."})
    max_blocks: int | None = field(
        default=None, metadata={"help": "Stop after this many blocks (rerun the same command to continue)."}
    )
    resources: str | None = field(
        default=None,
        metadata={"help": "Dask worker resources each block claims, e.g. GPU=1 (one block per GPU at a time)."},
    )
    pyramid_levels: str = field(
        default="auto",
        metadata={
            "help": "Pyramid levels of the OME-Zarr output (2x mean-downsampled): auto (until the coarsest fits "
            "256^3) or a count (1: full resolution only).",
            "runtime": True,
        },
    )

    ngff_version: str = field(
        default="0.5",
        metadata={
            "help": "OME-Zarr version of Zarr outputs: 0.5 (Zarr v3) or 0.4 (Zarr v2, for viewers and "
            "libraries that do not read v3 yet).",
            "runtime": True,
        },
    )

    def __post_init__(self) -> None:
        self.blocks = tuple(int(b) for b in self.blocks)  # type: ignore[assignment]
        check_ngff_version(self.ngff_version)
        self.worker_resources()
        if len(self.blocks) != 3 or min(self.blocks) < 1:
            raise AxialSRError(f"blocks must be three positive sizes (Z, Y, X), got {self.blocks}")
        if self.overlap < 0:
            raise AxialSRError(f"overlap must be >= 0, got {self.overlap}")
        if self.workers < 0 or self.threads_per_worker < 1:
            raise AxialSRError("workers must be >= 0 and threads_per_worker >= 1")
        if self.pyramid_levels != "auto" and not (str(self.pyramid_levels).isdigit() and int(self.pyramid_levels) >= 1):
            raise AxialSRError(
                f"pyramid levels must be 'auto' or an integer >= 1, got {self.pyramid_levels!r}",
                setting="pyramid_levels",
            )
        if self.retries < 0 or (self.max_blocks is not None and self.max_blocks < 1):
            raise AxialSRError("retries must be >= 0 and max_blocks >= 1")

    def worker_resources(self) -> dict[str, float] | None:
        """`resources` parsed ('GPU=1,MEM=2' -> {'GPU': 1.0, 'MEM': 2.0}); None when unset."""
        if not self.resources:
            return None
        parsed = {}
        for item in self.resources.split(","):
            name, _, amount = item.partition("=")
            try:
                parsed[name.strip()] = float(amount)
            except ValueError:
                raise AxialSRError(f"resources must be NAME=AMOUNT[,NAME=AMOUNT], got {self.resources!r}") from None
            if not name.strip() or parsed[name.strip()] <= 0:
                raise AxialSRError(f"resources must be NAME=AMOUNT with AMOUNT > 0, got {self.resources!r}")
        return parsed


@dataclass
class ValidationConfig:
    """Scheme ('lateral', 'holdout' or 'sections'), K for 'holdout' (odd, >= 3), the methods to compare
    (default: what `run` does, `lateral`, beside the interpolations) and their settings. `axial_blur`: extra
    axial blur of the truth (Gaussian sigma, pixels) that the lateral scheme gives its truth along the
    degraded axis; None estimates it from the data (0 turns it off). `lateral_prior`: how the regressor of
    the methods that need one is trained where none is given (the lateral scheme: on the stack itself, as
    `run` trains it; the sections scheme: on the paired stack)."""

    scheme: str = "lateral"
    holdout: int = 3
    methods: tuple[str, ...] = ("linear", "cubic", "lateral")
    restore: RestoreConfig = field(default_factory=RestoreConfig)
    axial_blur: float | None = None
    lateral_prior: PriorConfig = field(default_factory=lambda: PriorConfig(kind="lateral"))

    def __post_init__(self) -> None:
        self.methods = tuple(self.methods)
        if self.scheme not in VALIDATION_SCHEMES:
            raise AxialSRError(f"scheme must be one of {VALIDATION_SCHEMES}, got '{self.scheme}'")
        if self.scheme == "holdout" and (self.holdout < 3 or self.holdout % 2 == 0):
            raise AxialSRError(f"holdout K must be odd and >= 3 (keep the middle slice of K), got {self.holdout}")
        if not self.methods:
            raise AxialSRError("validation needs at least one method")
        if self.axial_blur is not None and self.axial_blur < 0:
            raise AxialSRError(f"axial_blur must be >= 0, got {self.axial_blur}")
