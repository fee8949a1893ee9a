"""Missing and damaged sections: finding the measured sections that carry no information, and those off
in brightness.

Serial-section and FIB-SEM stacks have sections that are lost or folded (left blank), imaged twice (a
copy of the neighbour), or burnt out (saturated). Removing them would shift every slice below, so axialsr
keeps them in place and marks them missing in the acquisition (`Acquisition.missing`): no training pair is
cut from them, no fidelity term or projection trusts them, and the restoration bridges them from their
neighbours. A section that is only darker, brighter or flatter than its neighbours (charging, a flickering
source) still carries its structure: it is corrected, its gain and offset matched to the trend of its
neighbours (`Acquisition.corrections`), and kept.

`find_bad_sections` looks at each section's statistics on at most `max_pixels` evenly strided pixels,
one section at a time (any stack that can be indexed along z: arrays, Dask arrays, `io.VolumeSource`).
A section is flagged, in this order, as

- `saturated`: at least `FLAT_FRACTION` of its pixels at the stack's brightest value, where sections
  typically have few there;
- `blank`: constant (its spread below `BLANK_SPREAD` of the stack's typical spread), or at least
  `FLAT_FRACTION` of its pixels at the stack's darkest value where sections typically have few there;
- `duplicate`: an exact or near-exact copy of the section before it (their rms difference below
  `DUPLICATE_FRACTION` of the stack's typical difference between neighbours);
- `intensity` (corrected, not left out): a spike in the trend of its neighbours, never a trend itself. Its
  mean departs from the median of up to `NEIGHBOURS` sections on each side, in the same direction on both
  sides, by more than `OUTLIER_RANGE` of the stack's intensity range (1st to 99th percentile) and
  `OUTLIER_SPREAD` typical changes between neighbouring sections; or its contrast (spread) departs so by more
  than `CONTRAST_RATIO`. Bleaching, a specimen entering or leaving the field and a step where the tissue
  changes depart from one side only, or in opposite directions. At the ends of a stack (one side only) the
  section must depart from that side's median and from its nearest neighbour alike, by `END_EVIDENCE`
  times as much.

"Typical" is the median over the stack, so a stack whose every section is like that (a fluorescence
background of zeros) flags none. The thresholds were checked for false positives on every benchmark case
and with intensity trends along z added to each (`synthetic.intensity_trend`), and on real EM, confocal and
light-sheet stacks (`benchmarks/bad_sections.py`): there were none.

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
EXCLUDED_KINDS = ("blank", "saturated", "duplicate", "named")  # left out; an `intensity` one is corrected
BLANK_SPREAD = 0.02
FLAT_FRACTION = 0.25
DUPLICATE_FRACTION = 0.1
OUTLIER_RANGE = 0.15
OUTLIER_SPREAD = 8.0
CONTRAST_RATIO = 2.5
NEIGHBOURS = 3  # sections on each side whose median is the trend a section is compared with
END_EVIDENCE = 2.0  # how much further a section with neighbours on one side only must depart


@dataclass(frozen=True)
class BadSection:
    """A measured section that is damaged: its index (z, from 0), what is wrong with it (one of
    `BAD_SECTION_KINDS`, or `named` by the user), the numbers that showed it, in words, and for an
    `intensity` one the `gain` and `offset` (input units) that match it to the trend of its neighbours
    (`section * gain + offset`). `excluded` sections carry no information and are left out; the others
    are corrected and kept.

    Examples
    --------
    >>> BadSection(3, "blank").excluded, BadSection(5, "intensity", gain=1.6, offset=-2.0).excluded
    (True, False)
    """

    index: int
    kind: str
    detail: str = ""
    gain: float = 1.0
    offset: float = 0.0

    @property
    def excluded(self) -> bool:
        return self.kind in EXCLUDED_KINDS


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


@dataclass(frozen=True)
class _Departure:
    """How far a value departs from the trend of its neighbours (signed; 0 where they do not agree that it
    does), the trend's value there, and whether neighbours on both sides were seen."""

    amount: float
    trend: float
    both_sides: bool


def _departure(values: np.ndarray, good: np.ndarray, k: int) -> _Departure | None:
    """A spike, not a trend: `values[k]` departs from the median of up to `NEIGHBOURS` good sections on each
    side, in the same direction on both (a step departs from one side only, a monotone change in opposite
    directions). With neighbours on one side only (the ends of a stack, or of the good sections), it must
    depart from that side's median and from its nearest neighbour alike. None without good neighbours."""
    depth = len(values)
    before = [j for j in range(k - 1, -1, -1) if good[j]][:NEIGHBOURS]
    after = [j for j in range(k + 1, depth) if good[j]][:NEIGHBOURS]
    if not before and not after:
        return None
    if before and after:
        references = (float(np.median(values[before])), float(np.median(values[after])))
        trend = 0.5 * (references[0] + references[1])
    else:
        side = before or after
        references = (float(np.median(values[side])), float(values[side[0]]))
        trend = references[0]
    offs = [values[k] - r for r in references]
    amount = 0.0 if offs[0] * offs[1] <= 0 else float(np.sign(offs[0]) * min(abs(offs[0]), abs(offs[1])))
    return _Departure(amount, trend, bool(before and after))


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

    def flag(k: int, kind: str, detail: str, gain: float = 1.0, offset: float = 0.0) -> None:
        found.setdefault(k, BadSection(k, kind, detail, gain, offset))

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
    _find_intensity_outliers(values, found, flag)
    return [found[k] for k in sorted(found)]


def _find_intensity_outliers(values: dict[str, np.ndarray], found: dict, flag) -> None:
    """Flag, with the gain and offset that match them to their neighbours' trend, the sections whose mean
    or contrast is a spike in that trend (`_departure`): the mean further than `OUTLIER_RANGE` of the
    stack's intensity range and `OUTLIER_SPREAD` typical changes between neighbours, or the contrast off by
    more than `CONTRAST_RATIO`; `END_EVIDENCE` times that with neighbours on one side only."""
    depth = len(values["mean"])
    mean, spread = values["mean"], values["spread"]
    good = np.array([k not in found for k in range(depth)])
    stack_range = float(np.median(values["high"]) - np.median(values["low"])) or 1.0
    changes = np.abs(np.diff(mean[good]))
    typical_change = 1.4826 * float(np.median(changes)) if len(changes) else 0.0
    mean_limit = max(OUTLIER_RANGE * stack_range, OUTLIER_SPREAD * typical_change)
    log_spread = np.log(np.maximum(spread, 1e-12))
    for k in np.flatnonzero(good):
        by_mean, by_contrast = _departure(mean, good, k), _departure(log_spread, good, k)
        if by_mean is None or by_contrast is None:
            continue
        evidence = 1.0 if by_mean.both_sides else END_EVIDENCE
        off_mean = abs(by_mean.amount) > evidence * mean_limit
        off_contrast = abs(by_contrast.amount) > evidence * np.log(CONTRAST_RATIO)
        if not (off_mean or off_contrast):
            continue
        gain = float(np.exp(by_contrast.trend - log_spread[k]))
        offset = float(by_mean.trend - gain * mean[k])
        if off_mean:
            word = "darker" if by_mean.amount < 0 else "brighter"
            detail = f"{abs(by_mean.amount) / stack_range:.0%} of the range {word} than its neighbours"
        else:
            detail = f"{np.exp(by_contrast.amount):.2g}x the contrast of its neighbours"
        flag(int(k), "intensity", detail, gain, offset)


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
    """One line naming the bad sections: those left out (restored from their neighbours) and those
    corrected (their gain and offset matched to their neighbours, and kept).

    Examples
    --------
    >>> print(describe_bad_sections([BadSection(14, "blank"), BadSection(27, "duplicate", "a copy of section 26")]))
    sections 14, 27 look missing or damaged (14 blank; 27 duplicate: a copy of section 26); they are left out ...
    >>> print(describe_bad_sections([BadSection(5, "intensity", "20% of the range darker than its neighbours", 1.3)]))
    section 5 is off in brightness or contrast (20% of the range darker than its neighbours); it is corrected ...
    """
    if not found:
        return "no section looks missing or damaged"
    parts = []
    excluded = [b for b in found if b.excluded]
    corrected = [b for b in found if not b.excluded]
    if excluded:
        names = ", ".join(str(b.index) for b in excluded)
        what = "; ".join(f"{b.index} {b.kind}" + (f": {b.detail}" if b.kind == "duplicate" else "") for b in excluded)
        one = len(excluded) == 1
        parts.append(
            f"{'section' if one else 'sections'} {names} {'looks' if one else 'look'} missing or damaged ({what}); "
            f"{'it is' if one else 'they are'} left out and restored from {'its' if one else 'their'} neighbours"
        )
    if corrected:
        names = ", ".join(str(b.index) for b in corrected)
        what = "; ".join((f"{b.index}: " if len(corrected) > 1 else "") + b.detail for b in corrected)
        one = len(corrected) == 1
        parts.append(
            f"{'section' if one else 'sections'} {names} {'is' if one else 'are'} off in brightness or contrast "
            f"({what}); {'it is' if one else 'they are'} corrected to match {'its' if one else 'their'} "
            "neighbours and kept"
        )
    return "; ".join(parts)
