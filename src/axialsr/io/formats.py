"""Reading and writing whole volumes: TIFF/OME-TIFF, HDF5 (CREMI-style), Zarr/OME-Zarr and .npy, with
their voxel sizes, and the checks every input passes (shape, channel axes, dtype, NaN/Inf, damage)."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.io.atomic import atomic_write
from axialsr.io.ome import (
    check_ngff_version,
    create_image_array,
    create_image_group,
    ome_scale,
    write_ome_zarr_metadata,
)
from axialsr.io.paths import DEFAULT_HDF5_KEY, check_output, format_of, split_path
from axialsr.io.units import UNIT_NM, VoxelSize, canonical_unit, convert_length
from axialsr.io.volume import Volume

# ----------------------------------------------------------------------------------------------- reading


def read_volume(
    spec: str | os.PathLike,
    voxel_size: VoxelSize | None = None,
    channel: int | None = None,
    unit: str | None = None,
) -> Volume:
    """Read a 3D volume from TIFF/OME-TIFF, HDF5, Zarr/OME-Zarr or .npy, with its voxel size.

    `voxel_size` (dz, dy, dx) in `unit` (default: the file's unit, else nm) overrides the file's metadata.
    Singleton axes are dropped; an array with a channel axis (C, or S for RGB samples; the first axis when
    the file names none) needs `channel` to pick one. Raises AxialSRError with a one-line reason for any
    unusable input (a damaged file, an ambiguous shape, NaNs, ...).
    """
    path, key = split_path(spec)
    try:
        with _open_array(path, key) as (array, size, file_unit, axes):
            index, _ = _volume_index(tuple(int(n) for n in array.shape), axes, channel, spec)
            data = np.asarray(array[tuple(slice(None) if i is None else i for i in index)])
    except AxialSRError:
        raise
    except Exception as exc:  # a corrupt or unreadable file: say which and why, in one line
        raise _read_error(spec, exc) from exc

    _check_dtype(data.dtype, spec)
    check_finite(data, spec)
    size, unit = _override_size(size, file_unit, voxel_size, unit)
    return Volume(data=data, voxel_size=_checked_voxel_size(size, spec), unit=unit)


def _read_error(spec: object, exc: Exception) -> AxialSRError:
    what = "is damaged or not a TIFF" if type(exc).__name__ == "TiffFileError" else "cannot be read"
    return AxialSRError(f"{spec} {what} ({type(exc).__name__}: {exc})".splitlines()[0])


def _override_size(size, file_unit: str, voxel_size, unit: str | None) -> tuple[VoxelSize | None, str]:
    if voxel_size is None:
        return size, file_unit
    return voxel_size, unit or file_unit


def _check_dtype(dtype: np.dtype, spec: object) -> None:
    if np.dtype(dtype).kind not in "biuf":
        raise AxialSRError(f"{spec}: unsupported dtype {dtype}; need integers or floats")


def check_finite(data: np.ndarray, spec: object) -> None:
    """Raise AxialSRError when a float array holds NaN or Inf."""
    if data.dtype.kind == "f":
        bad = int(np.count_nonzero(~np.isfinite(data)))
        if bad:
            raise AxialSRError(f"{spec}: {bad} voxels are NaN or Inf; fill or mask them before running axialsr")


def _checked_voxel_size(size: object, spec: object) -> VoxelSize | None:
    if size is None:
        return None
    values = tuple(float(v) for v in size)  # type: ignore[union-attr]
    if len(values) != 3 or not all(np.isfinite(v) and v > 0 for v in values):
        raise AxialSRError(f"{spec}: voxel size must be three positive numbers (z, y, x), got {values}")
    return (values[0], values[1], values[2])


@contextlib.contextmanager
def _open_array(path: Path, key: str | None) -> Iterator[tuple[Any, VoxelSize | None, str, str | None]]:
    """Open the array of a file without reading it: yields (array-like supporting numpy slicing, voxel
    size from the metadata, unit, axes letters or None). The file stays open inside the `with`."""
    if not path.exists():
        raise AxialSRError(f"input not found: {path}")
    fmt = format_of(path)
    if fmt == "tiff":
        with _open_tiff(path) as opened:
            yield opened
    elif fmt == "hdf5":
        with _open_hdf5(path, key) as opened:
            yield opened
    elif fmt == "zarr":
        yield _open_zarr(path, key)
    else:
        yield np.load(path, mmap_mode="r", allow_pickle=False), None, "nm", None


def _volume_index(
    shape: tuple[int, ...], axes: str | None, channel: int | None, spec: object
) -> tuple[tuple[int | None, ...], tuple[int, int, int]]:
    """Which 3D volume of an array of `shape` axialsr uses: per axis a channel index (the 'C' axis, else
    'S' (RGB samples), else the first axis when the file names none), 0 (a singleton axis dropped) or None
    (a volume axis); and the (Z, Y, X) shape. Raises AxialSRError when no 3D volume of at least 2 voxels
    per axis remains, or when `channel` does not apply."""
    names = axes.upper() if axes and len(axes) == len(shape) else None
    index: list[int | None] = [None] * len(shape)
    if channel is not None:
        if len([n for n in shape if n > 1]) <= 3 and not (names and ("C" in names or "S" in names)):
            raise AxialSRError(f"{spec}: the input is one 3D volume {shape}; a channel does not apply", "channel")
        if names and ("C" in names or "S" in names):
            axis = names.index("C") if "C" in names else names.index("S")
        else:
            axis = 0
        if not 0 <= channel < shape[axis]:
            raise AxialSRError(f"{spec}: channel {channel} out of range (axis of size {shape[axis]})")
        index[axis] = channel
    for axis, n in enumerate(shape):
        if sum(i is None for i in index) <= 3:
            break
        if n == 1 and index[axis] is None:
            index[axis] = 0
    kept = tuple(n for n, i in zip(shape, index, strict=True) if i is None)
    if len(kept) > 3:
        extra = [
            f"{names[a]}={shape[a]}" for a in range(len(shape)) if names and index[a] is None and names[a] in "TCS"
        ]
        if names and "T" in names and shape[names.index("T")] > 1:
            hint = f"it holds {shape[names.index('T')]} time points: save one time point as its own file"
            if "C" in names or "S" in names:
                hint += " (and pick a channel)"
        else:
            hint = "pick a channel"
        raise AxialSRError(
            f"{spec}: array has {len(shape)} dimensions {shape} (axes {axes or 'unknown'}"
            f"{', ' + ', '.join(extra) if extra else ''}); axialsr needs one 3D (Z, Y, X) volume: {hint}",
            "channel",
        )
    if len(kept) < 3 or min(kept) < 2:
        raise AxialSRError(
            f"{spec}: array has shape {shape}; axialsr needs a 3D (Z, Y, X) volume with at least 2 slices"
        )
    return tuple(index), (kept[0], kept[1], kept[2])


class _Collect(logging.Handler):
    """Collects a logger's records instead of printing them (tifffile logs damage as it finds it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[_Collect]:
    logger = logging.getLogger(name)
    handler = _Collect()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _sizes_in_one_unit(sizes: dict[str, float], units: dict[str, str | None]) -> tuple[VoxelSize, str]:
    """(dz, dy, dx) in x's unit from per-axis sizes and units (OME allows a unit per axis)."""
    target = units["X"] or "µm"
    converted = [convert_length(sizes[a], units[a] or target, target) for a in "ZYX"]
    return (converted[0], converted[1], converted[2]), target


@contextlib.contextmanager
def _open_tiff(path: Path) -> Iterator[tuple[Any, VoxelSize | None, str, str | None]]:
    import tifffile
    import zarr

    with _quiet_logger("tifffile") as log, tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        axes = series.axes
        size: VoxelSize | None = None
        unit = "nm"
        if tif.ome_metadata:
            pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
            pixels = (pixels[0] if isinstance(pixels, list) else pixels)["Pixels"]
            if all(f"PhysicalSize{a}" in pixels for a in "ZYX"):
                sizes = {a: float(pixels[f"PhysicalSize{a}"]) for a in "ZYX"}
                units = {a: canonical_unit(pixels.get(f"PhysicalSize{a}Unit", "µm")) for a in "ZYX"}
                size, unit = _sizes_in_one_unit(sizes, units)
        elif tif.imagej_metadata and "spacing" in tif.imagej_metadata:
            meta = tif.imagej_metadata
            page = tif.pages[0]
            xres = page.tags.get("XResolution")
            yres = page.tags.get("YResolution")
            if xres is not None and yres is not None:
                dx = xres.value[1] / xres.value[0]
                dy = yres.value[1] / yres.value[0]
                size = (float(meta["spacing"]), float(dy), float(dx))
                unit = canonical_unit(meta.get("unit", "nm")) or "nm"
        end = max(
            (
                int(o) + int(n)
                for page in series.pages
                if page is not None
                for o, n in zip(page.dataoffsets, page.databytecounts, strict=False)
            ),
            default=0,
        )
        if log.messages or end > path.stat().st_size:
            reason = log.messages[0] if log.messages else f"its image data end at byte {end}, past its end"
            raise AxialSRError(f"{path} is damaged (truncated or corrupt: {reason}); use an intact copy")
        # tifffile's zarr interface reads only the pages (or tiles) a region touches.
        with series.aszarr() as store:
            yield zarr.open(store, mode="r"), size, unit, axes


def _dataset_names(group, min_ndim: int = 0) -> list[str]:
    import h5py

    names: list[str] = []
    group.visititems(
        lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) and obj.ndim >= min_ndim else None
    )
    return names


def hdf5_datasets(path: str | os.PathLike, min_ndim: int = 0) -> list[str]:
    """Paths of the datasets in the HDF5 file `path` with at least `min_ndim` dimensions."""
    import h5py

    with h5py.File(path, "r") as f:
        return _dataset_names(f, min_ndim)


@contextlib.contextmanager
def _open_hdf5(path: Path, key: str | None) -> Iterator[tuple[Any, VoxelSize | None, str, str | None]]:
    import h5py

    with h5py.File(path, "r") as f:
        datasets = _dataset_names(f)
        if key is None:
            if DEFAULT_HDF5_KEY in f:
                key = DEFAULT_HDF5_KEY
            elif len(datasets) == 1:
                key = datasets[0]
            else:
                raise AxialSRError(f"{path} holds several datasets {datasets}; name one as {path}:DATASET")
        if key not in f or not isinstance(f[key], h5py.Dataset):
            raise AxialSRError(f"{path} has no dataset '{key}'; it has: {', '.join(datasets) or 'none'}")
        dset = f[key]
        size = None
        for attr in ("resolution", "voxel_size", "element_size_um"):
            if attr in dset.attrs:
                size = tuple(float(v) for v in np.ravel(dset.attrs[attr]))
                unit = "µm" if attr == "element_size_um" else canonical_unit(dset.attrs.get("unit", "nm")) or "nm"
                break
        else:
            unit = "nm"
        yield dset, size, unit, None


def _open_zarr(path: Path, key: str | None) -> tuple[Any, VoxelSize | None, str, str | None]:
    import zarr

    node = zarr.open(str(path), mode="r")
    size: VoxelSize | None = None
    unit = "nm"
    axes = None
    if isinstance(node, zarr.Group):
        group_attrs = dict(node.attrs)
        ome_path, scale, ome_unit, ome_axes = ome_scale(group_attrs)
        if key is None:
            key = ome_path
        if key is None:
            arrays = sorted(name for name, _ in node.arrays())
            if len(arrays) != 1:
                raise AxialSRError(f"{path} holds arrays {arrays}; name one as {path}:ARRAY")
            key = arrays[0]
        try:
            array = node[key]
        except KeyError:
            arrays = sorted(name for name, _ in node.arrays())
            raise AxialSRError(f"{path} has no array '{key}'; it has: {', '.join(arrays) or 'none'}") from None
        if key == ome_path and scale is not None:
            size = tuple(scale[-3:])
            unit, axes = ome_unit, ome_axes
    else:
        if key is not None:
            raise AxialSRError(f"{path} is a single array, not a group: it has no array '{key}'; drop ':{key}'")
        array = node
    attrs = dict(array.attrs)
    if size is None:
        for attr in ("resolution", "voxel_size"):
            if attr in attrs:
                size = tuple(float(v) for v in attrs[attr])
                unit = canonical_unit(attrs.get("unit", "nm")) or "nm"
    return array, size, unit, axes


# ----------------------------------------------------------------------------------------------- writing


def write_volume(
    spec: str | os.PathLike,
    data: np.ndarray,
    voxel_size: VoxelSize | None = None,
    unit: str = "nm",
    *,
    force: bool = False,
    levels: int | str = "auto",
    ngff_version: str = "0.5",
) -> Path:
    """Write a 3D (Z, Y, X) array atomically with its voxel size (dz, dy, dx) in `unit`.

    TIFF files get OME-XML metadata (PhysicalSizeZ/Y/X); HDF5 a dataset (default 'volumes/raw') with a
    CREMI-style `resolution` attribute; Zarr an OME-Zarr image of NGFF `ngff_version` ('0.5': Zarr v3,
    '0.4': Zarr v2) whose full-resolution array is the key (default '0'); .npy the array alone. An OME-Zarr
    image gets `levels` pyramid levels ('auto': until the coarsest fits 256^3, so none below that; see
    `axialsr.io.pyramid`).
    Returns the path written.
    """
    path, key = split_path(spec)
    check_output(spec, force=force)
    fmt = format_of(path)
    if fmt == "zarr":
        check_ngff_version(ngff_version)
    data = np.ascontiguousarray(data)
    with atomic_write(path) as tmp:
        if fmt == "tiff":
            _write_tiff(tmp, data, voxel_size, unit)
        elif fmt == "hdf5":
            _write_hdf5(tmp, key or DEFAULT_HDF5_KEY, data, voxel_size, unit)
        elif fmt == "zarr":
            _write_zarr(tmp, key, data, voxel_size=voxel_size, unit=unit, levels=levels, ngff_version=ngff_version)
        else:
            with open(tmp, "wb") as fh:
                np.save(fh, data)
    return path


IMAGEJ_DTYPES = ("uint8", "uint16", "float32")


def _write_tiff(path: Path, data: np.ndarray, voxel_size: VoxelSize | None, unit: str) -> None:
    """OME-TIFF (`.ome.tif`, or a dtype ImageJ cannot hold) with OME-XML, else an ImageJ hyperstack with its
    `spacing` and `unit`; both with the TIFF resolution tags, so tag-only readers see the pixel size too."""
    import tifffile

    big = data.nbytes > 2**31
    ome = path.name.lower().endswith((".ome.tif", ".ome.tiff")) or data.dtype.name not in IMAGEJ_DTYPES
    if voxel_size is None:
        tifffile.imwrite(
            path, data, ome=ome, imagej=not ome, photometric="minisblack", bigtiff=big, metadata={"axes": "ZYX"}
        )
        return
    dz, dy, dx = voxel_size
    if ome:
        metadata: dict[str, object] = {"axes": "ZYX"}
        for axis, value in zip("ZYX", voxel_size, strict=True):
            metadata[f"PhysicalSize{axis}"] = float(value)
            metadata[f"PhysicalSize{axis}Unit"] = unit
        in_cm = UNIT_NM[unit] / UNIT_NM["cm"]  # TIFF resolution tags count pixels per centimetre
        tifffile.imwrite(
            path,
            data,
            ome=True,
            metadata=metadata,
            photometric="minisblack",
            bigtiff=big,
            resolution=(1 / (dx * in_cm), 1 / (dy * in_cm)),
            resolutionunit="CENTIMETER",
        )
        return
    imagej_unit = {"µm": "micron"}.get(unit, unit)
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        photometric="minisblack",
        bigtiff=big,
        resolution=(1 / dx, 1 / dy),
        metadata={"axes": "ZYX", "spacing": float(dz), "unit": imagej_unit},
    )


def _write_hdf5(path: Path, key: str, data: np.ndarray, voxel_size: VoxelSize | None, unit: str) -> None:
    import h5py

    with h5py.File(path, "w") as f:
        dset = f.create_dataset(key, data=data, chunks=True, compression="gzip", compression_opts=4)
        if voxel_size is not None:
            dset.attrs["resolution"] = np.asarray(voxel_size, dtype=np.float64)
            dset.attrs["unit"] = unit


def _write_zarr(
    path: Path,
    key: str | None,
    data: np.ndarray,
    *,
    voxel_size: VoxelSize | None,
    unit: str,
    levels: int | str = 1,
    ngff_version: str = "0.5",
) -> None:
    """An OME-Zarr image of NGFF `ngff_version` whose full-resolution array is `key` (default '0'), with
    `levels` levels (when the full-resolution array is '0')."""
    from axialsr.io.pyramid import resolve_levels, write_levels

    count = resolve_levels(levels, data.shape) if key in (None, "0") else 1
    chunks = tuple(min(s, c) for s, c in zip(data.shape, (64, 256, 256), strict=True))
    group = create_image_group(path, ngff_version)
    create_image_array(group, key or "0", data.shape, data.dtype, chunks)[...] = data
    write_levels(group, count, chunks)
    write_ome_zarr_metadata(group, voxel_size or (1.0, 1.0, 1.0), unit if voxel_size else None, key or "0", count)
