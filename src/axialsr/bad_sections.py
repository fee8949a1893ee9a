"""Missing and damaged sections: finding the measured sections that carry no information.

Serial-section and FIB-SEM stacks have sections that are lost or folded (left blank), imaged twice (a
copy of the neighbour), or ruined (a saturated or burnt-out frame, one far darker or flatter than its
neighbours). Removing them would shift every slice below, so axialsr keeps them in place and marks them
missing in the acquisition (`Acquisition.missing`): no training pair is cut from them, no fidelity term
or projection trusts them, and the restoration bridges them from their neighbours.

`find_bad_sections` looks at each section's statistics on at most `max_pixels` evenly strided pixels,
one section at a time (any stack that can be indexed along z: arrays, Dask arrays, `io.VolumeSource`).
A section is flagged, in this order, as

- `saturated`: at least `FLAT_FRACTION` of its pixels at the stack's brightest value, where sections
  typically have few there;
- `blank`: constant (its spread below `BLANK_SPREAD` of the stack's typical spread), or at least
  `FLAT_FRACTION` of its pixels at the stack's darkest value where sections typically have few there;
- `duplicate`: an exact or near-exact copy of the section before it (their rms difference below
  `DUPLICATE_FRACTION` of the stack's typical difference between neighbours);
- `intensity`: its mean further than `OUTLIER_RANGE` of the stack's intensity range (1st to 99th
  percentile) and `OUTLIER_SPREAD` robust deviations from its neighbours' median, or its contrast (spread)
  off by more than `CONTRAST_RATIO` either way from theirs.

"Typical" is the median over the stack, so a stack whose every section is like that (a fluorescence
background of zeros) flags none. The thresholds were checked for false positives on every benchmark case
(`benchmarks/bad_sections.py`): there were none; gain flicker of a few percent is far below them.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> stack = rng.normal(100, 20, size=(8, 64, 64))
>>> stack[3] = 0                                # a lost section
>>> stack[6] = stack[5]                         # imaged twice
>>> [(bad.index, bad.kind) for bad in find_bad_sections(stack)]
[(3, 'blank'), (6, 'duplicate')]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.io import VolumeSource, check_finite

BAD_SECTION_KINDS = ("blank", "saturated", "duplicate", "intensity")
BLANK_SPREAD = 0.02
FLAT_FRACTION = 0.25
DUPLICATE_FRACTION = 0.1
OUTLIER_RANGE = 0.15
OUTLIER_SPREAD = 8.0
CONTRAST_RATIO = 2.5
NEIGHBOURS = 3  # sections on each side that an intensity outlier is compared with


@dataclass(frozen=True)
class BadSection:
    """A measured section that carries no information: its index (z, from 0), what is wrong with it (one
    of `BAD_SECTION_KINDS`) and the numbers that showed it, in words."""

    index: int
    kind: str
    detail: str = ""


def _strides(shape: tuple[int, ...], max_pixels: int) -> tuple[slice, slice]:
    step = max(1, int(np.ceil(np.sqrt(shape[1] * shape[2] / max_pixels))))
    return slice(None, None, step), slice(None, None, step)


def _section(stack, k: int, rows: slice, cols: slice) -> np.ndarray:
    if isinstance(stack, VolumeSource):
        image = stack.read((slice(k, k + 1), slice(0, stack.shape[1]), slice(0, stack.shape[2])))[0]
    else:
        image = np.asarray(stack[k])
    check_finite(image, f"section {k}")
    return np.asarray(image[rows, cols], np.float64)


def _statistics(stack, max_pixels: int) -> dict[str, np.ndarray]:
    """Per-section statistics in one pass: mean, 1st/99th percentiles and their spread, minimum and maximum
    with the fraction of pixels at each, and the rms difference to the section before."""
    depth = stack.shape[0]
    rows, cols = _strides(tuple(stack.shape), max_pixels)
    names = ("mean", "spread", "low", "high", "minimum", "maximum", "at_minimum", "at_maximum", "step")
    values = {name: np.full(depth, np.nan) for name in names}
    previous = None
    for k in range(depth):
        image = _section(stack, k, rows, cols)
        low, high = np.percentile(image, [1, 99])
        values["mean"][k], values["spread"][k] = image.mean(), high - low
        values["low"][k], values["high"][k] = low, high
        values["minimum"][k], values["maximum"][k] = image.min(), image.max()
        values["at_minimum"][k] = np.mean(image == values["minimum"][k])
        values["at_maximum"][k] = np.mean(image == values["maximum"][k])
        if previous is not None:
            values["step"][k] = np.sqrt(np.mean((image - previous) ** 2))
        previous = image
    return values


def find_bad_sections(stack, max_pixels: int = 1_000_000) -> list[BadSection]:
    """The sections of a (Z, Y, X) stack that look missing or damaged, by index (see the module docstring
    for the kinds and thresholds). Reads each section once, at most `max_pixels` pixels of it."""
    depth = stack.shape[0]
    if depth < 3:
        return []
    values = _statistics(stack, max_pixels)
    darkest, brightest = float(np.min(values["minimum"])), float(np.max(values["maximum"]))
    # the fraction of a section at the stack's darkest (brightest) value: its own extreme's, where that is
    # the stack's (none in a constant stack)
    at_min = np.where(values["minimum"] == darkest, values["at_minimum"], 0.0) * (brightest > darkest)
    at_max = np.where(values["maximum"] == brightest, values["at_maximum"], 0.0) * (brightest > darkest)
    spread = values["spread"]
    typical_spread = float(np.median(spread))
    found: dict[int, BadSection] = {}

    def flag(k: int, kind: str, detail: str) -> None:
        found.setdefault(k, BadSection(k, kind, detail))

    def flat(fractions: np.ndarray, kind: str, word: str) -> None:
        usual = float(np.median(fractions))
        for k in np.flatnonzero(fractions >= max(FLAT_FRACTION, 2 * usual + 0.1)):
            flag(int(k), kind, f"{fractions[k]:.0%} of its pixels at the stack's {word} value")

    flat(at_max, "saturated", "brightest")
    for k in range(depth if typical_spread > 0 else 0):  # a stack of constant sections has no blank one
        if spread[k] <= BLANK_SPREAD * typical_spread or values["maximum"][k] == values["minimum"][k]:
            flag(k, "blank", f"constant ({values['mean'][k]:.4g})")
    flat(at_min, "blank", "darkest")
    step = values["step"]
    typical_step = float(np.nanmedian(step))
    if typical_step > 0:
        for k in np.flatnonzero(step[1:] <= DUPLICATE_FRACTION * typical_step) + 1:
            if int(k) not in found and int(k) - 1 not in found:
                flag(int(k), "duplicate", f"a copy of section {k - 1}")
    stack_range = float(np.median(values["high"]) - np.median(values["low"])) or 1.0
    good = np.array([k not in found for k in range(depth)])
    mean_off, ratio = np.zeros(depth), np.ones(depth)
    for k in range(depth):
        near = [j for j in range(k - NEIGHBOURS, k + NEIGHBOURS + 1) if 0 <= j < depth and j != k and good[j]]
        if near:
            mean_off[k] = values["mean"][k] - np.median(values["mean"][near])
            ratio[k] = (spread[k] + 1e-12) / (np.median(spread[near]) + 1e-12)
    robust = 1.4826 * float(np.median(np.abs(mean_off[good]))) if good.any() else 0.0
    for k in np.flatnonzero(good):
        if abs(mean_off[k]) > max(OUTLIER_RANGE * stack_range, OUTLIER_SPREAD * robust):
            word = "darker" if mean_off[k] < 0 else "brighter"
            flag(int(k), "intensity", f"{abs(mean_off[k]) / stack_range:.0%} of the range {word} than its neighbours")
        elif not 1 / CONTRAST_RATIO <= ratio[k] <= CONTRAST_RATIO:
            flag(int(k), "intensity", f"{ratio[k]:.2g}x the contrast of its neighbours")
    return [found[k] for k in sorted(found)]


def parse_bad_sections(text: str | Sequence[int] | None) -> str | tuple[int, ...]:
    """What users write for the bad sections: 'auto' (find them), 'none' (none; no search), or indices
    '14,27' (ranges '14-16' too). Returns 'auto', or the indices (empty for 'none').

    Examples
    --------
    >>> parse_bad_sections("auto"), parse_bad_sections("none"), parse_bad_sections("3, 7-9")
    ('auto', (), (3, 7, 8, 9))
    """
    if text is None:
        return ()
    if not isinstance(text, str):
        indices = tuple(int(k) for k in text)
    else:
        word = text.strip().lower()
        if word == "auto":
            return "auto"
        if word in ("none", ""):
            return ()
        indices = []
        try:
            for part in word.split(","):
                first, _, last = part.strip().partition("-")
                indices.extend(range(int(first), int(last or first) + 1))
        except ValueError:
            raise AxialSRError(
                f"bad sections must be 'auto', 'none' or indices like '14,27' or '14-16', got '{text}'",
                setting="bad_sections",
            ) from None
        indices = tuple(indices)
    if any(k < 0 for k in indices):
        raise AxialSRError(f"a bad section's index must be >= 0, got {min(indices)}", setting="bad_sections")
    return tuple(sorted(set(indices)))


def describe_bad_sections(found: Sequence[BadSection]) -> str:
    """One line naming the bad sections and what is wrong with them.

    Examples
    --------
    >>> print(describe_bad_sections([BadSection(14, "blank"), BadSection(27, "duplicate", "a copy of section 26")]))
    sections 14, 27 look missing or damaged (14 blank; 27 duplicate: a copy of section 26); they are restored ...
    """
    if not found:
        return "no section looks missing or damaged"
    names = ", ".join(str(b.index) for b in found)
    what = "; ".join(f"{b.index} {b.kind}" + (f": {b.detail}" if b.kind == "duplicate" else "") for b in found)
    noun = "section" if len(found) == 1 else "sections"
    verb = "looks" if len(found) == 1 else "look"
    restored = "it is restored from its" if len(found) == 1 else "they are restored from their"
    return f"{noun} {names} {verb} missing or damaged ({what}); {restored} neighbours"
