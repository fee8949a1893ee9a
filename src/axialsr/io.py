"""Reading and writing volumes: TIFF/OME-TIFF, HDF5 (CREMI-style), Zarr/OME-Zarr and .npy.

A volume is a 3D array ordered (Z, Y, X) plus its voxel size (dz, dy, dx) in physical units (`unit`,
nanometres unless the file says otherwise). Paths may name a dataset inside a container:
`file.h5:volumes/raw`, `store.zarr:raw`. Every write goes to a temporary path beside the target and is
renamed into place, so an interrupted run never leaves a half-written output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from axialsr.errors import AxialSRError

VoxelSize = tuple[float, float, float]

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".n5h5")
ZARR_SUFFIXES = (".zarr", ".ome.zarr")
TIFF_SUFFIXES = (".tif", ".tiff")
DEFAULT_HDF5_KEY = "volumes/raw"

# Length units: canonical short name -> nanometres, and the names files use for them.
UNIT_NM = {"pm": 1e-3, "Å": 0.1, "nm": 1.0, "µm": 1e3, "mm": 1e6, "cm": 1e7, "m": 1e9}
UNIT_ALIASES = {
    "pm": "pm",
    "picometer": "pm",
    "picometre": "pm",
    "å": "Å",
    "a": "Å",
    "angstrom": "Å",
    "ångström": "Å",
    "nm": "nm",
    "nanometer": "nm",
    "nanometre": "nm",
    "nanometers": "nm",
    "µm": "µm",
    "μm": "µm",
    "um": "µm",
    "micron": "µm",
    "microns": "µm",
    "micrometer": "µm",
    "micrometre": "µm",
    "micrometers": "µm",
    "\\u00b5m": "µm",
    "mm": "mm",
    "millimeter": "mm",
    "millimetre": "mm",
    "cm": "cm",
    "centimeter": "cm",
    "m": "m",
    "meter": "m",
    "metre": "m",
}
NGFF_UNITS = {
    "pm": "picometer",
    "Å": "angstrom",
    "nm": "nanometer",
    "µm": "micrometer",
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
}


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


def canonical_unit(name: object) -> str | None:
    """The canonical short name ('nm', 'µm', ...) of a length unit as files and users write it ('micron',
    'um', 'micrometer', ...); None for no unit or one that is not a length ('pixel')."""
    if name is None:
        return None
    text = str(name).strip()
    return UNIT_ALIASES.get(text.lower(), UNIT_ALIASES.get(text))


def convert_length(value: float, unit: str, to: str) -> float:
    """`value` in `unit` expressed in `to` (both canonical names)."""
    return float(value) * UNIT_NM[unit] / UNIT_NM[to]


def parse_voxel_size(text: str, default_unit: str = "nm") -> tuple[VoxelSize, str]:
    """'Z,Y,X' or 'ZxYxX' with an optional unit ('40,4,4', '0.4,0.1,0.1um', '40x4x4 nm') -> (sizes, unit).

    Examples
    --------
    >>> parse_voxel_size("0.4,0.1,0.1um")
    ((0.4, 0.1, 0.1), 'µm')
    >>> parse_voxel_size("40x4x4")
    ((40.0, 4.0, 4.0), 'nm')
    """
    import re

    match = re.fullmatch(r"\s*([^,x\s]+)\s*[,x]\s*([^,x\s]+)\s*[,x]\s*([0-9.eE+-]+)\s*([^\d\s].*)?", text.strip())
    if not match:
        raise AxialSRError(
            f"voxel size must be 'Z,Y,X' with an optional unit (e.g. 40,4,4 or 0.4,0.1,0.1um), got '{text}'"
        )
    try:
        values = tuple(float(v) for v in match.groups()[:3])
    except ValueError:
        raise AxialSRError(f"voxel size must be three numbers 'Z,Y,X', got '{text}'") from None
    if min(values) <= 0 or not all(np.isfinite(values)):
        raise AxialSRError(f"voxel size must be three positive numbers, got '{text}'")
    unit = default_unit
    if match.group(4):
        unit = canonical_unit(match.group(4).strip())
        if unit is None:
            raise AxialSRError(f"unknown length unit '{match.group(4).strip()}' in '{text}'; use nm, um, mm")
    return (values[0], values[1], values[2]), unit


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


def _format_of(path: Path) -> str:
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
    fmt = _format_of(path)
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
            raise AxialSRError(f"{spec}: the input is one 3D volume {shape}; --channel does not apply")
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
                hint += " (and pick a channel with --channel N)"
        else:
            hint = "pick a channel with --channel N"
        raise AxialSRError(
            f"{spec}: array has {len(shape)} dimensions {shape} (axes {axes or 'unknown'}"
            f"{', ' + ', '.join(extra) if extra else ''}); axialsr needs one 3D (Z, Y, X) volume: {hint}"
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


def _ome_scale(attrs: dict) -> tuple[str | None, list[float] | None, str, str | None]:
    """Path of the full-resolution array, its scale, unit and axes from OME-Zarr 0.4/0.5 attributes."""
    multiscales = attrs.get("ome", {}).get("multiscales") or attrs.get("multiscales")
    if not multiscales:
        return None, None, "nm", None
    ms = multiscales[0]
    dataset = ms["datasets"][0]
    scale = None
    for transform in dataset.get("coordinateTransformations", []):
        if transform.get("type") == "scale":
            scale = [float(v) for v in transform["scale"]]
    axes_meta = ms.get("axes", [])
    names = "".join(a["name"] if isinstance(a, dict) else str(a) for a in axes_meta).upper() or None
    unit = "nm"
    space = [(i, a) for i, a in enumerate(axes_meta) if isinstance(a, dict) and a.get("type") == "space"]
    if scale is not None and len(space) >= 3:
        units = [canonical_unit(a.get("unit")) for _, a in space[-3:]]
        unit = units[-1] or "nm"
        scale = list(scale)
        for (i, _), u in zip(space[-3:], units, strict=True):
            scale[i] = convert_length(scale[i], u or unit, unit)
    return str(dataset["path"]), scale, unit, names


def _open_zarr(path: Path, key: str | None) -> tuple[Any, VoxelSize | None, str, str | None]:
    import zarr

    node = zarr.open(str(path), mode="r")
    size: VoxelSize | None = None
    unit = "nm"
    axes = None
    if isinstance(node, zarr.Group):
        group_attrs = dict(node.attrs)
        ome_path, scale, ome_unit, ome_axes = _ome_scale(group_attrs)
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


def check_output(spec: str | os.PathLike, force: bool = False, inputs: tuple[str | os.PathLike, ...] = ()) -> Path:
    """Fail early (before any long computation) if `spec` cannot be written: it exists without
    `force`, it is one of the `inputs` without `force`, its folder is missing or not writable, or the
    format is unknown. Returns the file path."""
    path, _ = split_path(spec)
    _format_of(path)
    input_paths = {split_path(p)[0].resolve() for p in inputs}
    if path.resolve() in input_paths and not force:
        raise AxialSRError(f"refusing to overwrite the input {path}; choose another --out or pass --force")
    if path.exists() and not force:
        raise AxialSRError(f"output {path} exists; pass --force to overwrite it")
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


def temp_sibling(path: Path) -> Path:
    """A unique temporary path beside `path`: same folder (so the final rename is atomic) and same suffixes
    (so writers that pick a format from the name pick the same one)."""
    suffix = (
        "".join(path.suffixes[-2:])
        if path.name.lower().endswith((".ome.tif", ".ome.tiff", ".ome.zarr"))
        else path.suffix
    )
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Write `path` atomically: yields a temporary sibling to write (a file or a folder); when the block
    ends without an error, the temporary replaces `path` (a folder at `path` is removed first), otherwise
    it is deleted. Readers never see a half-written `path`.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_write(folder / "notes.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (folder / "notes.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['notes.txt'])
    """
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        yield tmp
        if tmp.is_file():  # some writers (safetensors) create files readable by their owner alone
            os.chmod(tmp, 0o666 & ~_umask())
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically (see `atomic_write`); returns the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_volume(
    spec: str | os.PathLike,
    data: np.ndarray,
    voxel_size: VoxelSize | None = None,
    unit: str = "nm",
    force: bool = False,
) -> Path:
    """Write a 3D (Z, Y, X) array atomically with its voxel size (dz, dy, dx) in `unit`.

    TIFF files get OME-XML metadata (PhysicalSizeZ/Y/X); HDF5 a dataset (default 'volumes/raw') with a
    CREMI-style `resolution` attribute; Zarr an OME-Zarr 0.5 image (array '0'), or a plain array with a
    `resolution` attribute when a key is given; .npy the array alone. Returns the path written.
    """
    path, key = split_path(spec)
    check_output(spec, force=force)
    fmt = _format_of(path)
    data = np.ascontiguousarray(data)
    with atomic_write(path) as tmp:
        if fmt == "tiff":
            _write_tiff(tmp, data, voxel_size, unit)
        elif fmt == "hdf5":
            _write_hdf5(tmp, key or DEFAULT_HDF5_KEY, data, voxel_size, unit)
        elif fmt == "zarr":
            _write_zarr(tmp, key, data, voxel_size, unit)
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


def _write_zarr(path: Path, key: str | None, data: np.ndarray, voxel_size: VoxelSize | None, unit: str) -> None:
    """An OME-Zarr 0.5 image whose full-resolution array is `key` (default '0')."""
    import zarr

    chunks = tuple(min(s, c) for s, c in zip(data.shape, (64, 256, 256), strict=True))
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    array = group.create_array(
        key or "0", shape=data.shape, dtype=data.dtype, chunks=chunks, dimension_names=("z", "y", "x")
    )
    array[...] = data
    write_ome_zarr_metadata(group, voxel_size or (1.0, 1.0, 1.0), unit if voxel_size else None, key or "0")


def write_ome_zarr_metadata(group: Any, voxel_size: VoxelSize, unit: str | None = "nm", path: str = "0") -> None:
    """OME-Zarr 0.5 multiscales attributes on a zarr v3 `group` whose full-resolution array is `path`,
    with the voxel size (dz, dy, dx) in `unit` (None: uncalibrated, no unit) as its scale."""
    ngff_unit = NGFF_UNITS.get(canonical_unit(unit) or "")
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": "axialsr",
                "axes": [{"name": a, "type": "space", **({"unit": ngff_unit} if ngff_unit else {})} for a in "zyx"],
                "datasets": [
                    {
                        "path": path,
                        "coordinateTransformations": [{"type": "scale", "scale": [float(v) for v in voxel_size]}],
                    }
                ],
            }
        ],
    }
