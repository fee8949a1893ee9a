"""Volumes on disk read region by region (for volumes larger than memory)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.io.formats import (
    _check_dtype,
    _checked_voxel_size,
    _open_array,
    _override_size,
    _read_error,
    _volume_index,
)
from axialsr.io.paths import split_path
from axialsr.io.units import VoxelSize


@dataclass(frozen=True)
class VolumeSource:
    """A volume on disk that is read region by region, never whole (for volumes larger than memory).

    Picklable: a worker process re-opens the file for each region it reads. `shape` is the 3D (Z, Y, X)
    shape after channel selection; `index` maps each axis of the stored array to a channel index, 0 (a
    dropped singleton axis) or None (one of the three volume axes, in order)."""

    spec: str
    shape: tuple[int, int, int]
    dtype: str
    voxel_size: VoxelSize | None
    unit: str
    index: tuple[int | None, ...]

    def read(self, region: tuple[slice, slice, slice]) -> np.ndarray:
        """The (Z, Y, X) sub-volume at `region` (slices in voxels), as a numpy array in the file's dtype."""
        path, key = split_path(self.spec)
        spatial = iter(region)
        selection = tuple(next(spatial) if i is None else i for i in self.index)
        with _open_array(path, key) as (array, _, _, _):
            return np.asarray(array[selection])

    @property
    def anisotropy(self) -> float | None:
        """dz / dx (None without a voxel size)."""
        return None if self.voxel_size is None else float(self.voxel_size[0] / self.voxel_size[2])


def open_source(
    spec: str | os.PathLike, voxel_size: VoxelSize | None = None, channel: int | None = None, unit: str | None = None
) -> VolumeSource:
    """Open a volume for region-wise reading (TIFF through tifffile's zarr interface, HDF5, Zarr, .npy
    memory-mapped): checks the shape, dtype and voxel size as `read_volume` does, without reading the data
    (NaN/Inf are found per region, when read)."""
    path, key = split_path(spec)
    try:
        with _open_array(path, key) as (array, size, unit_in, axes):
            shape, dtype = tuple(int(n) for n in array.shape), np.dtype(array.dtype)
    except AxialSRError:
        raise
    except Exception as exc:
        raise _read_error(spec, exc) from exc
    index, kept = _volume_index(shape, axes, channel, spec)
    _check_dtype(dtype, spec)
    size, unit = _override_size(size, unit_in, voxel_size, unit)
    return VolumeSource(
        os.fspath(spec),
        (kept[0], kept[1], kept[2]),
        dtype.str,
        _checked_voxel_size(size, spec),
        unit,
        index,
    )
