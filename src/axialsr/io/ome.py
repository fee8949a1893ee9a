"""OME-Zarr (NGFF 0.4/0.5) images: their stores and multiscales metadata, read and written.

NGFF 0.5 is a Zarr v3 group with the metadata under the `ome` attribute; NGFF 0.4, which older viewers and
libraries read (Fiji's MoBIE/BigDataViewer, neuroglancer, ome-zarr-py before 0.10), a Zarr v2 group with
'/'-separated chunk keys and the metadata under `multiscales`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from axialsr.errors import AxialSRError
from axialsr.io.units import NGFF_UNITS, VoxelSize, canonical_unit, convert_length

NGFF_VERSIONS = ("0.4", "0.5")


def check_ngff_version(version: str) -> str:
    """`version` when it is one axialsr writes ('0.4' or '0.5'), else an error naming the setting."""
    if str(version) not in NGFF_VERSIONS:
        message = f"OME-Zarr version must be one of {', '.join(NGFF_VERSIONS)}, got {version!r}"
        raise AxialSRError(message, setting="ngff_version")
    return str(version)


def create_image_group(path: str | Path, version: str = "0.5") -> Any:
    """A new, empty Zarr group at `path` in the format of NGFF `version` (v3 for 0.5, v2 for 0.4)."""
    import zarr

    zarr_format = 3 if check_ngff_version(version) == "0.5" else 2
    return zarr.open_group(str(path), mode="w", zarr_format=zarr_format)


def create_image_array(group: Any, name: str, shape: tuple[int, ...], dtype: Any, chunks: tuple[int, ...]) -> Any:
    """An array of a (Z, Y, X) image in `group`, as its NGFF version wants it: dimension names on v3,
    '/'-separated chunk keys on v2."""
    if group.metadata.zarr_format == 3:
        return group.create_array(name, shape=shape, dtype=dtype, chunks=chunks, dimension_names=("z", "y", "x"))
    return group.create_array(
        name, shape=shape, dtype=dtype, chunks=chunks, chunk_key_encoding={"name": "v2", "separator": "/"}
    )


def ome_scale(attrs: dict) -> tuple[str | None, list[float] | None, str, str | None]:
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


def write_ome_zarr_metadata(
    group: Any, voxel_size: VoxelSize, unit: str | None = "nm", path: str = "0", levels: int = 1
) -> None:
    """OME-Zarr multiscales attributes on `group` (NGFF 0.5 on a Zarr v3 group, 0.4 on a v2 one) whose
    full-resolution array is `path`, with the voxel size (dz, dy, dx) in `unit` (None: uncalibrated, no
    unit) as its scale; with `levels` > 1, also the 2x mean-downsampled levels '1', '2', ... (see
    `axialsr.io.pyramid`): scale 2^l times level 0's, translated by (2^l - 1) / 2 voxels of level 0.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> group = create_image_group(tempfile.mkdtemp() + "/v.ome.zarr", version="0.4")
    >>> create_image_array(group, "0", (2, 4, 4), np.uint8, (2, 4, 4))[...] = 0
    >>> write_ome_zarr_metadata(group, (40.0, 4.0, 4.0), "nm")
    >>> group.attrs["multiscales"][0]["version"], ome_scale(dict(group.attrs))[1]
    ('0.4', [40.0, 4.0, 4.0])
    """
    ngff_unit = NGFF_UNITS.get(canonical_unit(unit) or "")
    scale = [float(v) for v in voxel_size]
    datasets = [{"path": path, "coordinateTransformations": [{"type": "scale", "scale": scale}]}]
    for level in range(1, levels):
        factor = 2**level
        datasets.append(
            {
                "path": str(level),
                "coordinateTransformations": [
                    {"type": "scale", "scale": [float(v) * factor for v in voxel_size]},
                    {"type": "translation", "translation": [float(v) * (factor - 1) / 2 for v in voxel_size]},
                ],
            }
        )
    multiscale = {
        "name": "axialsr",
        "axes": [{"name": a, "type": "space", **({"unit": ngff_unit} if ngff_unit else {})} for a in "zyx"],
        "datasets": datasets,
    }
    if group.metadata.zarr_format == 3:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}
    else:
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
