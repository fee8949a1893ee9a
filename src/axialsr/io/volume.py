"""The in-memory volume: a (Z, Y, X) array with its voxel size and unit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from axialsr.io.units import VoxelSize


@dataclass
class Volume:
    """A 3D (Z, Y, X) array with its voxel size (dz, dy, dx) in `unit` (a canonical length unit, see
    `canonical_unit`; the voxel size is None when the file has none)."""

    data: np.ndarray
    voxel_size: VoxelSize | None = None
    unit: str = "nm"

    @property
    def anisotropy(self) -> float | None:
        """dz / dx, the axial factor the reconstruction has to recover (None without a voxel size)."""
        if self.voxel_size is None:
            return None
        return float(self.voxel_size[0] / self.voxel_size[2])
