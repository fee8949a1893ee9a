"""Length units: their canonical names, conversions, and voxel sizes as users write them."""

from __future__ import annotations

import numpy as np

from axialsr.errors import AxialSRError

VoxelSize = tuple[float, float, float]


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
