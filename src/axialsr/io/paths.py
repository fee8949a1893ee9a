"""Path specs ('file.h5:dataset', 'store.zarr:array'), the format a name stands for, and the checks an
output path passes before any work."""

from __future__ import annotations

import os
from pathlib import Path

from axialsr.errors import AxialSRError

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".n5h5")

ZARR_SUFFIXES = (".zarr", ".ome.zarr")

TIFF_SUFFIXES = (".tif", ".tiff")

DEFAULT_HDF5_KEY = "volumes/raw"


def split_path(spec: str | os.PathLike) -> tuple[Path, str | None]:
    """Split 'file.h5:dataset' or 'store.zarr:array' into (path, key); plain paths give key None."""
    text = os.fspath(spec)
    lower = text.lower()
    for suffix in HDF5_SUFFIXES + ZARR_SUFFIXES:
        marker = suffix + ":"
        idx = lower.find(marker)
        if idx >= 0:
            return Path(text[: idx + len(suffix)]), text[idx + len(marker) :] or None
    return Path(text), None


def format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(TIFF_SUFFIXES):
        return "tiff"
    if name.endswith(HDF5_SUFFIXES):
        return "hdf5"
    if name.endswith(ZARR_SUFFIXES) or name.endswith(".zarr/"):
        return "zarr"
    if name.endswith(".npy"):
        return "npy"
    raise AxialSRError(
        f"unknown file format for '{path}': use .tif/.tiff/.ome.tif, .h5/.hdf5 (file.h5:dataset), "
        ".zarr (store.zarr[:array]) or .npy"
    )


def check_output(
    spec: str | os.PathLike,
    force: bool = False,
    inputs: tuple[str | os.PathLike, ...] = (),
    any_format: bool = False,
) -> Path:
    """Fail early (before any long computation) if `spec` cannot be written: it exists without
    `force`, it is one of the `inputs` without `force`, its folder is missing or not writable, or the
    format is not a volume format (unless `any_format`: a figure, a table, a report). Returns the path."""
    path, _ = split_path(spec)
    if not any_format:
        format_of(path)
    input_paths = {split_path(p)[0].resolve() for p in inputs}
    if path.resolve() in input_paths and not force:
        raise AxialSRError(
            f"refusing to overwrite the input {path}; choose another output or set force", setting="force"
        )
    if path.exists() and not force:
        raise AxialSRError(f"output {path} exists; set force to overwrite it", setting="force")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise AxialSRError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise AxialSRError(f"cannot write {path}: folder {parent} is not writable")
    return path


def tagged_sibling(spec: str | os.PathLike, tag: str) -> str:
    """The path of a companion output beside `spec`: 'iso.tif' -> 'iso.<tag>.tif', 'iso.ome.zarr' ->
    'iso.<tag>.ome.zarr', 'out.h5:volumes/raw' -> 'out.<tag>.h5:volumes/raw'.

    Examples
    --------
    >>> tagged_sibling("run/iso.ome.tif", "uncertainty")
    'run/iso.uncertainty.ome.tif'
    """
    path, key = split_path(spec)
    name = path.name
    lower = name.lower()
    for suffix in (".ome.tiff", ".ome.tif", ".ome.zarr", *TIFF_SUFFIXES, *HDF5_SUFFIXES, ".zarr", ".npy"):
        if lower.endswith(suffix):
            stem, ext = name[: -len(suffix)], name[-len(suffix) :]
            break
    else:
        stem, ext = name, ""
    out = str(path.with_name(f"{stem}.{tag}{ext}"))
    return out if key is None else f"{out}:{key}"
