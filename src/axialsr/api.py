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

import numpy as np

from axialsr.acquisition import Acquisition, simulate
from axialsr.errors import AxialSRError
from axialsr.intensity import cast_like
from axialsr.io import Volume, VolumeSource
from axialsr.metrics import evaluate_volume
from axialsr.prior import Prior
from axialsr.restore import DEFAULT_METHOD, Restoration, get_method
from axialsr.settings import PriorConfig, RestoreConfig
from axialsr.synthetic import make_volume

__all__ = [
    "Acquisition",
    "RunConfig",
    "RunResult",
    "acquisition_for",
    "evaluate",
    "load_priors",
    "restore",
    "restore_blockwise",
    "run",
    "run_blockwise",
    "score_row",
    "simulate_acquisition",
    "synth",
    "train_prior",
    "validate",
]

DEFAULT_SYNTH_VOXEL_NM = 8.0
PriorLike = Prior | str | os.PathLike


def acquisition_for(
    volume: Volume | VolumeSource, factor: float | None = None, model: str = "average", fwhm: float | None = None
) -> Acquisition:
    """The acquisition of a measured volume: factor s = `factor` when given, else dz/dx from its voxel
    size; `model` and `fwhm` (isotropic voxels, default s) as in `axialsr.acquisition`.

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
    return Acquisition(float(factor), model, fwhm)


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
    out_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Prior:
    """Train a prior on the XY slices of `volume` (see `axialsr.training.train_prior`); the pair kinds
    (`lateral`, `conditional`) take the volume's acquisition (default: from its voxel size)."""
    from axialsr.settings import PAIR_KINDS
    from axialsr.training import train_prior as _train

    cfg = config or PriorConfig()
    if cfg.kind in PAIR_KINDS and acquisition is None:
        acquisition = acquisition_for(volume)
    pixel = None if volume.voxel_size is None else float(volume.voxel_size[2])
    return _train(
        volume.data, cfg, out_dir, resume=resume, pixel_size=pixel, acquisition=acquisition, progress=progress
    )


def load_priors(priors: PriorLike | Sequence[PriorLike] | None, device: str = "auto") -> list[Prior]:
    """Priors from Prior objects or prior folders (loaded onto `device`)."""
    if priors is None:
        return []
    items = [priors] if isinstance(priors, (Prior, str, os.PathLike)) else list(priors)
    return [p if isinstance(p, Prior) else Prior.load(p, device) for p in items]


def restore(
    volume: Volume,
    method: str = DEFAULT_METHOD,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config: RestoreConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    dtype: str | None = None,
    progress: bool = True,
) -> tuple[Volume, Restoration]:
    """Restore an anisotropic volume onto the isotropic grid with a registered method.

    Parameters
    ----------
    volume : Volume
        The measured stack (Z, Y, X), any dtype, with its voxel size if known.
    method : str
        A method of `axialsr.restore.METHODS` (default: `restore.DEFAULT_METHOD`).
    acquisition : Acquisition, optional
        How z was measured; default: the average model at the factor given by the voxel size.
    priors : Prior, folder, or a sequence of them
        The trained priors the method needs (matched by kind).
    config : RestoreConfig, optional
        Method settings; its INR device also places the priors.
    checkpoint_dir, resume
        Checkpoints of the INR methods (resume continues to the same result).
    dtype : str, optional
        Output dtype (default: the input's; integers are rounded and clipped).
    progress : bool
        Show progress bars.

    Returns
    -------
    (Volume, Restoration)
        The isotropic volume (voxel size dz / s) and the restoration's details.
    """
    acquisition = acquisition or acquisition_for(volume)
    cfg = config or RestoreConfig()
    loaded = load_priors(priors, cfg.recon.device)
    if get_method(method).needs or loaded:
        from axialsr.device import resolve_device

        device = resolve_device(cfg.recon.device)
        loaded = [p.to(device) for p in loaded]
    from axialsr.restore import restore as _restore

    result = _restore(volume.data, method, acquisition, loaded, cfg, None, checkpoint_dir, resume, progress)
    data = cast_like(result.volume, dtype or volume.data.dtype)
    return Volume(data, output_voxel_size(volume, acquisition.factor), volume.unit), result


def restore_blockwise(
    source: VolumeSource,
    out: str | os.PathLike,
    method: str = DEFAULT_METHOD,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config: RestoreConfig | None = None,
    block_config=None,
    dtype: str | None = None,
    force: bool = False,
    progress: bool = True,
):
    """Restore a volume larger than memory block by block (see `axialsr.blocks`) into the Zarr store `out`,
    with any registered method. `source` comes from `io.open_source`. Raises AxialSRError naming the
    blocks that failed (finished blocks are kept for a rerun). Returns the `BlockRunSummary`."""
    from axialsr.blocks import run_blockwise as run_blocks
    from axialsr.settings import BlockConfig

    acquisition = acquisition or acquisition_for(source)
    summary = run_blocks(
        source,
        out,
        method,
        acquisition,
        block_config or BlockConfig(),
        load_priors(priors, "cpu"),
        config,
        dtype=dtype,
        out_voxel_size=output_voxel_size(source, acquisition.factor),
        force=force,
        progress=progress,
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
    """The whole job (`axialsr run`): which method, the priors it trains for it (templates whose kind
    and preset the run fills in), and the method settings. `preset` None picks `small` on a CPU and
    `base` on a GPU; `device` and `seed` apply to every step; the lateral regressor learns for the
    projection the restoration ends with (`restore.projection`)."""

    method: str = DEFAULT_METHOD
    preset: str | None = None
    lateral_prior: PriorConfig = field(default_factory=lambda: PriorConfig(kind="lateral"))
    diffusion_prior: PriorConfig = field(default_factory=lambda: PriorConfig(kind="conditional"))
    with_diffusion: bool = False
    restore: RestoreConfig = field(default_factory=RestoreConfig)
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        get_method(self.method)
        if self.lateral_prior.kind != "lateral":
            raise AxialSRError("the lateral prior of a run must be of kind 'lateral'")
        if self.diffusion_prior.kind not in ("diffusion", "conditional"):
            raise AxialSRError("the diffusion prior of a run must be of kind 'diffusion' or 'conditional'")

    def prior_configs(self) -> dict[str, PriorConfig]:
        """The priors to train, by role, with the run's preset, device and seed filled in."""
        from axialsr.device import resolve_device

        spec = get_method(self.method)
        roles = list(spec.needs) + [r for r in spec.optional if r == "diffusion" and self.with_diffusion]
        preset = self.preset or ("base" if resolve_device(self.device).type == "cuda" else "small")
        templates = {
            "lateral": replace(self.lateral_prior, projection=self.restore.projection),
            "diffusion": self.diffusion_prior,
        }
        return {role: replace(templates[role], preset=preset, device=self.device, seed=self.seed) for role in roles}


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
    work_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    resume: bool = False,
    dtype: str | None = None,
    progress: bool = True,
) -> RunResult:
    """The whole job on one volume: train the priors the method needs on its own XY slices (into
    `work_dir`/<kind>), then restore it. With `resume`, finished priors in `work_dir` are reused and
    unfinished ones (and the INR) continue from their checkpoints.

    Examples
    --------
    >>> from axialsr import api
    >>> from axialsr.training import PriorConfig
    >>> measured = api.simulate_acquisition(api.synth("em", (32, 48, 48)), api.Acquisition(4))
    >>> quick = api.RunConfig(preset="tiny", lateral_prior=PriorConfig(kind="lateral", steps=5), device="cpu")
    >>> result = api.run(measured, quick, progress=False)
    >>> result.volume.data.shape, result.restoration.method
    ((32, 48, 48), 'lateral')
    """
    cfg = config or RunConfig()
    acquisition = acquisition or acquisition_for(volume)
    priors, dirs = _run_priors(volume, cfg, work_dir, acquisition, resume, progress)
    checkpoints = None if work_dir is None else Path(work_dir) / "reconstruction"
    out, restoration = restore(
        volume, cfg.method, acquisition, priors, _run_restore_config(cfg), checkpoints, resume, dtype, progress
    )
    return RunResult(out, restoration, priors, dirs)


def run_blockwise(
    source: VolumeSource,
    out: str | os.PathLike,
    config: RunConfig | None = None,
    work_dir: str | os.PathLike | None = None,
    acquisition: Acquisition | None = None,
    block_config=None,
    resume: bool = False,
    dtype: str | None = None,
    force: bool = False,
    progress: bool = True,
):
    """The whole job on a volume larger than memory (`source` from `io.open_source`): train the priors on
    tiles read across the whole volume (`blocks.training_sample`), then restore it block by block into the
    Zarr store `out` (`restore_blockwise`). Returns (BlockRunSummary, priors, prior folders)."""
    from axialsr.blocks import training_sample

    cfg = config or RunConfig()
    acquisition = acquisition or acquisition_for(source)
    priors: list[Prior] = []
    dirs: list[Path] = []
    if cfg.prior_configs():
        sample = Volume(training_sample(source, seed=cfg.seed), source.voxel_size, source.unit)
        priors, dirs = _run_priors(sample, cfg, work_dir, acquisition, resume, progress)
    summary = restore_blockwise(
        source, out, cfg.method, acquisition, priors, _run_restore_config(cfg), block_config, dtype, force, progress
    )
    return summary, priors, dirs


def _run_priors(
    volume: Volume, cfg: RunConfig, work_dir, acquisition: Acquisition, resume: bool, progress: bool
) -> tuple[list[Prior], list[Path]]:
    """Train (or, resuming, reload) the priors of a run into `work_dir`/<kind>."""
    from axialsr.prior import CONFIG_FILE

    priors, dirs = [], []
    for prior_cfg in cfg.prior_configs().values():
        folder = None if work_dir is None else Path(work_dir) / prior_cfg.kind
        if resume and folder is not None and (folder / CONFIG_FILE).exists():
            prior = Prior.load(folder, cfg.device)
            prior.check_acquisition(acquisition)
        else:
            prior = train_prior(volume, prior_cfg, folder, acquisition, resume=resume, progress=progress)
        priors.append(prior)
        if folder is not None:
            dirs.append(folder)
    return priors, dirs


def _run_restore_config(cfg: RunConfig) -> RestoreConfig:
    return replace(cfg.restore, recon=replace(cfg.restore.recon, device=cfg.device, seed=cfg.seed))


def validate(
    volume: Volume,
    acquisition: Acquisition | None = None,
    priors: PriorLike | Sequence[PriorLike] | None = None,
    config=None,
    progress: bool = True,
):
    """Score methods on a degraded copy of `volume` whose truth the volume itself holds (see
    `axialsr.validate`); the methods' priors are matched by kind. Returns a ValidationResult."""
    from axialsr.validate import validate as _validate

    acquisition = acquisition or acquisition_for(volume)
    return _validate(volume.data, acquisition, load_priors(priors), config, progress)


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
    return evaluate_volume(pred.data, gt_data, measured)


def score_row(
    pred: Volume, gt: Volume, acquisition: Acquisition | None = None, other: Volume | None = None
) -> dict[str, float]:
    """`evaluate` flattened into one table row ('psnr_3d', 'ssim_xz', ...); with `other` (e.g. the YZ-wise
    restoration of a slice-wise method), also their agreement 'coherence_mad' / 'coherence_psnr'."""
    from axialsr.metrics import coherence, flatten

    row = flatten(evaluate(pred, gt, acquisition))
    if other is not None:
        data_range = float(gt.data.max() - gt.data.min())
        row.update({f"coherence_{k}": v for k, v in coherence(pred.data, other.data, data_range).items()})
    return row
