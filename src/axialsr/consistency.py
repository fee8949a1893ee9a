"""Data consistency: the correction that makes a restoration reproduce the measurements exactly.

For a restoration v (Z_hr, Y, X) and measured slices m (Z_lr, Y, X) related by the acquisition operator A
(a (Z_lr, Z_hr) matrix along z, see `acquisition`), every v + c with A c = r = m - A v reproduces the
measurements. Which c is chosen decides what the correction looks like along z:

- `l2`: the smallest c, c = A^T (A A^T)^-1 r. For the `average` model it adds each slab's residual as a
  constant to the slices of that slab, which makes a step at every slab boundary (stripes in XZ/YZ views).
- `h1`, `h2` (default `h2`): the smoothest c, minimising ||L c||^2 + eps ||c||^2 with L the first (h1) or
  second (h2) difference along z: c = M^-1 A^T (A M^-1 A^T)^-1 r with M = L^T L + eps I (banded, solved
  once per depth). The same exact consistency, for every acquisition model, with no step at the slab
  boundaries; an h2 correction also has no kinks. Its influence decays geometrically from each slab
  (`projection_z_support` slabs to 1e-3).

The operator P (Z_hr, Z_lr) with c = P r is computed once per depth and applied along z.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.linalg import solveh_banded

from axialsr.acquisition import Acquisition
from axialsr.errors import AxialSRError

PROJECTIONS = ("h2", "h1", "l2")
DEFAULT_PROJECTION = "h2"
SMOOTHNESS_RIDGE = 1e-6  # eps: only makes M invertible (constants, and ramps for h2, have L c = 0)
_DIFFERENCE_STENCILS = {"h1": np.array([-1.0, 1.0]), "h2": np.array([1.0, -2.0, 1.0])}


def check_projection(projection: str) -> str:
    """`projection` if it names one of `PROJECTIONS`, else AxialSRError naming them."""
    if projection not in PROJECTIONS:
        raise AxialSRError(f"unknown projection '{projection}'; choose one of {', '.join(PROJECTIONS)}")
    return projection


def smoothness_banded(depth: int, projection: str) -> np.ndarray:
    """M = L^T L + eps I for `projection` 'h1' or 'h2' on `depth` slices, in the upper banded storage of
    `scipy.linalg.solveh_banded` ((bandwidth + 1, depth); row `bandwidth` is the diagonal).

    Examples
    --------
    >>> smoothness_banded(4, "h1").round(6).tolist()            # tridiagonal [1, 2, 2, 1], -1 beside
    [[0.0, -1.0, -1.0, -1.0], [1.000001, 2.000001, 2.000001, 1.000001]]
    """
    stencil = _DIFFERENCE_STENCILS[projection]
    width = len(stencil) - 1
    bands = np.zeros((width + 1, depth))
    for row in range(depth - width):  # each difference row adds stencil^T stencil on its window
        for i in range(width + 1):
            for j in range(i, width + 1):
                bands[width + i - j, row + j] += stencil[i] * stencil[j]
    bands[width] += SMOOTHNESS_RIDGE
    return bands


@lru_cache(maxsize=32)
def _operator(acquisition: Acquisition, depth_iso: int, depth_measured: int, projection: str) -> np.ndarray:
    present = acquisition.present(depth_measured)
    a = acquisition.matrix(depth_iso, depth_measured)[present]
    m_inv_at = a.T if projection == "l2" else solveh_banded(smoothness_banded(depth_iso, projection), a.T)
    gram = a @ m_inv_at
    ridge = 1e-12 * float(np.trace(gram)) / len(gram)
    p = m_inv_at @ np.linalg.inv(gram + ridge * np.eye(len(gram)))
    p = p @ np.linalg.inv(a @ p)  # A P = I to rounding, whatever the conditioning of the solve
    full = np.zeros((depth_iso, depth_measured))
    full[:, present] = p  # a missing section's residual moves nothing
    full.setflags(write=False)
    return full


def consistency_operator(
    acquisition: Acquisition, depth_iso: int, depth_measured: int, projection: str = DEFAULT_PROJECTION
) -> np.ndarray:
    """The (Z_hr, Z_lr) float64 matrix P such that v + P (m - A v) reproduces m: the `projection`'s
    correction (see the module docstring). Read-only (cached per depth). The columns of the acquisition's
    missing sections are zero: their residual is not a measurement, and the correction bridges them.

    Examples
    --------
    >>> acq = Acquisition(4)
    >>> p = consistency_operator(acq, 16, 4)
    >>> bool(np.allclose(acq.matrix(16, 4) @ p, np.eye(4)))     # reproduces any residual exactly
    True
    >>> ramp = np.arange(4.0)                                    # residuals growing by 1 per slab
    >>> np.abs(np.diff(p @ ramp)).max().round(3)                 # h2: a ramp, 1/4 per slice
    np.float64(0.25)
    >>> np.abs(np.diff(consistency_operator(acq, 16, 4, "l2") @ ramp)).max().round(3)   # l2: a staircase
    np.float64(1.0)
    """
    return _operator(acquisition, int(depth_iso), int(depth_measured), check_projection(projection))


def projection_error_operator(
    acquisition: Acquisition, depth_iso: int, projection: str = DEFAULT_PROJECTION
) -> np.ndarray:
    """The (Z_hr, Z_hr) float64 matrix I - P A: the error a restoration keeps after the projection onto
    the measurements, when its measurements are exact (projected(v) - truth = (I - P A)(v - truth)).

    Examples
    --------
    >>> import numpy as np
    >>> q = projection_error_operator(Acquisition(4), 8, "l2")
    >>> slab_offsets = np.repeat([1.0, -2.0], 4)        # the projection removes these entirely
    >>> bool(np.allclose(q @ slab_offsets, 0))
    True
    >>> within_slab = np.tile([1.0, -1.0, 1.0, -1.0], 2)  # invisible to the measurements: kept
    >>> bool(np.allclose(q @ within_slab, within_slab))
    True
    """
    a = acquisition.matrix(depth_iso)
    return np.eye(depth_iso) - consistency_operator(acquisition, depth_iso, a.shape[0], projection) @ a


def projection_z_support(acquisition: Acquisition, projection: str = DEFAULT_PROJECTION, tol: float = 1e-3) -> int:
    """Slabs on each side beyond which one slab's residual moves the correction by less than `tol` of
    its largest effect (0 for `l2`, whose correction stays in its slab); measured on 64 slabs.

    Examples
    --------
    >>> projection_z_support(Acquisition(4), "l2"), projection_z_support(Acquisition(4), "h2") > 0
    (0, True)
    """
    slabs = 64
    depth = acquisition.output_depth(slabs)
    column = np.abs(consistency_operator(acquisition, depth, slabs, projection)[:, slabs // 2])
    centre = acquisition.slab_centers(slabs)[slabs // 2]
    far = np.abs(np.arange(depth) + 0.5 - centre) / acquisition.factor  # distance in slabs
    reached = far[column > tol * column.max()]
    return int(np.ceil(max(0.0, reached.max() - 0.5)))


def project_onto_measurements(
    volume: np.ndarray, measured: np.ndarray, acquisition: Acquisition, projection: str = DEFAULT_PROJECTION
) -> np.ndarray:
    """Project a restoration (Z_hr, Y, X) onto the measurements (Z_lr, Y, X) along z: the result, seen
    through the acquisition model, reproduces `measured` exactly, corrected by the `projection`'s
    correction ('h2' smoothest, default; 'h1'; 'l2' smallest). Both in the same intensity units;
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
    p = consistency_operator(acquisition, depth_iso, depth_measured, projection).astype(np.float32)
    v = np.asarray(volume, dtype=np.float32)
    residual = np.asarray(measured, dtype=np.float32) - np.tensordot(a, v, axes=(1, 0))
    return (v + np.tensordot(p, residual, axes=(1, 0))).astype(np.float32)


def measurement_residual(volume: np.ndarray, measured: np.ndarray, acquisition: Acquisition) -> float:
    """Root-mean-square difference between the restoration seen through the acquisition model and the
    measured slices that exist (not the acquisition's missing ones), in their intensity units."""
    present = acquisition.present(measured.shape[0])
    a = acquisition.matrix(volume.shape[0], measured.shape[0])[present].astype(np.float32)
    seen = np.tensordot(a, np.asarray(volume, np.float32), axes=(1, 0))
    diff = seen - np.asarray(measured, np.float32)[present]
    return float(np.sqrt(np.mean(diff**2)))
