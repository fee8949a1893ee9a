"""Robust intensity normalisation: input units <-> the [-1, 1] space the prior and the INR work in."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Normalization:
    """Affine map sending the `low` percentile to -1 and the `high` percentile to +1 (input units)."""

    low: float
    high: float

    @classmethod
    def fit(cls, volume: np.ndarray, percentiles: tuple[float, float] = (0.1, 99.9)) -> Normalization:
        """Fit on a volume from its percentiles (default 0.1 / 99.9), on a subsample for big volumes."""
        flat = np.asarray(volume).reshape(-1)
        if flat.size > 4_000_000:
            flat = flat[:: flat.size // 4_000_000]
        low, high = np.percentile(flat.astype(np.float64), percentiles)
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


def cast_like(values: np.ndarray, dtype: np.dtype | str) -> np.ndarray:
    """Cast float values to `dtype`, rounding and clipping to the integer range where needed."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return values > 0.5
    return values.astype(dtype)
