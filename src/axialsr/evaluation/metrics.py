"""Image-quality metrics against an isotropic ground truth, per plane family and at measured depths.

PSNR uses the ground truth's data range (max - min), in the ground truth's units, and is capped at
`PSNR_CAP` dB for identical volumes (so it stays a finite JSON number). SSIM is scikit-image's, averaged
over the 2D slices of each plane family: XY (slices along z), XZ (along y), YZ (along x); "3d" is the
volume PSNR and the 3D SSIM. "measured"/"unmeasured" split the XY slices into those that hold a
measured slab's centre and the others.

What users see along z, without a ground truth:

- `banding_index`: mean |v[z+1] - v[z]| across slab boundaries divided by the same within slabs. A
  restoration that adds a constant per slab shows steps at the boundaries (index > 1); a truth without
  slab structure has ~1.
- `boundary_step_index`: the same across slab boundaries divided by the mean at the two neighbouring
  pairs: a step (a discontinuity at the boundary) shows here; a smooth modulation with the slab period
  (a posterior mean changes fastest where the measurements say least, near the boundaries) does not.
- `axial_power_ratio`: the fraction of the power along z above the slabs' Nyquist frequency 1/(2s)
  (cycles per voxel), divided by the same fraction along x. The truth's value is the reference: below it
  is blur, above it is detail the restoration invented.
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


def power_spectrum(profiles: np.ndarray) -> np.ndarray:
    """Mean power spectrum of 1D profiles (N, L) with a Hann window (mean removed), length L // 2 + 1."""
    profiles = profiles - profiles.mean(axis=1, keepdims=True)
    window = np.hanning(profiles.shape[1])
    return (np.abs(np.fft.rfft(profiles * window, axis=1)) ** 2).mean(axis=0)


def profile_segments(profiles: np.ndarray, length: int, max_profiles: int = 20000) -> np.ndarray:
    """Non-overlapping segments of `length` from each profile (N, L), at most `max_profiles` in all."""
    count = profiles.shape[1] // length
    segs = profiles[:, : count * length].reshape(-1, length)
    if len(segs) > max_profiles:
        segs = segs[:: len(segs) // max_profiles]
    return segs


def slab_boundary_pairs(depth: int, factor: float) -> np.ndarray:
    """Indices i of the neighbouring slices (i, i + 1) of a (depth, ...) isotropic grid whose midpoint
    (at i + 1) is the one nearest a slab boundary k s (k = 1, 2, ...; slab k covers [k s, (k + 1) s)).

    Examples
    --------
    >>> slab_boundary_pairs(12, 4).tolist()
    [3, 7]
    >>> slab_boundary_pairs(13, 6.4).tolist()
    [5]
    """
    boundaries = np.arange(1, int(np.floor((depth - 1) / factor)) + 1) * factor
    pairs = np.round(boundaries).astype(int) - 1
    return np.unique(pairs[(pairs >= 0) & (pairs < depth - 1)])


def banding_index(volume: np.ndarray, factor: float) -> float:
    """Mean |v[z + 1] - v[z]| over the slice pairs across slab boundaries (`slab_boundary_pairs`)
    divided by the mean over the other pairs; ~1 without slab structure, > 1 for steps at the boundaries.

    Examples
    --------
    >>> z = np.arange(16, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    >>> round(banding_index(z, 4), 3)                             # a smooth ramp: no banding
    1.0
    >>> round(banding_index(np.repeat(z[::4], 4, axis=0) + 0.1 * z, 4), 1)   # a step per slab
    41.0
    """
    diffs = np.abs(np.diff(np.asarray(volume, np.float64), axis=0)).mean(axis=tuple(range(1, volume.ndim)))
    at = np.zeros(diffs.shape, bool)
    at[slab_boundary_pairs(volume.shape[0], factor)] = True
    if not at.any() or at.all():
        raise AxialSRError(
            f"{volume.shape[0]} slices hold no slab boundary with slices on both sides at factor {factor}"
        )
    within = float(diffs[~at].mean())
    return float(diffs[at].mean()) / within if within > 0 else float("inf")


def boundary_step_index(volume: np.ndarray, factor: float) -> float:
    """Mean |v[z + 1] - v[z]| over the pairs across slab boundaries divided by the mean over the pairs just
    before and after them: > 1 for a step at the boundaries, ~1 for a smooth volume, even one whose
    gradient varies smoothly with the slab period.

    Examples
    --------
    >>> z = np.arange(16, dtype=np.float32)[:, None, None] * np.ones((1, 4, 4), np.float32)
    >>> round(boundary_step_index(np.repeat(z[::4], 4, axis=0) + 0.1 * z, 4), 1)   # a step per slab
    41.0
    >>> round(boundary_step_index(np.sin(z) + z, 4), 1) < 1.5
    True
    """
    diffs = np.abs(np.diff(np.asarray(volume, np.float64), axis=0)).mean(axis=tuple(range(1, volume.ndim)))
    pairs = slab_boundary_pairs(volume.shape[0], factor)
    pairs = pairs[(pairs >= 1) & (pairs < len(diffs) - 1)]
    if not len(pairs):
        raise AxialSRError(
            f"{volume.shape[0]} slices hold no slab boundary with two pairs beside it at factor {factor}"
        )
    beside = float(0.5 * (diffs[pairs - 1] + diffs[pairs + 1]).mean())
    return float(diffs[pairs].mean()) / beside if beside > 0 else float("inf")


def high_frequency_fraction(volume: np.ndarray, axis: int, cutoff: float, length: int) -> float:
    """Fraction of the power of the profiles along `axis` (segments of `length` voxels, mean removed,
    Hann window) at frequencies above `cutoff` cycles per voxel, of all but the zero frequency."""
    profiles = np.moveaxis(np.asarray(volume, np.float64), axis, -1).reshape(-1, volume.shape[axis])
    spectrum = power_spectrum(profile_segments(profiles, length))
    freqs = np.fft.rfftfreq(length)
    total = float(spectrum[1:].sum())
    return float(spectrum[freqs > cutoff].sum()) / total if total > 0 else 0.0


def axial_power_ratio(volume: np.ndarray, factor: float) -> float:
    """The fraction of power along z above the slabs' Nyquist frequency 1/(2s), divided by the same
    fraction along x, on profiles of one length (min(Z, X, 64) voxels) in both directions. ~1 for an
    isotropic volume; ~0 for an interpolation, which has no power above the slabs' Nyquist.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> noise = rng.normal(size=(32, 32, 32))
    >>> 0.9 < axial_power_ratio(noise, 4) < 1.1
    True
    >>> axial_power_ratio(np.repeat(noise[::4], 4, axis=0), 4) < 0.5    # nearest-slab: mostly gone
    True
    """
    length = min(volume.shape[0], volume.shape[2], 64)
    if length < 4 * factor:
        raise AxialSRError(f"profiles of {length} voxels are too short to resolve 1/(2s) at factor {factor}")
    cutoff = 1.0 / (2.0 * factor)
    lateral = high_frequency_fraction(volume, 2, cutoff, length)
    return high_frequency_fraction(volume, 0, cutoff, length) / lateral if lateral > 0 else float("nan")
