"""Robust intensity normalisation: input units <-> the [-1, 1] space the prior and the INR work in."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from axialsr.errors import AxialSRError


@dataclass(frozen=True)
class Normalization:
    """Affine map sending the `low` percentile to -1 and the `high` percentile to +1 (input units)."""

    low: float
    high: float

    @classmethod
    def fit(
        cls, volume: Any, percentiles: tuple[float, float] = (0.1, 99.9), max_voxels: int = 4_000_000
    ) -> Normalization:
        """Fit on a (Z, Y, X) volume from its percentiles (default 0.1 / 99.9).

        `volume` is an array or anything with `shape` and `read(region)` (an `io.VolumeSource`): the fit
        reads up to 16 evenly spaced z slices, strided in y and x so that at most `max_voxels` are read.
        The sample depends only on the shape, so a volume in memory and the same volume read region by
        region (blockwise runs) get the same normalisation.

        Examples
        --------
        >>> import numpy as np
        >>> norm = Normalization.fit(np.linspace(0, 1000, 4 * 8 * 8).reshape(4, 8, 8))
        >>> round(norm.low, 1), round(norm.high, 1)
        (1.0, 999.0)
        """
        nz, ny, nx = (int(n) for n in volume.shape[-3:])
        zs = np.unique(np.linspace(0, nz - 1, min(nz, 16)).round().astype(int))
        stride = max(1, int(math.ceil(math.sqrt(len(zs) * ny * nx / max_voxels))))
        read = volume.read if hasattr(volume, "read") else (lambda region: np.asarray(volume[region]))
        samples = [read((slice(z, z + 1), slice(0, ny, stride), slice(0, nx, stride))) for z in zs]
        flat = np.concatenate([np.asarray(sample, np.float64).reshape(-1) for sample in samples])
        low, high = np.percentile(flat, percentiles)
        if not high > low:
            high = low + 1.0
        return cls(float(low), float(high))

    def forward(self, volume: np.ndarray) -> np.ndarray:
        """Input units -> normalised float32 (percentile range mapped to [-1, 1], not clipped)."""
        scale = 2.0 / (self.high - self.low)
        return ((np.asarray(volume, dtype=np.float32) - self.low) * scale - 1.0).astype(np.float32)

    def inverse(self, normalized: np.ndarray) -> np.ndarray:
        """Normalised -> input units (float32)."""
        return ((np.asarray(normalized, dtype=np.float32) + 1.0) * 0.5 * (self.high - self.low) + self.low).astype(
            np.float32
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


CLIP_WARNING_FRACTION = 0.01


def check_dtype(name: str | np.dtype) -> np.dtype:
    """The numpy dtype called `name` if axialsr can write it (integers, floats, bool), else AxialSRError."""
    try:
        dtype = np.dtype(name)
    except TypeError:
        raise AxialSRError(f"unknown dtype '{name}'; use e.g. uint8, uint16, int16, float32", "dtype") from None
    if dtype.kind not in "biuf":
        raise AxialSRError(f"cannot write dtype '{name}'; use an integer or float dtype", "dtype")
    return dtype


def cast_like(values: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """Cast float values to `dtype`, rounding and clipping to the integer range where needed; warns when
    more than 1% of the voxels are clipped (the dtype is too narrow for the data)."""
    dtype = check_dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        rounded = np.rint(values)
        clipped = np.count_nonzero((rounded < info.min) | (rounded > info.max)) / max(1, rounded.size)
        if clipped > CLIP_WARNING_FRACTION:
            warnings.warn(
                f"casting to {dtype} clips {clipped:.1%} of the voxels (values {float(np.min(values)):.4g} to "
                f"{float(np.max(values)):.4g}, {dtype} holds {info.min} to {info.max}); choose a wider output dtype",
                stacklevel=2,
            )
        return np.clip(rounded, info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return values > 0.5
    return values.astype(dtype)
