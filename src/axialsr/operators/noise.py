"""How rough a measured section is beyond what its lateral training pairs show: the sections' own noise.

A measured section is one image: its detector noise is that of one XY image, and every section has its own.
The degraded inputs of the lateral pairs average s rows of an XY image, which averages that noise away
(by up to s in variance). `section_noise` estimates the noise of one XY image from its finest scale (the
median absolute diagonal Haar detail, Donoho's estimator, robust to edges); `LateralPairs` gives the degraded
inputs what they lack of it, so that the regressor meets in training the noise it meets in the real planes.
"""

from __future__ import annotations

import numpy as np


def section_noise(image: np.ndarray) -> float:
    """Standard deviation of white noise in a 2D image (input units), from the median absolute diagonal
    Haar detail over 2x2 blocks (its value is sigma for white noise; edges and texture raise the median
    little).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> round(section_noise(rng.normal(0, 8, (256, 256))), 0)
    8.0
    """
    img = np.asarray(image, np.float64)
    h, w = img.shape[-2] // 2 * 2, img.shape[-1] // 2 * 2
    a, b = img[..., 0:h:2, 0:w:2], img[..., 1:h:2, 0:w:2]
    c, d = img[..., 0:h:2, 1:w:2], img[..., 1:h:2, 1:w:2]
    detail = (a - b - c + d) / 2
    return float(np.median(np.abs(detail)) / 0.6745)


def stack_noise(volume: np.ndarray, samples: int = 16) -> float:
    """The median `section_noise` of up to `samples` XY slices of a (Z, Y, X) stack, evenly spaced."""
    picks = np.unique(np.linspace(0, volume.shape[0] - 1, min(samples, volume.shape[0])).round().astype(int))
    return float(np.median([section_noise(volume[k]) for k in picks]))
