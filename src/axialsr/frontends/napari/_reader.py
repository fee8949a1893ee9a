"""napari reader: volumes as image layers with their voxel size as the layer scale."""

from __future__ import annotations

from pathlib import Path

from axialsr.io import hdf5_datasets, open_source, read_volume, split_path
from axialsr.io.paths import HDF5_SUFFIXES, TIFF_SUFFIXES, ZARR_SUFFIXES
from axialsr.io.pyramid import open_levels

SUFFIXES = (*TIFF_SUFFIXES, *HDF5_SUFFIXES, *ZARR_SUFFIXES, ".npy")


def get_reader(path):
    """The reader for `path` if axialsr reads it (TIFF/OME-TIFF, HDF5, Zarr/OME-Zarr, .npy), else None."""
    if isinstance(path, list):
        return None
    name = str(split_path(path)[0]).lower().rstrip("/")
    return read_layers if name.endswith(SUFFIXES) else None


def read_layers(path) -> list[tuple]:
    """[(data, {"scale": voxel size, "name": ..., "metadata": ...}, "image")] for each volume in `path`: an
    HDF5 file with several 3D datasets gives one layer per dataset (keep the one you want)."""
    file, key = split_path(path)
    specs = [str(path)]
    if key is None and str(file).lower().endswith(HDF5_SUFFIXES):
        datasets = hdf5_datasets(file, min_ndim=3)
        if len(datasets) > 1:
            specs = [f"{file}:{name}" for name in datasets]
    layers = []
    for spec in specs:
        levels = open_levels(spec)
        # a multiscale OME-Zarr opens lazily, level by level: napari shows the coarsest when zoomed out
        volume = read_volume(spec) if levels is None else open_source(spec)
        meta = {"name": Path(str(spec).replace(":", "_")).name, "metadata": {"unit": volume.unit, "source": spec}}
        if volume.voxel_size is not None:
            meta["scale"] = tuple(volume.voxel_size)
            meta["units"] = (volume.unit,) * 3 if volume.unit else None
        if levels is not None:
            meta["multiscale"] = True
        data = levels if levels is not None else volume.data
        layers.append((data, {k: v for k, v in meta.items() if v is not None}, "image"))
    return layers
