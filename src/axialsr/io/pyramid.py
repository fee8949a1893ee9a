"""Multiscale OME-Zarr: the pyramid of 2x mean-downsampled levels that viewers (napari, neuroglancer)
browse at any zoom, written chunk by chunk from the level above (memory bounded by a chunk).

Level l has shape ceil(shape / 2^l) (an odd side's last voxel is its own mean), voxel size 2^l times
level 0's and an offset of (2^l - 1) / 2 voxels of level 0, so that every level lies where its voxels'
means come from. Integer levels are rounded once per level, so level l is within l / 2 grey levels of
the mean of level 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from axialsr.io.ome import create_image_array

AUTO_COARSEST = 256  # `auto`: add levels until the coarsest fits in AUTO_COARSEST^3


def auto_levels(shape: tuple[int, ...], coarsest: int = AUTO_COARSEST) -> int:
    """The number of levels (level 0 included) until every side of the coarsest is <= `coarsest`.

    Examples
    --------
    >>> auto_levels((160, 128, 128)), auto_levels((1000, 600, 300))
    (1, 3)
    """
    levels, sides = 1, list(shape)
    while max(sides) > coarsest and min(sides) > 1:
        sides = [math.ceil(s / 2) for s in sides]
        levels += 1
    return levels


def resolve_levels(levels: int | str, shape: tuple[int, ...]) -> int:
    """`levels` as a count: an int >= 1, or 'auto' (see `auto_levels`)."""
    from axialsr.errors import AxialSRError

    if levels == "auto":
        return auto_levels(shape)
    try:
        count = int(levels)
    except (TypeError, ValueError):
        count = 0
    if count < 1:
        message = f"pyramid levels must be 'auto' or an integer >= 1, got {levels!r}"
        raise AxialSRError(message, setting="pyramid_levels")
    return count


def level_shape(shape: tuple[int, ...], level: int) -> tuple[int, ...]:
    return tuple(math.ceil(s / 2**level) for s in shape)


def downsample_mean(block: np.ndarray) -> np.ndarray:
    """2x mean along every axis (float64); an odd side's last voxel is averaged with itself.

    Examples
    --------
    >>> downsample_mean(np.arange(6.0).reshape(1, 2, 3))[0]
    array([[2. , 3.5]])
    """
    pad = [(0, s % 2) for s in block.shape]
    if any(p for _, p in pad):
        block = np.pad(block, pad, mode="edge")
    z, y, x = (s // 2 for s in block.shape)
    return block.astype(np.float64).reshape(z, 2, y, 2, x, 2).mean(axis=(1, 3, 5))


def cast_level(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Means to the output dtype: rounded and clipped for integers."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    return values.astype(dtype)


def write_levels(group: Any, levels: int, chunks: tuple[int, ...]) -> None:
    """Add levels '1'..'levels-1' to a zarr `group` that holds level '0', each from the one above, one
    output chunk at a time."""
    if levels <= 1:
        return
    source = group["0"]
    for level in range(1, levels):
        shape = level_shape(source.shape, 1)
        level_chunks = tuple(min(c, s) for c, s in zip(chunks, shape, strict=True))
        target = create_image_array(group, str(level), shape, source.dtype, level_chunks)
        for z0 in range(0, shape[0], level_chunks[0]):
            for y0 in range(0, shape[1], level_chunks[1]):
                for x0 in range(0, shape[2], level_chunks[2]):
                    out = tuple(
                        slice(a, min(a + c, s)) for a, c, s in zip((z0, y0, x0), level_chunks, shape, strict=True)
                    )
                    src = tuple(slice(2 * o.start, min(2 * o.stop, n)) for o, n in zip(out, source.shape, strict=True))
                    target[out] = cast_level(downsample_mean(np.asarray(source[src])), source.dtype)
        source = target


def open_levels(spec: str) -> list[Any] | None:
    """The levels of a multiscale OME-Zarr image at `spec` as lazy zarr arrays, full resolution first;
    None when `spec` is not a Zarr store with more than one level (or names an array inside one)."""
    from axialsr.io.paths import ZARR_SUFFIXES, split_path

    path, key = split_path(spec)
    if key is not None or not str(path).lower().rstrip("/").endswith(ZARR_SUFFIXES):
        return None
    import zarr

    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception:  # a plain array, or not Zarr at all: the single-scale readers handle it
        return None
    multiscales = group.attrs.get("ome", {}).get("multiscales") or group.attrs.get("multiscales")
    if not multiscales or len(multiscales[0].get("datasets", [])) < 2:
        return None
    return [group[d["path"]] for d in multiscales[0]["datasets"]]
