"""The settings of every step, as dataclasses with their defaults and help texts (the command-line
options are generated from them, see `axialsr.frontends.options`).

What a result depends on lives here, beside the settings each method owns (its module holds them, e.g.
`methods.lateral.LateralConfig`): the restoration (`RestoreConfig`: the projection onto the measurements,
the uncertainty, and the methods' settings by name), prior training
(`PriorConfig`, with the architecture `PRESETS`) and validation
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
from typing import Any, TypeVar

from axialsr.errors import AxialSRError
from axialsr.operators.measurement import DEFAULT_PROJECTION, check_projection


def _help(text: str, **extra) -> dict:
    return {"help": text, **extra}


T = TypeVar("T")

DEVICES = ("auto", "cpu", "cuda")

PRECISIONS = ("auto", "fp32", "bf16")


def named_setting(value: str | bool, names: tuple[str, ...], on: str, off: str, what: str) -> str:
    """The name among `names` of a setting that was once on/off (True and False mean `on` and `off`)."""
    name = (on if value else off) if isinstance(value, bool) else value
    if name not in names:
        raise AxialSRError(f"{what} must be one of {names}, got '{value}'")
    return name


# the flipped copies of each plane that the lateral regressor also restores: (flip rows, flip columns) per pass
FLIPS: dict[str, tuple[tuple[bool, bool], ...]] = {
    "all": ((False, False), (True, False), (False, True), (True, True)),
    "z": ((False, False), (True, False)),
    "none": ((False, False),),
}


def flips_setting(flips: str | bool) -> str:
    """The name in `FLIPS` of a flips setting (True and False, the earlier on/off setting: 'all', 'none')."""
    return named_setting(flips, tuple(FLIPS), "all", "none", "lateral flips")


SLAB_PHASES = ("auto", "on", "off")


def slab_phase_setting(value: str | bool) -> str:
    """The name in `SLAB_PHASES` of a slab-phase setting (True and False, the earlier on/off setting)."""
    return named_setting(value, SLAB_PHASES, "on", "off", "the slab phase")


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
    >>> from axialsr.pipeline.blocks import BlockConfig
    >>> identity(BlockConfig(ngff_version="0.4")) == identity(BlockConfig())   # an output format: runtime
    True
    >>> identity(BlockConfig(overlap=4)) == identity(BlockConfig())
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


def default_preset(device: str = "auto") -> str:
    """The prior preset `device` gets by default (`settings.machine_preset`: base on a GPU, small on a CPU)."""
    from axialsr.device import resolve_device

    return machine_preset(resolve_device(device).type == "cuda")


@dataclass
class RestoreConfig:
    """What every method shares: whether to end with the projection onto the measurements (None: the
    method's default) and which (`projection`: 'h2' smoothest along z, 'h1', or 'l2' smallest; see
    `axialsr.operators.measurement`; slice-wise and the refinement use it at every step), whether to estimate a
    per-voxel uncertainty (methods that can, see `MethodSpec.uncertainty`); and the settings sections the
    methods own (`methods`: key -> config, e.g. 'lateral' -> `methods.lateral.LateralConfig`, or a method's
    own config under its name; absent: their defaults).

    Examples
    --------
    >>> from axialsr.methods.lateral import LateralConfig
    >>> RestoreConfig().settings("lateral", LateralConfig).flips
    'z'
    >>> RestoreConfig().with_settings(lateral=LateralConfig(flips="all")).settings("lateral", LateralConfig).flips
    'all'
    """

    consistency: bool | None = None
    projection: str = DEFAULT_PROJECTION
    uncertainty: bool = False
    uncertainty_scale: float | None = None  # None: UNCERTAINTY_SCALE (benchmarks/uncertainty.py fits it)
    methods: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_projection(self.projection)

    def settings(self, key: str, cls: type[T]) -> T:
        """The settings section `key`: the config given in `methods`, else `cls()` (its defaults)."""
        given = self.methods.get(key)
        return cls() if given is None else given

    def with_settings(self, **sections: Any) -> RestoreConfig:
        """A copy with these settings sections (key=config) given."""
        return replace(self, methods={**self.methods, **sections})


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
