"""Data consistency: the smallest change to a restoration that makes it reproduce the measurements.

For a restoration v (Z_hr, Y, X) and measured slices m (Z_lr, Y, X) related by the acquisition operator A
(a (Z_lr, Z_hr) matrix along z, see `acquisition`), the projection onto {v : A v = m} that moves v the
least (in the L2 sense) is

    v + A^T (A A^T)^-1 (m - A v).

For the `average` model with slabs that tile z, A A^T is diagonal and this adds each slab's residual to
the slices of that slab; for `subsample` it corrects the two slices around each slab centre; for
`gaussian` A A^T is banded and solved exactly (it is at most a few thousand slabs square). A small ridge
term keeps the solve stable where slabs barely overlap the grid.
"""

from __future__ import annotations

import numpy as np

from axialsr.acquisition import Acquisition


def consistency_operator(acquisition: Acquisition, depth_iso: int, depth_measured: int) -> np.ndarray:
    """The (Z_hr, Z_lr) float64 matrix P = A^T (A A^T)^-1 such that v + P (m - A v) reproduces m."""
    a = acquisition.matrix(depth_iso, depth_measured)
    gram = a @ a.T
    ridge = 1e-9 * float(np.trace(gram)) / len(gram)
    return a.T @ np.linalg.inv(gram + ridge * np.eye(len(gram)))


def projection_error_operator(acquisition: Acquisition, depth_iso: int) -> np.ndarray:
    """The (Z_hr, Z_hr) float64 matrix I - P A: the error a restoration keeps after the projection onto
    the measurements, when its measurements are exact (projected(v) - truth = (I - P A)(v - truth)).

    Examples
    --------
    >>> import numpy as np
    >>> q = projection_error_operator(Acquisition(4), 8)
    >>> slab_offsets = np.repeat([1.0, -2.0], 4)        # the projection removes these entirely
    >>> bool(np.allclose(q @ slab_offsets, 0))
    True
    >>> within_slab = np.tile([1.0, -1.0, 1.0, -1.0], 2)  # invisible to the measurements: kept
    >>> bool(np.allclose(q @ within_slab, within_slab))
    True
    """
    a = acquisition.matrix(depth_iso)
    return np.eye(depth_iso) - consistency_operator(acquisition, depth_iso, a.shape[0]) @ a


def project_onto_measurements(volume: np.ndarray, measured: np.ndarray, acquisition: Acquisition) -> np.ndarray:
    """Project a restoration (Z_hr, Y, X) onto the measurements (Z_lr, Y, X) along z: the result, seen
    through the acquisition model, reproduces `measured` exactly. Both in the same intensity units;
    returns float32.

    Examples
    --------
    >>> import numpy as np
    >>> from axialsr.acquisition import simulate
    >>> acq = Acquisition(4)
    >>> rng = np.random.default_rng(0)
    >>> measured = rng.normal(size=(3, 2, 2)).astype(np.float32)
    >>> projected = project_onto_measurements(np.zeros((12, 2, 2), np.float32), measured, acq)
    >>> bool(np.allclose(simulate(projected, acq), measured, atol=1e-5))
    True
    """
    depth_iso, depth_measured = volume.shape[0], measured.shape[0]
    a = acquisition.matrix(depth_iso, depth_measured).astype(np.float32)
    p = consistency_operator(acquisition, depth_iso, depth_measured).astype(np.float32)
    v = np.asarray(volume, dtype=np.float32)
    residual = np.asarray(measured, dtype=np.float32) - np.tensordot(a, v, axes=(1, 0))
    return (v + np.tensordot(p, residual, axes=(1, 0))).astype(np.float32)


def measurement_residual(volume: np.ndarray, measured: np.ndarray, acquisition: Acquisition) -> float:
    """Root-mean-square difference between the restoration seen through the acquisition model and the
    measured slices, in their intensity units."""
    a = acquisition.matrix(volume.shape[0], measured.shape[0]).astype(np.float32)
    diff = np.tensordot(a, np.asarray(volume, np.float32), axes=(1, 0)) - np.asarray(measured, np.float32)
    return float(np.sqrt(np.mean(diff**2)))
