"""The acquisition model A: how a microscope turns an isotropic volume into anisotropic measured slices.

Geometry (shared by every part of axialsr): the isotropic grid has z spacing 1 (the lateral pixel),
voxel i covering the interval [i, i + 1). Measured slice k is the slab [k s, (k + 1) s) for the axial
factor s = dz / dx (any real s >= 1), centred at (k + 1/2) s. A is linear along z, so it is a
(Z_lr, Z_hr) weight matrix whose rows sum to one:

- `average`  (EM sections, FIB-SEM slabs): the mean of the volume over the slab (exact voxel overlaps).
- `gaussian` (light microscopy): a Gaussian axial PSF of the given FWHM (in isotropic voxels) centred
  on the slab, integrated over each voxel.
- `subsample`: point sampling at the slab centre (linear interpolation between voxel centres).

`axialsr.operators.measurement` turns these weights into the operator every consumer uses: A and the
projection onto the measurements, in numpy and torch (`measurement_operator`, `simulate`).

The acquisition is also the one place that knows which sections exist: `missing` lists the measured
sections that carry no measurement (lost, blank, duplicated or damaged ones; see `axialsr.operators.bad_sections`).
Every consumer reads it from here: training pairs skip them, fidelity terms and the projection onto the
measurements leave them out, and restorations start from the stack with them bridged from their
neighbours (`fill_missing`). Sections that are kept but off in brightness or contrast (a charging or
flickering frame) have `corrections`, a gain and offset that match them to their neighbours, applied to
the stack before anything trains or restores (`correct`; `measurements` does both).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from axialsr.errors import AxialSRError

ACQUISITION_MODELS = ("average", "gaussian", "subsample")


@dataclass(frozen=True)
class Acquisition:
    """Axial acquisition model: factor s = dz/dx >= 1, model name, Gaussian FWHM (isotropic voxels;
    defaults to s), the box width of the `average` model (isotropic voxels; defaults to s: slabs that
    tile z; narrower boxes describe every K-th slab of a finer stack, as `validate --scheme holdout` needs)
    the indices of the measured sections that are `missing` (unmeasured: no fidelity, no training), and the
    `corrections` (index, gain, offset) of sections kept but off in brightness or contrast (see `correct`).

    Examples
    --------
    >>> acq = Acquisition(4, missing=(2,))
    >>> acq.present(5).tolist()
    [True, True, False, True, True]
    >>> stack = np.arange(5.0)[:, None, None] * np.ones((5, 1, 1))
    >>> acq.fill_missing(stack)[:, 0, 0].tolist()      # bridged from its neighbours
    [0.0, 1.0, 2.0, 3.0, 4.0]
    >>> acq.within(1, 4).missing                        # a block's view of the same sections
    (1,)
    >>> Acquisition(4, corrections=((1, 2.0, -1.0),)).correct(stack)[:, 0, 0].tolist()   # matched, kept
    [0.0, 1.0, 2.0, 3.0, 4.0]
    """

    factor: float
    model: str = "average"
    fwhm: float | None = None
    width: float | None = None
    missing: tuple[int, ...] = ()
    corrections: tuple[tuple[int, float, float], ...] = ()

    def __post_init__(self) -> None:
        if not (isinstance(self.factor, (int, float)) and math.isfinite(self.factor)) or self.factor < 1:
            raise AxialSRError(f"the axial factor must be a number >= 1, got {self.factor}")
        if self.model not in ACQUISITION_MODELS:
            raise AxialSRError(f"unknown acquisition model '{self.model}'; choose one of {ACQUISITION_MODELS}")
        if self.fwhm is not None and not self.fwhm > 0:
            raise AxialSRError(f"the Gaussian FWHM must be > 0, got {self.fwhm}")
        if self.width is not None and not 0 < self.width <= self.factor:
            raise AxialSRError(f"the slab width must be in (0, s], got {self.width}")
        missing = tuple(sorted({int(k) for k in self.missing}))
        if missing and missing[0] < 0:
            raise AxialSRError(f"a missing section's index must be >= 0, got {missing[0]}")
        object.__setattr__(self, "missing", missing)
        corrections = tuple(sorted((int(k), float(g), float(o)) for k, g, o in self.corrections))
        for k, gain, offset in corrections:
            if k < 0 or not (math.isfinite(gain) and gain > 0 and math.isfinite(offset)):
                raise AxialSRError(f"a section's correction needs an index >= 0 and a gain > 0: {(k, gain, offset)}")
        if len({k for k, _, _ in corrections}) < len(corrections):
            raise AxialSRError("a section is corrected twice", setting="bad_sections")
        object.__setattr__(self, "corrections", corrections)

    def present(self, depth_measured: int) -> np.ndarray:
        """Boolean mask of the measured sections that exist (not `missing`) in a stack of `depth_measured`;
        AxialSRError when a missing index is outside the stack or no section is left."""
        return present_sections(self.missing, depth_measured)

    def fill_missing(self, measured: np.ndarray) -> np.ndarray:
        """The stack (Z_lr, ...) with its missing sections bridged from their neighbours: linear along z
        between the nearest sections that exist on each side, the nearest one's copy at the ends. Returns
        `measured` itself when nothing is missing, else a float32 copy."""
        if not self.missing:
            return measured
        return bridge_sections(measured, ~self.present(len(measured)))

    def correct(self, measured: np.ndarray) -> np.ndarray:
        """The stack (Z_lr, ...) with its `corrections` applied (section k becomes `section * gain + offset`,
        input units: a section off in brightness or contrast matched to its neighbours). Returns `measured`
        itself when there are none, else a float32 copy."""
        if not self.corrections:
            return measured
        out = np.array(measured, dtype=np.float32, copy=True)
        for k, gain, offset in self.corrections:
            if k >= len(out):
                raise AxialSRError(
                    f"corrected section {k} is outside the stack (sections 0-{len(out) - 1})", setting="bad_sections"
                )
            out[k] = out[k] * gain + offset
        return out

    def measurements(self, measured: np.ndarray) -> np.ndarray:
        """The stack as the methods use it: corrected (`correct`), then its missing sections bridged
        (`fill_missing`). Returns `measured` itself when neither applies, else a float32 copy."""
        return self.fill_missing(self.correct(measured))

    def without_missing(self) -> Acquisition:
        """The same acquisition with every section measured (for a copy that measures every slab, or an
        axis other than z)."""
        return replace(self, missing=())

    def coarser(self, k: float, *, missing: tuple[int, ...] = (), every_kth: bool = False) -> Acquisition:
        """The same model at `k` times the factor, with the given sections `missing`: sections k times as
        thick, or (`every_kth`) the same sections with only every k-th of them kept (the box keeps the
        slab's width, the Gaussian its FWHM).

        Examples
        --------
        >>> Acquisition(4).coarser(2).factor, Acquisition(4).coarser(3, every_kth=True).width
        (8, 4)
        """
        if not every_kth:
            return Acquisition(k * self.factor, self.model, self.fwhm, missing=missing)
        width = self.factor if self.model == "average" else None
        fwhm = (self.fwhm or self.factor) if self.model == "gaussian" else None
        return Acquisition(k * self.factor, self.model, fwhm, width, missing)

    def as_corrected(self) -> Acquisition:
        """The same acquisition for a stack that `correct` has already corrected (no corrections left)."""
        return replace(self, corrections=())

    def within(self, start: int, stop: int) -> Acquisition:
        """The same acquisition for the measured sections [start, stop) of the stack (a block's view):
        its missing and corrected sections renumbered from `start`."""
        inside = tuple(k - start for k in self.missing if start <= k < stop)
        corrected = tuple((k - start, g, o) for k, g, o in self.corrections if start <= k < stop)
        return replace(self, missing=inside, corrections=corrected)

    @property
    def sigma(self) -> float:
        """Standard deviation of the Gaussian PSF in isotropic voxels."""
        return (self.fwhm if self.fwhm is not None else self.factor) / (2.0 * math.sqrt(2.0 * math.log(2.0)))

    def measured_depth(self, depth_iso: int) -> int:
        """Number of whole slabs that fit in an isotropic volume of `depth_iso` slices."""
        return int(math.floor(depth_iso / self.factor + 1e-9))

    def output_depth(self, depth_measured: int) -> int:
        """Number of isotropic slices covering `depth_measured` slabs (round(Z_lr * s))."""
        return int(round(depth_measured * self.factor))

    def slab_centers(self, depth_measured: int) -> np.ndarray:
        """Centres (k + 1/2) s of the measured slabs, in isotropic-grid coordinates."""
        return (np.arange(depth_measured) + 0.5) * self.factor

    def measured_slices(self, depth_measured: int) -> np.ndarray:
        """Index of the isotropic slice that holds each slab's centre (the 'measured depths')."""
        return np.floor(self.slab_centers(depth_measured)).astype(int)

    def weights(self, depth_iso: int, depth_measured: int | None = None) -> np.ndarray:
        """The model's (Z_lr, Z_hr) float64 weights along z (rows sum to 1), from which
        `measurement.measurement_operator` makes A and its projection."""
        s = float(self.factor)
        z_lr = self.measured_depth(depth_iso) if depth_measured is None else depth_measured
        if z_lr < 1:
            raise AxialSRError(f"a volume of {depth_iso} slices holds no whole slab at factor {s}")
        lo = np.arange(depth_iso, dtype=np.float64)[None, :]
        hi = lo + 1.0
        centers = self.slab_centers(z_lr)[:, None]
        if self.model == "average":
            half = (self.width if self.width is not None else s) / 2
            start, stop = centers - half, centers + half
            weights = np.clip(np.minimum(hi, stop) - np.maximum(lo, start), 0.0, None)
        elif self.model == "gaussian":
            scale = self.sigma * math.sqrt(2.0)
            erf = np.vectorize(math.erf)
            weights = 0.5 * (erf((hi - centers) / scale) - erf((lo - centers) / scale))
            weights[weights < 1e-6] = 0.0
        else:
            pos = np.clip(centers[:, 0] - 0.5, 0, depth_iso - 1)
            left = np.floor(pos).astype(int)
            right = np.minimum(left + 1, depth_iso - 1)
            frac = pos - left
            weights = np.zeros((z_lr, depth_iso))
            rows = np.arange(z_lr)
            np.add.at(weights, (rows, left), 1.0 - frac)
            np.add.at(weights, (rows, right), frac)
        sums = weights.sum(axis=1, keepdims=True)
        if np.any(sums <= 0):
            raise AxialSRError("acquisition model has a slab outside the volume")
        return weights / sums


def present_sections(missing: tuple[int, ...], depth_measured: int) -> np.ndarray:
    """Boolean mask of the sections of a stack of `depth_measured` that are not among the sorted `missing`
    ones; AxialSRError when one of those is outside the stack or none is left.

    Examples
    --------
    >>> present_sections((1,), 3).tolist()
    [True, False, True]
    """
    if missing and missing[-1] >= depth_measured:
        raise AxialSRError(
            f"bad section {missing[-1]} is outside the stack (sections 0-{depth_measured - 1})",
            setting="bad_sections",
        )
    mask = np.ones(depth_measured, dtype=bool)
    mask[list(missing)] = False
    if not mask.any():
        raise AxialSRError("every section is marked bad: nothing is left to restore from", setting="bad_sections")
    return mask


def bridge_sections(stack: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """A float32 copy of `stack` (sections along axis 0) with the sections where `missing` is True bridged
    from their neighbours: linear between the nearest sections that are not missing, the nearest one's
    copy at the ends (the stack as it is when every section would be missing).

    Examples
    --------
    >>> bridge_sections(np.arange(4.0)[:, None] ** 2, np.array([False, True, True, False]))[:, 0].tolist()
    [0.0, 3.0, 6.0, 9.0]
    """
    kept = np.flatnonzero(~np.asarray(missing, bool))
    out = np.array(stack, dtype=np.float32, copy=True)
    if len(kept) in (0, len(out)):
        return out
    for k in np.flatnonzero(missing):
        after = np.searchsorted(kept, k)
        if after == 0 or after == len(kept):
            out[k] = out[kept[min(after, len(kept) - 1)]]
            continue
        lo, hi = kept[after - 1], kept[after]
        t = (k - lo) / (hi - lo)
        out[k] = (1 - t) * out[lo] + t * out[hi]
    return out


def slab_period(factor: float, max_slabs: int = 1000) -> tuple[int, int] | None:
    """The smallest whole number of slabs q that spans a whole number of isotropic slices, and that number
    round(q s): the period of the slab grid on the isotropic grid (None when q would exceed `max_slabs`).

    Examples
    --------
    >>> slab_period(4), slab_period(2.5), slab_period(6.4)
    ((1, 4), (2, 5), (5, 32))
    """
    for q in range(1, max_slabs + 1):
        if abs(q * factor - round(q * factor)) < 1e-6:
            return q, int(round(q * factor))
    return None
