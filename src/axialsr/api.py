"""The Python API: every CLI command is a thin layer over one of these functions.

Volumes go in and out as `axialsr.io.Volume` (array + voxel size); intensities stay in the input's units
and dtype unless said otherwise. How z was measured travels as an `Acquisition` (factor s = dz/dx,
model, PSF width); `acquisition_for` builds one from a volume's voxel size.

Examples
--------
>>> from axialsr import api
>>> truth = api.synth("em", (32, 48, 48), seed=0)
>>> measured = api.simulate_acquisition(truth, api.Acquisition(4))
>>> measured.data.shape, measured.voxel_size
((8, 48, 48), (32.0, 8.0, 8.0))
>>> iso, info = api.restore(measured, "cubic")
>>> iso.data.shape, iso.data.dtype, iso.voxel_size
((32, 48, 48), dtype('uint8'), (8.0, 8.0, 8.0))
>>> scores = api.evaluate(iso, truth, api.acquisition_for(measured))
>>> 15 < scores["3d"]["psnr"] < 40
True
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.interrupts import CancelledError, RunInterruptedError, step_hook
from axialsr.io import (
    Volume,
    VolumeSource,
    check_output,
    open_source,
    parse_voxel_size,
    read_volume,
    tagged_sibling,
    write_text_atomic,
    write_volume,
)
from axialsr.learning.priors import DiffusionPrior, LateralRegressor, Prior, load_prior
from axialsr.methods import (
    DEFAULT_METHOD,
    MethodSpec,
    get_method,
    method_for_priors,
    method_names,
    methods,
    methods_for,
)
from axialsr.operators.acquisition import Acquisition, present_sections
from axialsr.operators.bad_sections import BadSection
from axialsr.operators.intensity import cast_like, check_dtype
from axialsr.operators.measurement import DEFAULT_PROJECTION, PROJECTIONS, simulate
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

if TYPE_CHECKING:
    from axialsr.pipeline.restore import Restoration

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_PROJECTION",
    "PROJECTIONS",
    "Acquisition",
    "BadSection",
    "CancelledError",
    "MethodSpec",
    "RunConfig",
    "RunInterruptedError",
    "RunResult",
    "Runtime",
    "Volume",
    "VolumeSource",
    "acquisition_for",
    "bad_sections_for",
    "sections_of",
    "check_dtype",
    "check_output",
    "default_preset",
    "describe_device",
    "evaluate",
    "get_method",
    "is_prior_folder",
    "load_priors",
    "method_names",
    "methods",
    "export_model",
    "method_for_priors",
    "methods_for",
    "open_source",
    "output_voxel_size",
    "parse_voxel_size",
    "read_volume",
    "restore",
    "restore_blockwise",
    "run",
    "run_blockwise",
    "score_row",
    "simulate_acquisition",
    "step_hook",
    "synth",
    "tagged_sibling",
    "train_prior",
    "validate",
    "validation_methods",
    "write_text_atomic",
    "write_volume",
]

DEFAULT_SYNTH_VOXEL_NM = 8.0
PriorLike = Prior | str | os.PathLike


def describe_device(device: str = "auto") -> str:
    """The device work runs on, in words ('cpu (2 CPU threads)', 'cuda (NVIDIA H100)'); AxialSRError when
    it does not exist here."""
    import torch

    from axialsr.device import resolve_device

    chosen = resolve_device(device)
    name = torch.cuda.get_device_name(chosen) if chosen.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    return f"{chosen} ({name})"


def default_preset(device: str = "auto") -> str:
    """The prior preset `device` gets by default (`settings.machine_preset`: base on a GPU, small on a CPU)."""
    from axialsr.device import resolve_device
    from axialsr.settings import machine_preset

    return machine_preset(resolve_device(device).type == "cuda")


def _apply(runtime: Runtime) -> Runtime:
    """Set torch's CPU threads when the runtime names a number (torch's default otherwise)."""
    if runtime.threads is not None:
        import torch

        torch.set_num_threads(runtime.threads)
    return runtime


def bad_sections_for(
    volume: Volume | VolumeSource, bad_sections: str | Sequence[int] | Sequence[BadSection] | None = "auto"
) -> list[BadSection]:
    """The sections of `volume` that carry no information: found in its data with 'auto' (see
    `axialsr.operators.bad_sections`; warns with one line naming them), none with 'none' or None, or the given
    indices ('14,27' or a sequence; kind 'named'). AxialSRError when an index is outside the stack.

    Examples
    --------
    >>> import numpy as np
    >>> stack = Volume(np.random.default_rng(0).integers(50, 200, (6, 32, 32)).astype(np.uint8))
    >>> stack.data[2] = 0
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     found = bad_sections_for(stack)
    >>> [(b.index, b.kind) for b in found], str(caught[0].message)
    ([(2, 'blank')], 'section 2 looks missing or damaged (2 blank); it is left out and restored from its neighbours')
    >>> [b.index for b in bad_sections_for(stack, "1,4")], bad_sections_for(stack, "none")
    ([1, 4], [])
    """
    from axialsr.operators.bad_sections import describe_bad_sections, find_bad_sections, parse_bad_sections

    data = volume if isinstance(volume, VolumeSource) else volume.data
    depth = data.shape[0]
    if (
        bad_sections is not None
        and not isinstance(bad_sections, str)
        and all(isinstance(b, BadSection) for b in bad_sections)
    ):
        found = list(bad_sections)
    else:
        chosen = parse_bad_sections(bad_sections)
        if chosen == "auto":
            found = find_bad_sections(data)
            if found:
                warnings.warn(describe_bad_sections(found), stacklevel=2)
        else:
            found = [BadSection(k, "named") for k in chosen]
    present_sections(tuple(sorted({b.index for b in found})), depth)  # every index inside, one left
    return found


def acquisition_for(
    volume: Volume | VolumeSource,
    factor: float | None = None,
    model: str = "average",
    fwhm: float | None = None,
    bad_sections: str | Sequence[int] | Sequence[BadSection] | None = "auto",
) -> Acquisition:
    """The acquisition of a measured volume: factor s = `factor` when given, else dz/dx from its voxel
    size; `model` and `fwhm` (isotropic voxels, default s) as in `axialsr.operators.acquisition`; its missing
    sections from `bad_sections` (see `bad_sections_for`: by default found in the data).

    Raises AxialSRError when no factor is known or it is below 1; warns when a given factor contradicts
    the voxel size (the output would not be isotropic) or when the voxel size looks uncalibrated."""
    from_file = volume.anisotropy
    if factor is not None and (not np.isfinite(factor) or factor < 1):
        raise AxialSRError(f"the axial factor must be >= 1 (z sampled more coarsely than x), got {factor}")
    if factor is None:
        if from_file is None:
            raise AxialSRError("the input has no voxel size: give the factor (dz/dx) or the voxel size")
        factor = from_file
        if volume.voxel_size is not None and np.allclose(volume.voxel_size, 1.0):
            warnings.warn(
                "the voxel size is 1x1x1 (uncalibrated?): factor 1 leaves z as it is; give the factor or voxel size",
                stacklevel=2,
            )
    elif from_file is not None and np.isfinite(factor) and abs(factor / from_file - 1) > 0.01:
        dz, _, dx = volume.voxel_size
        warnings.warn(
            f"factor {factor:g} differs from the voxel size's dz/dx = {from_file:g}: the output's z spacing will be "
            f"{dz / factor:.4g} against x {dx:.4g} {volume.unit}, not isotropic",
            stacklevel=2,
        )
    if factor is None or not np.isfinite(factor) or factor < 1:
        raise AxialSRError(f"the axial factor must be >= 1 (z sampled more coarsely than x), got {factor}")
    return Acquisition(float(factor), model, fwhm, **sections_of(bad_sections_for(volume, bad_sections)))


def sections_of(found: Sequence[BadSection]) -> dict[str, tuple]:
    """What bad sections make of an acquisition: `missing` (those left out) and `corrections` (those
    matched to their neighbours and kept), as keyword arguments of `Acquisition`.

    Examples
    --------
    >>> sections_of([BadSection(3, "blank"), BadSection(5, "intensity", gain=1.5, offset=-10.0)])
    {'missing': (3,), 'corrections': ((5, 1.5, -10.0),)}
    """
    return {
        "missing": tuple(b.index for b in found if b.excluded),
        "corrections": tuple((b.index, b.gain, b.offset) for b in found if not b.excluded),
    }


def output_voxel_size(volume: Volume | VolumeSource, factor: float) -> tuple[float, float, float] | None:
    """Voxel size of the isotropic output: z spacing dz / s (None when the input has none)."""
    if volume.voxel_size is None:
        return None
    dz, dy, dx = volume.voxel_size
    return (dz / factor, dy, dx)


def synth(
    kind: str = "em",
    shape: tuple[int, int, int] = (64, 128, 128),
    seed: int = 0,
    dtype: str = "uint8",
    voxel_nm: float = DEFAULT_SYNTH_VOXEL_NM,
) -> Volume:
    """A synthetic isotropic ground-truth volume ('em' or 'fluo') in `dtype` (full range for integers),
    with an isotropic voxel of `voxel_nm` nanometres."""
    from axialsr.evaluation.synthetic import make_volume

    data = make_volume(kind, shape, seed)
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        data = data * float(np.iinfo(dt).max)
    return Volume(cast_like(data, dt), (voxel_nm, voxel_nm, voxel_nm), "nm")


def simulate_acquisition(volume: Volume, acquisition: Acquisition, dtype: str | None = None) -> Volume:
    """Apply the acquisition model along z to an isotropic volume: (Z, Y, X) -> (floor(Z / s), Y, X).

    The output keeps the input's dtype (unless `dtype`) and gets voxel size (dz * s, dy, dx)."""
    lr = simulate(volume.data, acquisition)
    size = None
    if volume.voxel_size is not None:
        dz, dy, dx = volume.voxel_size
        size = (dz * acquisition.factor, dy, dx)
    return Volume(cast_like(lr, dtype or volume.data.dtype), size, volume.unit)


def train_prior(
    volume: Volume,
    config: PriorConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    resume: bool = False,
    runtime: Runtime | None = None,
) -> Prior:
    """Train a prior on the XY slices of `volume` (see `axialsr.learning.prior_training.train_prior`); the pair kinds
    (`lateral`, `conditional`) take the volume's acquisition (default: from its voxel size). Returns a
    `DiffusionPrior` or a `LateralRegressor`."""
    from axialsr.learning.prior_training import train_prior as _train
    from axialsr.settings import PAIR_KINDS

    cfg = config or PriorConfig()
    if cfg.kind in PAIR_KINDS and acquisition is None:
        acquisition = acquisition_for(volume)
    pixel = None if volume.voxel_size is None else float(volume.voxel_size[2])
    rt = _apply(runtime or Runtime())
    return _train(
        volume.data, cfg, out_dir=out_dir, resume=resume, pixel_size=pixel, acquisition=acquisition, runtime=rt
    )


def is_prior_folder(folder: str | os.PathLike) -> bool:
    """Whether `folder` holds a trained prior (its prior.json)."""
    from axialsr.learning.priors import CONFIG_FILE

    return (Path(folder) / CONFIG_FILE).is_file()


def export_model(
    prior: PriorLike,
    volume: Volume,
    out: str | os.PathLike,
    name: str = "axialsr lateral regressor",
    force: bool = False,
) -> Path:
    """Write a lateral regressor (a Prior or its folder) as a validated bioimage.io model package (zip),
    with test tensors made from `volume`, the measured volume it was trained on (see
    `axialsr.pipeline.bioimageio`); returns the path written."""
    from axialsr.pipeline.bioimageio import export_bioimageio

    if not str(out).lower().endswith(".zip"):
        raise AxialSRError(f"a model package is a .zip file, got {out}", setting="out")
    check_output(Path(out), force, any_format=True)
    (loaded,) = load_priors(prior, "cpu")
    return export_bioimageio(loaded, volume.data, out, name=name)


def load_priors(priors: PriorLike | Sequence[PriorLike] | None, device: str = "auto") -> list[Prior]:
    """Priors from Prior objects or prior folders (loaded onto `device`), each as its type."""
    if priors is None:
        return []
    items = [priors] if isinstance(priors, (Prior, str, os.PathLike)) else list(priors)
    return [p if isinstance(p, Prior) else load_prior(p, device) for p in items]


def restore(
    volume: Volume,
    method: str = DEFAULT_METHOD,
    *,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config: RestoreConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    dtype: str | None = None,
    runtime: Runtime | None = None,
) -> tuple[Volume, Restoration]:
    """Restore an anisotropic volume onto the isotropic grid with a registered method.

    Parameters
    ----------
    volume : Volume
        The measured stack (Z, Y, X), any dtype, with its voxel size if known.
    method : str
        A registered method (`methods()`; default `DEFAULT_METHOD`).
    acquisition : Acquisition, optional
        How z was measured; default: the average model at the factor given by the voxel size, with the
        sections found missing or damaged in the data (`bad_sections_for`).
    priors : Prior, folder, or a sequence of them
        The trained priors the method needs (matched by type).
    config : RestoreConfig, optional
        Method settings.
    checkpoint_dir, resume
        Checkpoints of the iterative methods (resume continues to the same result).
    dtype : str, optional
        Output dtype (default: the input's; integers are rounded and clipped).
    runtime : Runtime, optional
        Device (the priors move there), seed, threads, progress bars, checkpoint cadence.

    Returns
    -------
    (Volume, Restoration)
        The isotropic volume (voxel size dz / s) and the restoration's details.
    """
    from axialsr.pipeline.restore import restore_array

    acquisition = acquisition or acquisition_for(volume)
    rt = _apply(runtime or Runtime())
    loaded = load_priors(priors, rt.device)
    result = restore_array(
        volume.data,
        method,
        acquisition,
        priors=loaded,
        config=config,
        normalization=None,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        runtime=rt,
    )
    data = cast_like(result.volume, dtype or volume.data.dtype)
    return Volume(data, output_voxel_size(volume, acquisition.factor), volume.unit), result


def restore_blockwise(
    source: VolumeSource,
    out: str | os.PathLike,
    method: str = DEFAULT_METHOD,
    *,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config: RestoreConfig | None = None,
    block_config=None,
    dtype: str | None = None,
    force: bool = False,
    runtime: Runtime | None = None,
):
    """Restore a volume larger than memory block by block (see `axialsr.pipeline.blocks`) into the Zarr store `out`,
    with any registered method. `source` comes from `open_source`. Raises AxialSRError naming the
    blocks that failed (finished blocks are kept for a rerun). Returns the `BlockRunSummary`."""
    from axialsr.pipeline.blocks import BlockConfig
    from axialsr.pipeline.blocks import run_blockwise as run_blocks

    acquisition = acquisition or acquisition_for(source)
    summary = run_blocks(
        source,
        out,
        method,
        acquisition=acquisition,
        config=block_config or BlockConfig(),
        priors=load_priors(priors, "cpu"),
        restore_config=config,
        dtype=dtype,
        out_voxel_size=output_voxel_size(source, acquisition.factor),
        force=force,
        runtime=runtime,
    )
    if summary.failures:
        first = next(iter(summary.failures.items()))
        raise AxialSRError(
            f"{len(summary.failures)} of {summary.blocks_total} blocks failed ({first[0]}: {first[1]}); "
            "finished blocks are kept: fix the cause and rerun the same command to continue"
        )
    return summary


@dataclass
class RunConfig:
    """The whole job (`axialsr run`): which method, the priors it trains for it, and the method settings.
    The priors are trained as their templates say: a template's preset left None is the machine's (small
    on a CPU, base on a GPU) and a lateral template's projection left None is the restoration's
    (`restore.projection`), so that the regressor learns for the projection it will get."""

    method: str = DEFAULT_METHOD
    lateral_prior: PriorConfig = field(default_factory=lambda: PriorConfig(kind="lateral"))
    diffusion_prior: PriorConfig = field(default_factory=lambda: PriorConfig(kind="conditional"))
    with_diffusion: bool = False
    restore: RestoreConfig = field(default_factory=RestoreConfig)

    def __post_init__(self) -> None:
        get_method(self.method)
        if self.lateral_prior.kind != "lateral":
            raise AxialSRError("the lateral prior of a run must be of kind 'lateral'")
        if self.diffusion_prior.kind not in DiffusionPrior.kinds:
            raise AxialSRError("the diffusion prior of a run must be of kind 'diffusion' or 'conditional'")

    def prior_configs(self) -> list[PriorConfig]:
        """The priors to train: one per prior type the method needs (and a diffusion prior when it takes
        one and `with_diffusion`)."""
        spec = get_method(self.method)
        wanted = list(spec.needs) + [t for t in spec.optional if t is DiffusionPrior and self.with_diffusion]
        lateral = self.lateral_prior
        if lateral.projection is None:
            lateral = replace(lateral, projection=self.restore.projection)
        templates = {LateralRegressor: lateral, DiffusionPrior: self.diffusion_prior}
        return [templates[kind] for kind in wanted]


@dataclass
class RunResult:
    """What `run` made: the isotropic volume, the restoration's details, the priors and their folders."""

    volume: Volume
    restoration: Restoration
    priors: list[Prior]
    prior_dirs: list[Path]


def run(
    volume: Volume,
    config: RunConfig | None = None,
    *,
    work_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    resume: bool = False,
    dtype: str | None = None,
    runtime: Runtime | None = None,
) -> RunResult:
    """The whole job on one volume: train the priors the method needs on its own XY slices (into
    `work_dir`/<kind>), then restore it. With `resume`, finished priors in `work_dir` are reused and
    unfinished ones (and the INR) continue from their checkpoints.

    Examples
    --------
    >>> from axialsr import api
    >>> from axialsr.settings import PriorConfig
    >>> measured = api.simulate_acquisition(api.synth("em", (32, 48, 48)), api.Acquisition(4))
    >>> quick = api.RunConfig(lateral_prior=PriorConfig(kind="lateral", preset="tiny", steps=5))
    >>> result = api.run(measured, quick, runtime=api.Runtime(device="cpu", progress=False))
    >>> result.volume.data.shape, result.restoration.method
    ((32, 48, 48), 'lateral')
    """
    cfg = config or RunConfig()
    rt = _apply(runtime or Runtime())
    acquisition = acquisition or acquisition_for(volume)
    priors, dirs = _run_priors(volume, cfg, work_dir=work_dir, acquisition=acquisition, resume=resume, runtime=rt)
    checkpoints = None if work_dir is None else Path(work_dir) / "reconstruction"
    out, restoration = restore(
        volume,
        cfg.method,
        acquisition=acquisition,
        priors=priors,
        config=cfg.restore,
        checkpoint_dir=checkpoints,
        resume=resume,
        dtype=dtype,
        runtime=rt,
    )
    return RunResult(out, restoration, priors, dirs)


def run_blockwise(
    source: VolumeSource,
    out: str | os.PathLike,
    config: RunConfig | None = None,
    *,
    work_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    block_config=None,
    resume: bool = False,
    dtype: str | None = None,
    force: bool = False,
    runtime: Runtime | None = None,
):
    """The whole job on a volume larger than memory (`source` from `open_source`): train the priors on
    tiles read across the whole volume (`blocks.training_sample`), then restore it block by block into the
    Zarr store `out` (`restore_blockwise`). Returns (BlockRunSummary, priors, prior folders)."""
    from axialsr.pipeline.blocks import training_sample

    cfg = config or RunConfig()
    rt = _apply(runtime or Runtime())
    acquisition = acquisition or acquisition_for(source)
    priors: list[Prior] = []
    dirs: list[Path] = []
    if cfg.prior_configs():
        data = training_sample(source, seed=rt.seed, acquisition=acquisition)
        # tiles of a larger volume number their sections anew: read corrected and bridged, none left to mark
        tiled = data.shape[0] != source.shape[0]
        sample = Volume(data, source.voxel_size, source.unit)
        sampled = acquisition.without_missing().as_corrected() if tiled else acquisition
        priors, dirs = _run_priors(sample, cfg, work_dir=work_dir, acquisition=sampled, resume=resume, runtime=rt)
    summary = restore_blockwise(
        source,
        out,
        cfg.method,
        acquisition=acquisition,
        priors=priors,
        config=cfg.restore,
        block_config=block_config,
        dtype=dtype,
        force=force,
        runtime=rt,
    )
    return summary, priors, dirs


def _run_priors(
    volume: Volume, cfg: RunConfig, *, work_dir, acquisition: Acquisition, resume: bool, runtime: Runtime
) -> tuple[list[Prior], list[Path]]:
    """Train (or, resuming, reload) the priors of a run into `work_dir`/<kind>."""
    from axialsr.learning.priors import CONFIG_FILE

    priors, dirs = [], []
    for prior_cfg in cfg.prior_configs():
        folder = None if work_dir is None else Path(work_dir) / prior_cfg.kind
        if resume and folder is not None and (folder / CONFIG_FILE).exists():
            prior = load_prior(folder, runtime.device)
            prior.check_acquisition(acquisition)
        else:
            prior = train_prior(
                volume, prior_cfg, out_dir=folder, acquisition=acquisition, resume=resume, runtime=runtime
            )
        priors.append(prior)
        if folder is not None:
            dirs.append(folder)
    return priors, dirs


def validate(
    volume: Volume,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config=None,
    runtime: Runtime | None = None,
):
    """Score methods on a degraded copy of `volume` whose truth the volume itself holds (see
    `axialsr.pipeline.validate`); the methods' priors are matched by type. Returns a ValidationResult."""
    from axialsr.pipeline.validate import validate as _validate

    acquisition = acquisition or acquisition_for(volume)
    rt = _apply(runtime or Runtime())
    return _validate(volume.data, acquisition, load_priors(priors, rt.device), config, rt)


def validation_methods(priors: PriorLike | Sequence[PriorLike] | None) -> tuple[str, ...]:
    """The methods `validate` compares by default with these priors: the interpolations (but nearest), the
    INR, and every method whose priors are all given."""
    from axialsr.pipeline.validate import default_methods

    return default_methods(load_priors(priors))


def evaluate(pred: Volume, gt: Volume, acquisition: Acquisition | None = None) -> dict[str, dict[str, float]]:
    """Score a restoration against an isotropic ground truth (see `metrics.evaluate_volume`).

    A ground truth deeper than the prediction (the slices past the last whole slab) is cropped to it.
    With `acquisition`, also scores the measured and unmeasured depths separately."""
    gt_data = gt.data
    if gt_data.shape[1:] != pred.data.shape[1:] or gt_data.shape[0] < pred.data.shape[0]:
        raise AxialSRError(f"prediction shape {pred.data.shape} does not fit ground truth shape {gt_data.shape}")
    gt_data = gt_data[: pred.data.shape[0]]
    measured = None
    if acquisition is not None:
        measured = acquisition.measured_slices(acquisition.measured_depth(gt_data.shape[0]))
    from axialsr.evaluation.metrics import evaluate_volume

    return evaluate_volume(pred.data, gt_data, measured)


def score_row(
    pred: Volume, gt: Volume, acquisition: Acquisition | None = None, other: Volume | None = None
) -> dict[str, float]:
    """`evaluate` flattened into one table row ('psnr_3d', 'ssim_xz', ...); with `other` (e.g. the YZ-wise
    restoration of a slice-wise method), also their agreement 'coherence_mad' / 'coherence_psnr'."""
    from axialsr.evaluation.metrics import coherence, flatten

    row = flatten(evaluate(pred, gt, acquisition))
    if other is not None:
        data_range = float(gt.data.max() - gt.data.min())
        row.update({f"coherence_{k}": v for k, v in coherence(pred.data, other.data, data_range).items()})
    return row
