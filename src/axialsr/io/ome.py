"""OME-Zarr (NGFF 0.4/0.5) metadata: the scale of a multiscale image, read and written."""

from __future__ import annotations

from typing import Any

from axialsr.io.units import NGFF_UNITS, VoxelSize, canonical_unit, convert_length


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
    """OME-Zarr 0.5 multiscales attributes on a zarr v3 `group` whose full-resolution array is `path`,
    with the voxel size (dz, dy, dx) in `unit` (None: uncalibrated, no unit) as its scale; with `levels`
    > 1, also the 2x mean-downsampled levels '1', '2', ... (see `axialsr.io.pyramid`): scale 2^l times
    level 0's, translated by (2^l - 1) / 2 voxels of level 0."""
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
    group.attrs["ome"] = {
        "version": "0.5",
        "multiscales": [
            {
                "name": "axialsr",
                "axes": [{"name": a, "type": "space", **({"unit": ngff_unit} if ngff_unit else {})} for a in "zyx"],
                "datasets": datasets,
            }
        ],
    }
