"""Interpolation baselines along z onto the reconstruction grid.

Measured slice k sits at the centre (k + 1/2) s of its slab (see `acquisition`), and isotropic voxel i
at i + 1/2, so voxel i reads the measured stack at fractional index (i + 1/2) / s - 1/2. Interpolation is
linear in the data, so it is applied as a (Z_hr, Z_lr) matrix built once by interpolating unit vectors:
nearest, linear, or a natural cubic spline (scipy CubicSpline; exact on linear ramps). Beyond the first
and last slab centres the end slices are held.
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import CubicSpline

from axialsr.errors import AxialSRError
from axialsr.operators.acquisition import Acquisition

INTERPOLATION_METHODS = ("nearest", "linear", "cubic")


def interpolation_matrix(depth_measured: int, depth_iso: int, factor: float, method: str) -> np.ndarray:
    """(Z_hr, Z_lr) float64 matrix mapping measured slices to isotropic slices by `method`."""
    if method not in INTERPOLATION_METHODS:
        raise AxialSRError(f"unknown interpolation '{method}'; choose one of {INTERPOLATION_METHODS}")
    positions = np.clip((np.arange(depth_iso) + 0.5) / factor - 0.5, 0, depth_measured - 1)
    nodes = np.arange(depth_measured, dtype=np.float64)
    if method == "nearest":
        # round half up, so that a voxel on a slab boundary reads the slab that contains it
        idx = np.clip(np.floor(positions + 0.5).astype(int), 0, depth_measured - 1)
        return np.eye(depth_measured)[idx]
    if method == "linear" or depth_measured < 3:
        return np.stack([np.interp(positions, nodes, e) for e in np.eye(depth_measured)], axis=1)
    return CubicSpline(nodes, np.eye(depth_measured), axis=0, bc_type="natural")(positions)


def interpolate_z(
    measured: np.ndarray, factor: float, method: str = "cubic", depth_iso: int | None = None
) -> np.ndarray:
    """Interpolate a measured (Z_lr, Y, X) stack to the isotropic grid (round(Z_lr * s) slices by default).

    Returns float32 in the input's units."""
    acquisition = Acquisition(factor)
    depth_iso = acquisition.output_depth(measured.shape[0]) if depth_iso is None else depth_iso
    matrix = interpolation_matrix(measured.shape[0], depth_iso, factor, method).astype(np.float32)
    out = np.empty((depth_iso,) + measured.shape[1:], dtype=np.float32)
    lr = measured.astype(np.float32, copy=False)
    for i, row in enumerate(matrix):
        nz = np.flatnonzero(np.abs(row) > 1e-7)
        out[i] = np.tensordot(row[nz], lr[nz], axes=(0, 0))
    return out
