"""Image-quality metrics against an isotropic ground truth, per plane family and at measured depths.

PSNR uses the ground truth's data range (max - min), in the ground truth's units, and is capped at
`PSNR_CAP` dB for identical volumes (so it stays a finite JSON number). SSIM is scikit-image's, averaged
over the 2D slices of each plane family: XY (slices along z), XZ (along y), YZ (along x); "3d" is the
volume PSNR and the 3D SSIM. "measured"/"unmeasured" split the XY slices into those that hold a
measured slab's centre and the others.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from axialsr.errors import AxialSRError

PSNR_CAP = 100.0
PLANES = ("xy", "xz", "yz")
MAX_SLICES_PER_FAMILY = 64


def psnr(pred: np.ndarray, gt: np.ndarray, data_range: float) -> float:
    """Peak signal-to-noise ratio in dB with the given data range, capped at PSNR_CAP."""
    mse = float(np.mean((np.asarray(pred, np.float64) - np.asarray(gt, np.float64)) ** 2))
    if mse <= data_range**2 * 10 ** (-PSNR_CAP / 10):
        return PSNR_CAP
    return float(10 * np.log10(data_range**2 / mse))


def _slices(volume: np.ndarray, plane: str, indices: np.ndarray) -> list[np.ndarray]:
    axis = {"xy": 0, "xz": 1, "yz": 2}[plane]
    return [np.take(volume, int(i), axis=axis) for i in indices]


def _even_indices(n: int, limit: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, limit)).round().astype(int))


def ssim_2d_mean(pred_slices: list[np.ndarray], gt_slices: list[np.ndarray], data_range: float) -> float:
    """Mean 2D SSIM over paired slices (window 7, or the largest odd size that fits)."""
    values = []
    for p, g in zip(pred_slices, gt_slices, strict=True):
        win = min(7, min(g.shape) - (1 - min(g.shape) % 2))
        if win < 3:
            continue
        values.append(structural_similarity(g, p, data_range=data_range, win_size=win))
    return float(np.mean(values)) if values else float("nan")


def plane_metrics(pred: np.ndarray, gt: np.ndarray, plane: str, data_range: float, indices=None) -> dict[str, float]:
    """PSNR and mean SSIM over slices of one plane family ('xy', 'xz', 'yz'), optionally at `indices`."""
    axis = {"xy": 0, "xz": 1, "yz": 2}[plane]
    if indices is None:
        indices = np.arange(gt.shape[axis])
    ssim_idx = indices[_even_indices(len(indices), MAX_SLICES_PER_FAMILY)] if len(indices) else indices
    sub_pred = np.take(pred, indices, axis=axis)
    sub_gt = np.take(gt, indices, axis=axis)
    return {
        "psnr": psnr(sub_pred, sub_gt, data_range),
        "ssim": ssim_2d_mean(_slices(pred, plane, ssim_idx), _slices(gt, plane, ssim_idx), data_range),
    }


def evaluate_volume(
    pred: np.ndarray, gt: np.ndarray, measured_slices: np.ndarray | None = None
) -> dict[str, dict[str, float]]:
    """Score `pred` against ground truth `gt` (both (Z, Y, X), same shape).

    Returns {"xy"|"xz"|"yz"|"3d"[|"measured"|"unmeasured"]: {"psnr": dB, "ssim": [0, 1]}}; the split
    entries need `measured_slices`, the z indices that hold a measured slab's centre."""
    if pred.shape != gt.shape:
        raise AxialSRError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    pred = np.asarray(pred, np.float32)
    gt = np.asarray(gt, np.float32)
    data_range = float(gt.max() - gt.min()) or 1.0
    result = {plane: plane_metrics(pred, gt, plane, data_range) for plane in PLANES}
    result["3d"] = {
        "psnr": psnr(pred, gt, data_range),
        "ssim": float(structural_similarity(gt, pred, data_range=data_range, win_size=min(7, *_odd_sizes(gt.shape))))
        if min(gt.shape) >= 3
        else float("nan"),
    }
    if measured_slices is not None:
        measured = np.unique(np.asarray(measured_slices, dtype=int))
        measured = measured[(measured >= 0) & (measured < gt.shape[0])]
        unmeasured = np.setdiff1d(np.arange(gt.shape[0]), measured)
        result["measured"] = plane_metrics(pred, gt, "xy", data_range, measured)
        if unmeasured.size:
            result["unmeasured"] = plane_metrics(pred, gt, "xy", data_range, unmeasured)
    return result


def _odd_sizes(shape: tuple[int, ...]) -> list[int]:
    return [s if s % 2 else s - 1 for s in shape]


def flatten(result: dict[str, dict[str, float]]) -> dict[str, float]:
    """{"xz": {"psnr": v}} -> {"psnr_xz": v}, for tables and JSON rows."""
    return {f"{metric}_{group}": value for group, values in result.items() for metric, value in values.items()}


def coherence(volume_a: np.ndarray, volume_b: np.ndarray, data_range: float | None = None) -> dict[str, float]:
    """Agreement of two restorations of the same data, e.g. XZ-wise vs YZ-wise slice-by-slice results:
    mean absolute difference (as a fraction of `data_range`, default volume_a's range) and their PSNR.
    A 3D-coherent method restores both ways identically (difference 0)."""
    a = np.asarray(volume_a, np.float64)
    b = np.asarray(volume_b, np.float64)
    if a.shape != b.shape:
        raise AxialSRError(f"coherence needs equal shapes, got {a.shape} and {b.shape}")
    data_range = data_range or float(a.max() - a.min()) or 1.0
    return {"mad": float(np.mean(np.abs(a - b)) / data_range), "psnr": psnr(a, b, data_range)}


def seam_jumps(volume: np.ndarray, axis: int, boundaries: list[int]) -> dict[str, float]:
    """Seam statistics between neighbouring planes along `axis`, across block boundaries (plane indices
    where a block starts) and elsewhere (the interior's spread):

    - `mean`: jump of the per-plane mean intensity;
    - `energy`: jump of the per-plane gradient energy (mean squared in-plane gradient);
    - `step`: mean squared difference between the two planes (gradient energy across them).

    Returns `<stat>_jump_boundary` (largest at a boundary) and `<stat>_jump_interior` (largest elsewhere);
    a seam shows as a boundary value above the interior's."""
    vol = np.moveaxis(np.asarray(volume, dtype=np.float64), axis, 0)
    mean = vol.mean(axis=(1, 2))
    gy, gx = np.gradient(vol, axis=(1, 2))
    energy = (gy**2 + gx**2).mean(axis=(1, 2))
    at = np.zeros(vol.shape[0] - 1, dtype=bool)
    at[[b - 1 for b in boundaries if 0 < b < vol.shape[0]]] = True
    steps = {
        "mean": np.abs(np.diff(mean)),
        "energy": np.abs(np.diff(energy)),
        "step": (np.diff(vol, axis=0) ** 2).mean(axis=(1, 2)),
    }
    result = {}
    for name, jumps in steps.items():
        result[f"{name}_jump_boundary"] = float(jumps[at].max()) if at.any() else 0.0
        result[f"{name}_jump_interior"] = float(jumps[~at].max()) if (~at).any() else 0.0
    return result
