"""The Python API: every CLI command is a thin layer over one of these functions.

Volumes go in and out as `axialsr.io.Volume` (array + voxel size); intensities stay in the input's units
and dtype unless said otherwise.
"""

from __future__ import annotations

import numpy as np

from axialsr.acquisition import Acquisition, simulate
from axialsr.baselines import INTERPOLATION_METHODS, interpolate_z
from axialsr.errors import AxialSRError
from axialsr.intensity import cast_like
from axialsr.io import Volume
from axialsr.metrics import evaluate_volume
from axialsr.synthetic import make_volume

DEFAULT_SYNTH_VOXEL_NM = 8.0


def resolve_factor(volume, factor: float | None) -> float:
    """The axial factor s: `factor` when given, else dz/dx from the voxel size of `volume` (a Volume or an
    io.VolumeSource)."""
    if factor is None:
        if volume.voxel_size is None:
            raise AxialSRError("the input has no voxel size: pass --factor S (dz/dx) or --voxel-size Z,Y,X")
        factor = volume.anisotropy
    if factor is None or not np.isfinite(factor) or factor < 1:
        raise AxialSRError(f"the axial factor must be >= 1 (z sampled more coarsely than x), got {factor}")
    return float(factor)


def output_voxel_size(volume: Volume, factor: float) -> tuple[float, float, float] | None:
    """Voxel size of the isotropic output: z spacing dz / s."""
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
    """A synthetic isotropic ground-truth volume ('em' or 'fluo') in `dtype` (full range for integers)."""
    data = make_volume(kind, shape, seed)
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        data = data * float(np.iinfo(dt).max)
    return Volume(cast_like(data, dt), (voxel_nm, voxel_nm, voxel_nm), "nm")


def simulate_acquisition(
    volume: Volume, factor: float, model: str = "average", fwhm: float | None = None, dtype: str | None = None
) -> Volume:
    """Apply the acquisition model along z to an isotropic volume: (Z, Y, X) -> (floor(Z / s), Y, X).

    The output keeps the input's dtype (unless `dtype`) and gets voxel size (dz * s, dy, dx)."""
    acquisition = Acquisition(factor, model, fwhm)
    lr = simulate(volume.data, acquisition)
    size = None
    if volume.voxel_size is not None:
        dz, dy, dx = volume.voxel_size
        size = (dz * factor, dy, dx)
    return Volume(cast_like(lr, dtype or volume.data.dtype), size, volume.unit)


def interpolation_baseline(
    volume: Volume, method: str = "cubic", factor: float | None = None, dtype: str | None = None
) -> Volume:
    """Interpolate a measured stack along z onto the isotropic grid (round(Z * s) slices)."""
    if method not in INTERPOLATION_METHODS:
        raise AxialSRError(f"unknown interpolation '{method}'; choose one of {INTERPOLATION_METHODS}")
    s = resolve_factor(volume, factor)
    out = interpolate_z(volume.data, s, method)
    return Volume(cast_like(out, dtype or volume.data.dtype), output_voxel_size(volume, s), volume.unit)


def train_prior(volume: Volume, config=None, out_dir=None, resume: bool = False, progress: bool = True):
    """Train the 2D diffusion prior on the XY slices of `volume` (see `axialsr.prior.train_prior`)."""
    from axialsr.prior import train_prior as _train

    pixel = None if volume.voxel_size is None else float(volume.voxel_size[2])
    return _train(volume.data, config, out_dir, resume=resume, pixel_size=pixel, progress=progress)


def reconstruct(
    volume: Volume,
    prior=None,
    factor: float | None = None,
    config=None,
    model: str = "average",
    fwhm: float | None = None,
    checkpoint_dir=None,
    resume: bool = False,
    dtype: str | None = None,
    progress: bool = True,
    normalization=None,
    acquisition: Acquisition | None = None,
):
    """Reconstruct an isotropic volume with the INR; `prior` (a Prior or a prior folder) adds SDS, None
    gives the fidelity-only INR. Returns (Volume in the input's dtype and units, ReconstructionResult).
    `normalization` (intensity.Normalization) defaults to one fitted on `volume`; blocks of a bigger
    volume pass the whole volume's, so that they agree."""
    from pathlib import Path

    from axialsr.intensity import Normalization
    from axialsr.prior import Prior
    from axialsr.reconstruct import ReconstructionConfig
    from axialsr.reconstruct import reconstruct as _reconstruct

    cfg = config or ReconstructionConfig()
    s = resolve_factor(volume, acquisition.factor if acquisition is not None else factor)
    acquisition = acquisition or Acquisition(s, model, fwhm)
    if isinstance(prior, (str, Path)):
        prior = Prior.load(prior, cfg.device)
    normalization = normalization or Normalization.fit(volume.data)
    result = _reconstruct(
        normalization.forward(volume.data),
        acquisition,
        prior,
        cfg,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        progress=progress,
    )
    data = cast_like(normalization.inverse(result.volume), dtype or volume.data.dtype)
    return Volume(data, output_voxel_size(volume, s), volume.unit), result


def slicewise_baseline(
    volume: Volume,
    prior,
    factor: float | None = None,
    config=None,
    model: str = "average",
    fwhm: float | None = None,
    dtype: str | None = None,
    progress: bool = True,
    normalization=None,
) -> Volume:
    """Slice-by-slice 2D diffusion baseline (see `axialsr.slicewise`); `prior` is a Prior or a folder.
    `normalization` as in `reconstruct`."""
    from pathlib import Path

    from axialsr.intensity import Normalization
    from axialsr.prior import Prior
    from axialsr.slicewise import slicewise_diffusion

    s = resolve_factor(volume, factor)
    if isinstance(prior, (str, Path)):
        prior = Prior.load(prior)
    if prior is None:
        raise AxialSRError("--method slicewise needs --prior PRIOR_DIR (train one with axialsr train-prior)")
    normalization = normalization or Normalization.fit(volume.data)
    out = slicewise_diffusion(
        normalization.forward(volume.data), Acquisition(s, model, fwhm), prior, config, progress=progress
    )
    data = cast_like(normalization.inverse(out), dtype or volume.data.dtype)
    return Volume(data, output_voxel_size(volume, s), volume.unit)


def evaluate(pred: Volume, gt: Volume, factor: float | None = None) -> dict[str, dict[str, float]]:
    """Score a reconstruction against an isotropic ground truth (see `metrics.evaluate_volume`).

    A ground truth deeper than the prediction (the slices past the last whole slab) is cropped to it.
    With `factor`, also scores the measured and unmeasured depths separately."""
    gt_data = gt.data
    if gt_data.shape[1:] != pred.data.shape[1:] or gt_data.shape[0] < pred.data.shape[0]:
        raise AxialSRError(f"prediction shape {pred.data.shape} does not fit ground truth shape {gt_data.shape}")
    gt_data = gt_data[: pred.data.shape[0]]
    measured = None
    if factor is not None:
        acquisition = Acquisition(factor)
        measured = acquisition.measured_slices(acquisition.measured_depth(gt_data.shape[0]))
    return evaluate_volume(pred.data, gt_data, measured)


def reconstruct_blockwise(
    input_spec: str,
    out: str,
    method: str = "inr-sds",
    prior=None,
    factor: float | None = None,
    recon_config=None,
    block_config=None,
    model: str = "average",
    fwhm: float | None = None,
    voxel_size: tuple[float, float, float] | None = None,
    channel: int | None = None,
    dtype: str | None = None,
    force: bool = False,
    progress: bool = True,
):
    """Restore a volume larger than memory block by block (see `axialsr.blocks`) into the Zarr store `out`:
    `method` is 'inr-sds' (needs `prior`), 'inr' or an interpolation. Raises AxialSRError naming the blocks
    that failed (finished blocks are kept for a rerun). Returns the `BlockRunSummary`."""
    from pathlib import Path

    from axialsr.blocks import BlockConfig, run_blockwise
    from axialsr.io import open_source
    from axialsr.prior import Prior

    source = open_source(input_spec, voxel_size, channel)
    s = resolve_factor(source, factor)
    if isinstance(prior, (str, Path)):
        prior = Prior.load(prior, "cpu")
    size = None if source.voxel_size is None else (source.voxel_size[0] / s, *source.voxel_size[1:])
    summary = run_blockwise(
        source,
        out,
        method,
        s,
        block_config or BlockConfig(),
        prior=prior,
        recon=recon_config,
        model=model,
        fwhm=fwhm,
        dtype=dtype,
        out_voxel_size=size,
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


def validate(volume: Volume, prior=None, factor: float | None = None, config=None, progress: bool = True):
    """Score methods on a degraded copy of `volume` whose truth the volume itself holds (see
    `axialsr.validate`); `prior` (a Prior or a folder) is needed for 'inr-sds'. Returns a ValidationResult."""
    from pathlib import Path

    from axialsr.prior import Prior
    from axialsr.validate import validate as _validate

    s = resolve_factor(volume, factor)
    if isinstance(prior, (str, Path)):
        prior = Prior.load(prior)
    return _validate(volume, s, prior, config, progress)
