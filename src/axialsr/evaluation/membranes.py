"""What a connectomics user does next with an EM restoration, scored against the true cells.

Two fixed pipelines (the same parameters for every restoration of a volume, chosen on its ground truth;
never per method) that stand for the first steps of a segmentation:

- **membrane detection** on XZ and YZ planes: a voxel is membrane where the restoration, smoothed by a
  Gaussian of `sigma` voxels, is darker than `threshold`; scored by the boundary F1 against the true
  boundaries of the plane (pixels with an in-plane neighbour of another cell) with a tolerance of one
  pixel (a 3x3 neighbourhood: a detection counts when a true boundary pixel is within it, and back).
- **a 3D seeded watershed** (the distance-transform watershed of connectomics pipelines): cell
  interior = smoothed > `threshold`; seeds = the local maxima, at least `seed_spacing` voxels apart and
  1 voxel deep, of the interior's Euclidean distance transform (smoothed by 1 voxel); watershed of the
  inverted smoothed image from those seeds, over the whole volume. Scored by the variation of
  information against the true labels, split into its split and merge parts (bits; lower is better).

A restoration that fades or breaks membranes loses recall and merges cells; one that invents membranes
loses precision and splits them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from axialsr.errors import AxialSRError

PLANE_AXES = {"xz": (0, 2), "yz": (0, 1)}  # the in-plane axes of a (Z, Y, X) volume


@dataclass(frozen=True)
class MembraneSettings:
    """The fixed pipeline: Gaussian `sigma` (voxels) before thresholding, the membrane `threshold`
    (intensity units of the volume; membranes are darker) and the watershed's `seed_spacing` (voxels)."""

    threshold: float
    sigma: float = 1.0
    seed_spacing: int = 3


def true_boundaries(labels: np.ndarray, plane: str) -> np.ndarray:
    """Pixels of each `plane` ('xz' or 'yz') with an in-plane 4-neighbour of another label (both sides
    of every boundary), as a boolean (Z, Y, X) volume.

    Examples
    --------
    >>> labels = np.ones((4, 1, 6), int); labels[:, :, 3:] = 2
    >>> true_boundaries(labels, "xz")[0, 0].astype(int).tolist()
    [0, 0, 1, 1, 0, 0]
    """
    out = np.zeros(labels.shape, bool)
    for axis in PLANE_AXES[plane]:
        step = np.diff(labels, axis=axis) != 0
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        out[tuple(lo)] |= step
        out[tuple(hi)] |= step
    return out


def detect_membranes(volume: np.ndarray, settings: MembraneSettings) -> np.ndarray:
    """Boolean (Z, Y, X): where the volume smoothed by `settings.sigma` is darker than the threshold."""
    smoothed = ndimage.gaussian_filter(np.asarray(volume, np.float32), settings.sigma)
    return smoothed < settings.threshold


def _within_one_pixel(mask: np.ndarray, plane: str) -> np.ndarray:
    structure = np.zeros((3, 3, 3), bool)
    index = [slice(None)] * 3
    index[({0, 1, 2} - set(PLANE_AXES[plane])).pop()] = 1
    structure[tuple(index)] = True  # a 3x3 square in the plane
    return ndimage.binary_dilation(mask, structure)


def boundary_f1(detected: np.ndarray, truth: np.ndarray, plane: str) -> dict[str, float]:
    """Precision, recall and F1 of detected boundary pixels against true ones, within one pixel of the
    `plane` (both boolean (Z, Y, X)).

    Examples
    --------
    >>> truth = np.zeros((5, 1, 9), bool); truth[:, :, 4] = True
    >>> shifted = np.roll(truth, 1, axis=2)                 # one pixel off: still a hit
    >>> boundary_f1(shifted, truth, "xz")["f1"]
    1.0
    >>> boundary_f1(np.roll(truth, 3, axis=2), truth, "xz")["f1"]
    0.0
    """
    n_detected, n_true = int(detected.sum()), int(truth.sum())
    precision = float((detected & _within_one_pixel(truth, plane)).sum()) / n_detected if n_detected else 0.0
    recall = float((truth & _within_one_pixel(detected, plane)).sum()) / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def membrane_scores(volume: np.ndarray, labels: np.ndarray, settings: MembraneSettings) -> dict[str, float]:
    """Boundary precision, recall and F1 on XZ and YZ planes and their means: {'f1_xz', 'f1_yz',
    'membrane_f1', 'membrane_precision', 'membrane_recall'}."""
    if volume.shape != labels.shape:
        raise AxialSRError(f"volume {volume.shape} and labels {labels.shape} differ in shape")
    detected = detect_membranes(volume, settings)
    per_plane = {plane: boundary_f1(detected, true_boundaries(labels, plane), plane) for plane in PLANE_AXES}
    scores = {f"f1_{plane}": s["f1"] for plane, s in per_plane.items()}
    for key in ("f1", "precision", "recall"):
        scores[f"membrane_{key}"] = float(np.mean([s[key] for s in per_plane.values()]))
    return scores


def seeded_watershed(volume: np.ndarray, settings: MembraneSettings) -> np.ndarray:
    """The fixed 3D segmentation of `volume` (int32 labels from 1; see the module docstring)."""
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    smoothed = ndimage.gaussian_filter(np.asarray(volume, np.float32), settings.sigma)
    depth = ndimage.gaussian_filter(ndimage.distance_transform_edt(smoothed > settings.threshold), 1.0)
    peaks = peak_local_max(depth, min_distance=settings.seed_spacing, threshold_abs=1.0, exclude_border=False)
    if len(peaks) == 0:
        return np.ones(volume.shape, np.int32)
    seeds = np.zeros(volume.shape, np.int32)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-smoothed, seeds).astype(np.int32)


def segmentation_scores(volume: np.ndarray, labels: np.ndarray, settings: MembraneSettings) -> dict[str, float]:
    """Variation of information of the seeded watershed of `volume` against the true `labels`:
    {'vi_split': H(segmentation | truth), 'vi_merge': H(truth | segmentation), 'vi': their sum}, in bits.

    Examples
    --------
    >>> labels = np.ones((12, 12, 24), int); labels[..., 12:] = 2
    >>> image = np.ones(labels.shape, np.float32); image[..., 11:13] = 0.0   # one dark membrane
    >>> settings = MembraneSettings(threshold=0.5, sigma=0.5, seed_spacing=12)
    >>> round(segmentation_scores(image, labels, settings)["vi"], 3)
    0.0
    >>> faded = np.ones(labels.shape, np.float32)           # the membrane lost: the two cells merge
    >>> round(segmentation_scores(faded, labels, settings)["vi_merge"], 3)
    1.0
    """
    from skimage.metrics import variation_of_information

    split, merge = variation_of_information(labels, seeded_watershed(volume, settings))
    return {"vi_split": float(split), "vi_merge": float(merge), "vi": float(split + merge)}


def settings_from_truth(
    truth: np.ndarray, labels: np.ndarray, sigma: float = 1.0, seed_spacings: tuple[int, ...] = (3, 5, 8)
) -> MembraneSettings:
    """The pipeline's parameters chosen once on the ground truth: the threshold (among 40 quantiles of
    the smoothed truth, 1% to 40%) that gives the truth its best membrane F1, then the seed spacing that
    gives the truth's watershed its lowest VI. Used unchanged for every restoration of that volume."""
    smoothed = ndimage.gaussian_filter(np.asarray(truth, np.float32), sigma)
    candidates = np.quantile(smoothed, np.linspace(0.01, 0.40, 40))
    best = max(
        candidates, key=lambda t: membrane_scores(truth, labels, MembraneSettings(float(t), sigma))["membrane_f1"]
    )
    return min(
        (MembraneSettings(float(best), sigma, spacing) for spacing in seed_spacings),
        key=lambda s: segmentation_scores(truth, labels, s)["vi"],
    )
