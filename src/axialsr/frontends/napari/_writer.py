"""napari writer: an image layer with its scale as the voxel size (OME-Zarr, OME-TIFF, TIFF, HDF5)."""

from __future__ import annotations

import numpy as np

from axialsr.io import write_volume


def write_image(path: str, data, meta: dict) -> list[str]:
    """Write one 3D image layer; its scale (z, y, x) is written as the voxel size, in the unit the layer
    carries (the reader keeps it in the layer's metadata), else nm."""
    volume = np.asarray(data)
    scale = meta.get("scale")
    voxel = tuple(float(v) for v in scale[-3:]) if scale is not None and volume.ndim >= 3 else None
    unit = (meta.get("metadata") or {}).get("unit") or "nm"
    write_volume(path, volume, voxel, unit, force=True)
    return [path]
