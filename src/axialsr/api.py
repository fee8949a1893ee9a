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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.evaluation.scores import evaluate, score_row
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
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.bad_sections import BadSection
from axialsr.operators.intensity import cast_like, check_dtype
from axialsr.operators.measurement import DEFAULT_PROJECTION, PROJECTIONS, simulate
from axialsr.pipeline.measured import acquisition_for, bad_sections_for, output_voxel_size, sections_of
from axialsr.settings import PriorConfig, RestoreConfig, Runtime, default_preset

if TYPE_CHECKING:
    from axialsr.device import describe_device
    from axialsr.pipeline.blocks import BlockConfig, BlockRunSummary
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
    "run",
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


def __getattr__(name: str):
    """`describe_device` (from `axialsr.device`) is imported on first use: it needs torch, which importing
    the API does not load."""
    if name == "describe_device":
        from axialsr.device import describe_device

        return describe_device
    raise AttributeError(f"module 'axialsr.api' has no attribute '{name}'")


PriorLike = Prior | str | os.PathLike


def _apply(runtime: Runtime) -> Runtime:
    """Set torch's CPU threads when the runtime names a number (torch's default otherwise)."""
    if runtime.threads is not None:
        import torch

        torch.set_num_threads(runtime.threads)
    return runtime


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
    volume: Volume | VolumeSource,
    method: str = DEFAULT_METHOD,
    *,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config: RestoreConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    dtype: str | None = None,
    runtime: Runtime | None = None,
    blocks: BlockConfig | None = None,
    out: str | os.PathLike | None = None,
    force: bool = False,
) -> tuple[Volume, Restoration] | BlockRunSummary:
    """Restore an anisotropic volume onto the isotropic grid with a registered method.

    Parameters
    ----------
    volume : Volume or VolumeSource
        The measured stack (Z, Y, X), any dtype, with its voxel size if known (with `blocks`, also a
        `VolumeSource` from `open_source`, read block by block).
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
    blocks, out, force
        A volume larger than memory: restored block by block as `blocks` (a `BlockConfig`) says into the
        Zarr store `out` (see `axialsr.pipeline.blocks`); AxialSRError naming the blocks that failed
        (finished blocks are kept for a rerun).

    Returns
    -------
    (Volume, Restoration), or with `blocks` the BlockRunSummary
        The isotropic volume (voxel size dz / s) and the restoration's details.
    """
    from axialsr.pipeline.restore import restore_array

    acquisition = acquisition or acquisition_for(volume)
    rt = _apply(runtime or Runtime())
    if blocks is not None:
        kept = {"acquisition": acquisition, "priors": priors, "config": config, "dtype": dtype, "runtime": rt}
        return _restore_blocks(volume, method, blocks=blocks, out=out, force=force, **kept)
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


def _restore_blocks(source, method, *, acquisition, priors, config, blocks, out, dtype, force, runtime):
    """`restore` with `blocks`: block by block into the Zarr store `out`; the BlockRunSummary."""
    from axialsr.pipeline.blocks import run_blockwise

    if out is None:
        raise AxialSRError("a blockwise restoration needs the Zarr store to write (out)")
    summary = run_blockwise(
        source,
        out,
        method,
        acquisition=acquisition,
        config=blocks,
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
    """What `run` made: the isotropic volume and the restoration's details (a blockwise run: None, and the
    `blocks` summary instead, the volume being in its Zarr store), the priors and their folders."""

    volume: Volume | None
    restoration: Restoration | None
    priors: list[Prior]
    prior_dirs: list[Path]
    blocks: BlockRunSummary | None = None


def run(
    volume: Volume | VolumeSource,
    config: RunConfig | None = None,
    *,
    work_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    resume: bool = False,
    dtype: str | None = None,
    runtime: Runtime | None = None,
    blocks: BlockConfig | None = None,
    out: str | os.PathLike | None = None,
    force: bool = False,
) -> RunResult:
    """The whole job on one volume: train the priors the method needs on its own XY slices (into
    `work_dir`/<kind>), then restore it. With `resume`, finished priors in `work_dir` are reused and
    unfinished ones (and the INR) continue from their checkpoints. With `blocks` (a volume larger than
    memory, `volume` a `VolumeSource` from `open_source`), the priors train on tiles read across the whole
    volume (`blocks.training_sample`) and the restoration goes block by block into the Zarr store `out`.

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
    sample, sampled = volume, acquisition
    if blocks is not None and cfg.prior_configs():  # trained on tiles read across the whole volume
        from axialsr.pipeline.blocks import training_sample

        data = training_sample(volume, seed=rt.seed, acquisition=acquisition)
        # tiles of a larger volume number their sections anew: read corrected and bridged, none left to mark
        tiled = data.shape[0] != volume.shape[0]
        sample = Volume(data, volume.voxel_size, volume.unit)
        sampled = acquisition.without_missing().as_corrected() if tiled else acquisition
    priors, dirs = _run_priors(sample, cfg, work_dir=work_dir, acquisition=sampled, resume=resume, runtime=rt)
    checkpoints = None if work_dir is None else Path(work_dir) / "reconstruction"
    restored = restore(
        volume,
        cfg.method,
        acquisition=acquisition,
        priors=priors,
        config=cfg.restore,
        checkpoint_dir=checkpoints,
        resume=resume,
        dtype=dtype,
        runtime=rt,
        blocks=blocks,
        out=out,
        force=force,
    )
    if blocks is not None:
        return RunResult(None, None, priors, dirs, blocks=restored)
    return RunResult(*restored, priors, dirs)


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
