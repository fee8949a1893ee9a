"""The measurement operator: A (an isotropic volume seen through the acquisition model) and the projection
P onto the measurements, for one output depth, in numpy and torch. Nothing else in axialsr writes A or P.

A is the acquisition's (Z_lr, Z_hr) weight matrix along z (`Acquisition.weights`). The projection is the
correction that makes a restoration reproduce the measurements exactly: for a restoration v (Z_hr, Y, X)
and measured slices m (Z_lr, Y, X), every v + c with A c = r = m - A v reproduces the measurements.
Which c is chosen decides what the correction looks like along z:

- `l2`: the smallest c, c = A^T (A A^T)^-1 r. For the `average` model it adds each slab's residual as a
  constant to the slices of that slab, which makes a step at every slab boundary (stripes in XZ/YZ views).
- `h1`, `h2` (default `h2`): the smoothest c, minimising ||L c||^2 + eps ||c||^2 with L the first (h1) or
  second (h2) difference along z: c = M^-1 A^T (A M^-1 A^T)^-1 r with M = L^T L + eps I (banded, solved
  once per depth). The same exact consistency, for every acquisition model, with no step at the slab
  boundaries; an h2 correction also has no kinks. Its influence decays geometrically from each slab
  (`projection_z_support` slabs to 1e-3).

P (Z_hr, Z_lr), with c = P r, is computed once per depth (`measurement_operator` caches it). The
acquisition's missing sections are inside the operator: their residual moves nothing, and `residual_rms`
leaves them out; `without_missing` is the operator of a consumer that must see every section.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

import numpy as np
from scipy.linalg import solveh_banded

from axialsr.errors import AxialSRError

if TYPE_CHECKING:
    import torch
from axialsr.operators.acquisition import Acquisition

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


def _correction(a: np.ndarray, present: np.ndarray, projection: str) -> np.ndarray:
    """P (Z_hr, Z_lr) for the weight matrix `a` of every section: the projection's correction from the
    sections that exist, zero columns for the missing ones."""
    depth_iso = a.shape[1]
    a = a[present]
    m_inv_at = a.T if projection == "l2" else solveh_banded(smoothness_banded(depth_iso, projection), a.T)
    gram = a @ m_inv_at
    ridge = 1e-12 * float(np.trace(gram)) / len(gram)
    p = m_inv_at @ np.linalg.inv(gram + ridge * np.eye(len(gram)))
    p = p @ np.linalg.inv(a @ p)  # A P = I to rounding, whatever the conditioning of the solve
    full = np.zeros((depth_iso, len(present)))
    full[:, present] = p  # a missing section's residual moves nothing
    full.setflags(write=False)
    return full


def _subscripts(dim: int, ndim: int) -> tuple[str, str]:
    """einsum subscripts of a tensor of `ndim` axes with axis `dim` named 'z' in the first and 'k' in
    the second: contracting 'kz' turns the first into the second."""
    letters = [chr(ord("a") + i) for i in range(ndim)]
    with_z, with_k = list(letters), list(letters)
    with_z[dim], with_k[dim] = "z", "k"
    return "".join(with_z), "".join(with_k)


@dataclass(frozen=True, eq=False)
class MeasurementOperator:
    """A and P of an acquisition for an output grid of `depth_iso` slices and a stack of `depth_measured`
    sections, with the `projection`'s correction (see the module docstring). Get one from
    `measurement_operator` (cached per depth). Arrays may be numpy (float32 out) or torch tensors (float32,
    differentiable, on the input's device); `dim` is the axis along z.

    Examples
    --------
    >>> op = measurement_operator(Acquisition(4), 16)
    >>> op.matrix.shape, op.correction.shape
    ((4, 16), (16, 4))
    >>> bool(np.allclose(op.matrix @ op.correction, np.eye(4)))     # reproduces any residual exactly
    True
    >>> ramp = np.arange(4.0)                                       # residuals growing by 1 per slab
    >>> np.abs(np.diff(op.correction @ ramp)).max().round(3)         # h2: a ramp, 1/4 per slice
    np.float64(0.25)
    >>> l2 = measurement_operator(Acquisition(4), 16, projection="l2")
    >>> np.abs(np.diff(l2.correction @ ramp)).max().round(3)         # l2: a staircase
    np.float64(1.0)
    """

    acquisition: Acquisition
    depth_iso: int
    depth_measured: int
    projection: str = DEFAULT_PROJECTION
    _tensors: dict = field(default_factory=dict, repr=False)

    @cached_property
    def matrix(self) -> np.ndarray:
        """A: the (Z_lr, Z_hr) float64 weights of every section (missing ones included); rows sum to 1."""
        a = self.acquisition.weights(self.depth_iso, self.depth_measured)
        a.setflags(write=False)
        return a

    @cached_property
    def present(self) -> np.ndarray:
        """The sections that exist (not the acquisition's missing ones), boolean (Z_lr,)."""
        return self.acquisition.present(self.depth_measured)

    @cached_property
    def correction(self) -> np.ndarray:
        """P: the (Z_hr, Z_lr) float64 correction (read-only), zero columns for the missing sections."""
        return _correction(self.matrix, self.present, self.projection)

    def without_missing(self) -> MeasurementOperator:
        """The operator of the same acquisition with every section measured."""
        return measurement_operator(
            self.acquisition.without_missing(), self.depth_iso, self.depth_measured, projection=self.projection
        )

    def _tensor(self, name: str, like: torch.Tensor) -> torch.Tensor:
        import torch

        key = (name, str(like.device))
        if key not in self._tensors:
            self._tensors[key] = torch.tensor(getattr(self, name), dtype=torch.float32, device=like.device)
        return self._tensors[key]

    def _along(self, name: str, values, dim: int):
        """The matrix `name` ('matrix': A, 'correction': P) applied along axis `dim` of `values` (numpy
        float32: one product along axis 0, einsum along another; torch: einsum on the input's device)."""
        matrix = getattr(self, name)
        rows, cols = _subscripts(dim, values.ndim)
        spec = f"zk,{cols}->{rows}" if name == "correction" else f"kz,{rows}->{cols}"
        if not isinstance(values, np.ndarray):
            return _einsum(spec, self._tensor(name, values), values)
        if dim == 0:
            return np.tensordot(matrix.astype(np.float32), values, axes=(1, 0))
        return np.einsum(spec, matrix.astype(np.float32), values).astype(np.float32)

    def measure(self, volume, *, dim: int = 0):
        """A along axis `dim`: the sections an isotropic `volume` (Z_hr along `dim`) measures.

        Examples
        --------
        >>> op = measurement_operator(Acquisition(2), 4)
        >>> op.measure(np.arange(4.0)[:, None]).ravel().tolist()       # each section: its slab's mean
        [0.5, 2.5]
        """
        if not isinstance(volume, np.ndarray) or dim != 0:
            return self._along("matrix", volume, dim)
        mat = self.matrix.astype(np.float32)
        out = np.empty((mat.shape[0],) + volume.shape[1:], dtype=np.float32)
        for row, weights in enumerate(mat):  # the slices of each slab only: no (Z_lr, Z_hr, ...) temporary
            nz = np.flatnonzero(weights)
            out[row] = np.tensordot(weights[nz], volume[nz].astype(np.float32), axes=(0, 0))
        return out

    def project(self, volume, measured, *, dim: int = 0):
        """v + P (m - A v) along axis `dim`: the restoration `volume` corrected so that it reproduces the
        `measured` sections exactly (the missing ones excepted), in the same intensity units.

        Examples
        --------
        >>> acq = Acquisition(4)
        >>> measured = np.random.default_rng(0).normal(size=(3, 2, 2)).astype(np.float32)
        >>> projected = measurement_operator(acq, 12).project(np.zeros((12, 2, 2), np.float32), measured)
        >>> bool(np.allclose(simulate(projected, acq), measured, atol=1e-5))
        True
        """
        if isinstance(volume, np.ndarray):
            volume, measured = np.asarray(volume, np.float32), np.asarray(measured, np.float32)
        residual = measured - self._along("matrix", volume, dim)
        return volume + self._along("correction", residual, dim)

    def residual_rms(self, volume: np.ndarray, measured: np.ndarray) -> float:
        """Root-mean-square difference between `volume` seen through A and the `measured` sections that
        exist, in their intensity units."""
        a = self.matrix[self.present].astype(np.float32)
        seen = np.tensordot(a, np.asarray(volume, np.float32), axes=(1, 0))
        diff = seen - np.asarray(measured, np.float32)[self.present]
        return float(np.sqrt(np.mean(diff**2)))

    def error_operator(self) -> np.ndarray:
        """The (Z_hr, Z_hr) float64 matrix I - P A: the error a restoration keeps after the projection,
        when its measurements are exact (projected(v) - truth = (I - P A)(v - truth)).

        Examples
        --------
        >>> q = measurement_operator(Acquisition(4), 8, projection="l2").error_operator()
        >>> bool(np.allclose(q @ np.repeat([1.0, -2.0], 4), 0))     # slab offsets: removed
        True
        >>> within_slab = np.tile([1.0, -1.0, 1.0, -1.0], 2)         # invisible to the measurements: kept
        >>> bool(np.allclose(q @ within_slab, within_slab))
        True
        """
        return np.eye(self.depth_iso) - self.correction @ self.matrix

    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        """Sparse form of `matrix`: (indices, weights), each (Z_lr, L), zero weights where padded (the
        INR renders only these L isotropic slices per section)."""
        mat = self.matrix
        width = int((mat > 0).sum(axis=1).max())
        indices = np.zeros((mat.shape[0], width), dtype=np.int64)
        weights = np.zeros((mat.shape[0], width), dtype=np.float64)
        for k, row in enumerate(mat):
            nz = np.flatnonzero(row)
            indices[k, : nz.size] = nz
            indices[k, nz.size :] = nz[-1]
            weights[k, : nz.size] = row[nz]
        return indices, weights


def _einsum(spec: str, *operands):
    import torch

    return torch.einsum(spec, *operands)


@lru_cache(maxsize=64)
def _cached(acquisition: Acquisition, depth_iso: int, depth_measured: int, projection: str) -> MeasurementOperator:
    return MeasurementOperator(acquisition, depth_iso, depth_measured, projection)


def measurement_operator(
    acquisition: Acquisition,
    depth_iso: int,
    depth_measured: int | None = None,
    *,
    projection: str = DEFAULT_PROJECTION,
) -> MeasurementOperator:
    """The `MeasurementOperator` of `acquisition` for `depth_iso` output slices and `depth_measured`
    sections (default: the whole slabs that fit), with the `projection`'s correction; cached.

    Examples
    --------
    >>> measurement_operator(Acquisition(4), 16).depth_measured
    4
    """
    z_lr = acquisition.measured_depth(depth_iso) if depth_measured is None else depth_measured
    return _cached(acquisition, int(depth_iso), int(z_lr), check_projection(projection))


def simulate(volume: np.ndarray, acquisition: Acquisition) -> np.ndarray:
    """Apply A along z (axis 0) to an isotropic (Z, Y, X) volume; returns float32 (Z_lr, Y, X).

    Examples
    --------
    >>> simulate(np.zeros((16, 3, 3)), Acquisition(4)).shape
    (4, 3, 3)
    """
    return measurement_operator(acquisition, volume.shape[0]).measure(volume)


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
    column = np.abs(measurement_operator(acquisition, depth, slabs, projection=projection).correction[:, slabs // 2])
    centre = acquisition.slab_centers(slabs)[slabs // 2]
    far = np.abs(np.arange(depth) + 0.5 - centre) / acquisition.factor  # distance in slabs
    reached = far[column > tol * column.max()]
    return int(np.ceil(max(0.0, reached.max() - 0.5)))
