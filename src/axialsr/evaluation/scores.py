"""Scores of a restoration against an isotropic ground truth, as volumes (with their voxel sizes) come:
per plane family and in 3D (`evaluate`), flattened into one table row (`score_row`)."""

from __future__ import annotations

from axialsr.errors import AxialSRError
from axialsr.io import Volume
from axialsr.operators.acquisition import Acquisition


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
