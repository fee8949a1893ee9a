"""Lateral self-supervision: training pairs from the input's own XY slices, and their use on XZ/YZ planes.

The XY slices of an anisotropic stack are already at full resolution. Degrading one of their lateral
axes with the acquisition model (blur with the axial kernel, sample with the slab geometry, interpolate
back with the same cubic as the z baseline) gives an image that looks like an XZ/YZ plane of the cubic
interpolation; the measured slice is what that plane should become. Pairs keep the degraded axis as
rows (axis 0), like z in an XZ/YZ plane: rows are degraded along y, and (transposed) along x.

Where the truth is blurrier along z than along y (light microscopy: the axial PSF), sharp lateral
targets would teach a network axial detail the data do not have. `estimate_axial_blur` measures the
extra axial blur from the data, and the pairs then blur their targets (and inputs) along rows by it.

`restore_planes` runs a regressor (a `lateral` prior) over every XZ and YZ plane of a volume, with
flips as test-time augmentation, and averages the views.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from tqdm.auto import tqdm

from axialsr.errors import AxialSRError
from axialsr.evaluation.metrics import power_spectrum, profile_segments
from axialsr.interrupts import report_step
from axialsr.operators.acquisition import Acquisition, bridge_sections, slab_period
from axialsr.operators.interpolation import interpolation_matrix
from axialsr.operators.measurement import measurement_operator
from axialsr.settings import FLIPS, PLANES, flips_setting


def interpolation_back(rows: int, acquisition: Acquisition) -> np.ndarray:
    """(R_out, R_lr) float32 matrix: cubic interpolation of the floor(rows / s) measured samples of an axis
    of `rows` pixels back onto the output grid (R_out = round(floor(rows / s) s) rows, slab-aligned)."""
    depth_measured = acquisition.measured_depth(rows)
    out = acquisition.output_depth(depth_measured)
    return interpolation_matrix(depth_measured, out, acquisition.factor, "cubic").astype(np.float32)


def degradation_matrix(rows: int, acquisition: Acquisition) -> np.ndarray:
    """(R_out, rows) float32 matrix: the acquisition model along an axis of `rows` pixels, then cubic
    interpolation back onto the output grid (`interpolation_back`)."""
    return (interpolation_back(rows, acquisition) @ measurement_operator(acquisition, rows).matrix).astype(np.float32)


def blur_rows(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur along axis -2 (rows) with `sigma` pixels (0: unchanged)."""
    if sigma <= 0:
        return images
    return ndimage.gaussian_filter1d(images, sigma, axis=-2, mode="reflect").astype(np.float32)


class LateralPairs:
    """(degraded, target) image pairs from the XY slices of a normalised (Z, Y, X) volume.

    Each slice gives two pairs: degraded along y (rows = y) and degraded along x (rows = x). Slices are
    taken evenly along z up to `max_pixels` in all. Calling it draws a batch of random patches with
    random flips of both axes. `aligned`: patch rows start on slab boundaries (multiples of the rows that
    hold a whole number of slabs), so that the network knows where the slabs are, as in the planes it
    restores (with the slab phase); otherwise on any row, so that it cannot tell (without it).

    A real section is one image, cut and imaged on its own; a degraded row averages s rows of one image.
    So that the degraded rows look like the measured rows of real XZ/YZ planes, each measured row of a
    degraded patch can get, drawn anew for every patch: white noise of `noise` (normalised units: the
    section noise that the average of s rows removed), a shift along the row of `jitter` pixels (standard
    deviation; sections are registered to a fraction of a pixel) and a gain and offset of `flicker`
    (standard deviation, normalised units; sections differ in brightness). The targets stay as measured.
    Where the stack has missing sections, which the restoration bridges from their neighbours, each measured
    row can also be missing with probability `gaps` and bridged the same way (linear between the nearest
    rows that are not), so that the network learns to restore beside a bridged section, and across it.

    Examples
    --------
    >>> volume = np.random.default_rng(0).normal(size=(4, 40, 40)).astype(np.float32)
    >>> pairs = LateralPairs(volume, Acquisition(4), patch=16, noise=0.1, jitter=0.5)
    >>> degraded, target = pairs(np.random.default_rng(0), 3)
    >>> degraded.shape, target.shape
    ((3, 16, 16), (3, 16, 16))
    """

    def __init__(
        self,
        volume: np.ndarray,
        acquisition: Acquisition,
        patch: int,
        *,
        axial_blur: float = 0.0,
        max_pixels: int = 16_000_000,
        noise: float = 0.0,
        jitter: float = 0.0,
        flicker: float = 0.0,
        gaps: float = 0.0,
        aligned: bool = True,
    ) -> None:
        z_n, y_n, x_n = volume.shape
        if min(y_n, x_n) < patch:
            raise AxialSRError(f"XY size {(y_n, x_n)} is smaller than the patch {patch}; use a smaller patch")
        if min(noise, jitter, flicker) < 0:
            raise AxialSRError("the noise, jitter and flicker of the lateral pairs must be >= 0")
        if not 0 <= gaps < 1:
            raise AxialSRError(f"the probability of a missing row must be in [0, 1), got {gaps}")
        self.gaps = float(gaps)
        self.patch = patch
        self.acquisition = acquisition
        self.noise, self.jitter, self.flicker = float(noise), float(jitter), float(flicker)
        keep = max(1, min(z_n, max_pixels // max(1, 4 * y_n * x_n)))
        slices = np.asarray(volume[np.unique(np.linspace(0, z_n - 1, keep).round().astype(int))], np.float32)
        self.inputs: list[np.ndarray] = []
        self.measured: list[np.ndarray] = []
        self.back: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        for stack in (slices, slices.transpose(0, 2, 1)):  # rows = y, then rows = x
            sharp = blur_rows(stack, axial_blur)
            back = interpolation_back(stack.shape[1], acquisition)
            measured = measurement_operator(acquisition, stack.shape[1]).measure(sharp, dim=1)
            self.measured.append(measured)
            self.back.append(back)
            self.inputs.append(np.einsum("am,zmc->zac", back, measured).astype(np.float32))
            self.targets.append(np.ascontiguousarray(sharp[:, : back.shape[0]]))
        rows = min(t.shape[1] for t in self.targets)
        if rows < patch:
            raise AxialSRError(f"too few whole slabs in {min(y_n, x_n)} pixels for a {patch}-pixel patch")
        period = (slab_period(acquisition.factor) or (1, 1))[1]  # rows of a whole number of slabs
        self.row_step = period if aligned and period <= patch // 2 else 1
        # a flipped patch keeps its slab boundaries on the period
        self.flip_rows = not aligned or patch % period == 0

    @property
    def augmented(self) -> bool:
        """Whether the measured rows get noise, jitter, flicker or gaps."""
        return max(self.noise, self.jitter, self.flicker, self.gaps) > 0

    def _section_like(self, rng: np.random.Generator, which: int, k: int, r0: int, c0: int) -> np.ndarray:
        """The degraded patch at (r0, c0) of slice k, its measured rows given noise, jitter and flicker."""
        p = self.patch
        back = self.back[which][r0 : r0 + p]
        used = np.flatnonzero(np.abs(back).sum(axis=0))
        measured = self.measured[which][k, used]
        cols = np.arange(c0, c0 + p, dtype=np.float64)
        rows = np.empty((len(used), p), np.float32)
        for i, row in enumerate(measured):
            shift = rng.normal(0.0, self.jitter) if self.jitter else 0.0
            rows[i] = np.interp(cols + shift, np.arange(row.size), row) if shift else row[c0 : c0 + p]
        if self.flicker:
            rows = rows * (1 + self.flicker * rng.standard_normal((len(used), 1)))
            rows = rows + self.flicker * rng.standard_normal((len(used), 1))
        if self.noise:
            rows = rows + self.noise * rng.standard_normal(rows.shape)
        if self.gaps:
            rows = bridge_sections(rows, rng.random(len(rows)) < self.gaps)
        return (back[:, used] @ rows).astype(np.float32)

    def __call__(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` random (degraded, target) patches, each (n, P, P) float32."""
        p = self.patch
        degraded = np.empty((n, p, p), np.float32)
        target = np.empty((n, p, p), np.float32)
        for i in range(n):
            which = int(rng.integers(len(self.inputs)))
            src, tgt = self.inputs[which], self.targets[which]
            k = int(rng.integers(src.shape[0]))
            r0 = int(rng.integers(0, (src.shape[1] - p) // self.row_step + 1)) * self.row_step
            c0 = int(rng.integers(0, src.shape[2] - p + 1))
            augmented = self.augmented
            a = self._section_like(rng, which, k, r0, c0) if augmented else src[k, r0 : r0 + p, c0 : c0 + p]
            b = tgt[k, r0 : r0 + p, c0 : c0 + p]
            if rng.integers(2) and self.flip_rows:
                a, b = a[::-1], b[::-1]
            if rng.integers(2):
                a, b = a[:, ::-1], b[:, ::-1]
            degraded[i], target[i] = a, b
        return degraded, target


class SectionPairs:
    """(input, sections, valid) triples from the XZ and YZ planes of the measured stack itself.

    The mean of two adjacent sections is what one section twice as thick measures (exactly, under the
    `average` model). Averaging the sections in pairs and the pixels in `bin` x `bin` blocks gives planes
    measured at factor 2s / bin: with `bin` 2, planes measured at the stack's own factor s (at twice its
    pixel), like the planes a restoration sees; with `bin` 1, planes measured at 2s. Interpolated back (cubic,
    as the z baseline) onto their output grid, such planes are the inputs; the measured sections (binned
    alike) are what the average of each section's output rows should be. These planes are real axial
    planes: their section noise, jitter, flicker, profile and the way membranes cross sections are the
    stack's own, which lateral pairs cannot show.

    Patches start on a section pair's boundary (multiples of the period of the input's factor), cover
    `rows` output rows (`patch`, or fewer where the planes are shorter: the largest multiple of `multiple`)
    and `patch` columns, and hold `sections` whole measured sections (an even number). `valid` is False for
    a pair that holds a missing section (bridged in the input, no target). Each averaged row gets white noise
    of `noise` (normalised units), drawn anew per patch.

    Examples
    --------
    >>> stack = np.random.default_rng(0).normal(size=(16, 80, 80)).astype(np.float32)
    >>> pairs = SectionPairs(stack, Acquisition(4), patch=32)
    >>> inputs, sections, valid = pairs(np.random.default_rng(0), 3)
    >>> inputs.shape, sections.shape, valid.shape
    ((3, 32, 32), (3, 16, 32), (3, 16))
    """

    def __init__(
        self,
        measured: np.ndarray,
        acquisition: Acquisition,
        patch: int,
        *,
        noise: float = 0.0,
        bin: int = 2,
        max_pixels: int = 16_000_000,
        multiple: int = 4,
    ) -> None:
        factor = float(acquisition.factor)
        coarse_factor, fine_factor = 2 * factor / bin, factor / bin
        period = slab_period(coarse_factor)
        if period is None or coarse_factor < 1:
            raise AxialSRError(f"the sections at factor {factor} cannot be paired on a slab grid")
        self.patch, self.noise = patch, float(noise)
        z_n = measured.shape[0]
        pairs = z_n // 2
        present = acquisition.present(z_n)[: 2 * pairs]
        stack = bin_xy(acquisition.fill_missing(measured)[: 2 * pairs].astype(np.float32), bin)
        _, y_n, x_n = stack.shape
        coarse = stack.reshape(pairs, 2, y_n, x_n).mean(axis=1)
        coarse_acquisition = Acquisition(coarse_factor)
        depth = coarse_acquisition.output_depth(pairs)
        self.rows = min(patch, depth // multiple * multiple)
        self.target_acquisition = Acquisition(fine_factor)
        self.sections = 2 * (self.target_acquisition.measured_depth(self.rows) // 2)
        if pairs < 2 or self.sections < 2 or min(y_n, x_n) < patch:
            raise AxialSRError(f"too few sections ({z_n}) or pixels for patches of section pairs")
        self.back = interpolation_matrix(pairs, depth, coarse_factor, "cubic").astype(np.float32)
        self.starts = np.arange(0, depth - self.rows + 1, period[1])
        self.valid = np.repeat(present.reshape(pairs, 2).all(axis=1), 2)
        keep = max(1, min(max(y_n, x_n), max_pixels // max(1, 4 * z_n * max(y_n, x_n))))
        self.coarse, self.fine = [], []
        for axis, size in ((1, y_n), (2, x_n)):  # XZ planes (one per y), then YZ planes (one per x)
            chosen = np.unique(np.linspace(0, size - 1, min(keep, size)).round().astype(int))
            self.coarse.append(np.ascontiguousarray(np.moveaxis(np.take(coarse, chosen, axis), axis, 0)))
            self.fine.append(np.ascontiguousarray(np.moveaxis(np.take(stack, chosen, axis), axis, 0)))

    def matrix(self) -> np.ndarray:
        """(sections, rows) float32: the acquisition on a patch's rows, for the sections it holds whole."""
        return measurement_operator(self.target_acquisition, self.rows).matrix[: self.sections].astype(np.float32)

    def __call__(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`n` random (input (n, rows, P), sections (n, S, P), valid (n, S)) patches, flipped left-right at
        random."""
        p, r, s = self.patch, self.rows, self.sections
        inputs = np.empty((n, r, p), np.float32)
        targets = np.empty((n, s, p), np.float32)
        valid = np.empty((n, s), bool)
        for i in range(n):
            which = int(rng.integers(2))
            coarse, fine = self.coarse[which], self.fine[which]
            k = int(rng.integers(len(coarse)))
            r0 = int(rng.choice(self.starts))
            c0 = int(rng.integers(0, coarse.shape[2] - p + 1))
            back = self.back[r0 : r0 + r]
            used = np.flatnonzero(np.abs(back).sum(axis=0))
            rows = coarse[k][used, c0 : c0 + p]
            if self.noise:
                rows = rows + self.noise * rng.standard_normal(rows.shape).astype(np.float32)
            first = int(round(r0 / self.target_acquisition.factor))
            a = back[:, used] @ rows
            b = fine[k][first : first + s, c0 : c0 + p]
            if rng.integers(2):
                a, b = a[:, ::-1], b[:, ::-1]
            inputs[i], targets[i], valid[i] = a, b, self.valid[first : first + s]
        return inputs, targets, valid


def bin_xy(volume: np.ndarray, factor: int) -> np.ndarray:
    """Average-pool a (Z, Y, X) volume by `factor` in Y and X (cropping the remainder)."""
    if factor == 1:
        return volume
    z, y, x = volume.shape
    y2, x2 = y // factor * factor, x // factor * factor
    v = volume[:, :y2, :x2].reshape(z, y2 // factor, factor, x2 // factor, factor)
    return v.mean(axis=(2, 4)).astype(volume.dtype)


SPARSE_MEDIAN = 0.3  # of the 1st-99th percentile range: fluorescence 0.04-0.22, EM 0.47-0.76 (real CREMI)


def is_sparse(stack: np.ndarray, max_voxels: int = 4_000_000) -> bool:
    """Whether a stack holds sparse bright objects on a dark background, as fluorescence does, rather than
    structure that fills its sections, as EM does: its median lies in the lowest `SPARSE_MEDIAN` of its
    1st-99th percentile range (on at most `max_voxels` evenly strided voxels).

    Examples
    --------
    >>> from axialsr.evaluation.synthetic import em_neuropil, fluorescence_nuclei
    >>> is_sparse(fluorescence_nuclei((16, 64, 64), seed=0)), is_sparse(em_neuropil((16, 64, 64), seed=0))
    (True, False)
    """
    flat = np.asarray(stack).reshape(-1)
    values = flat[:: max(1, flat.size // max_voxels)].astype(np.float64)
    low, median, high = np.percentile(values, [1, 50, 99])
    return bool(high > low and (median - low) / (high - low) < SPARSE_MEDIAN)


def axial_lateral_spectra(measured: np.ndarray, factor: float, length: int = 32) -> tuple[np.ndarray, ...]:
    """(frequencies in cycles per slab, axial power, lateral power) of a measured stack (Z_lr, Y, X).

    The stack is averaged over blocks of round(s) pixels along y, which makes its y axis sampled like z
    (a box of one slab, then one sample a slab). For a truth that is isotropic, its profiles along z and
    along y then have the same spectrum; any difference is anisotropy of the truth (an axial PSF, or
    structures aligned with an axis)."""
    z_n = measured.shape[0]
    b = max(1, int(round(factor)))
    y_bins = measured.shape[1] // b
    binned = np.asarray(measured[:, : y_bins * b], np.float64).reshape(z_n, y_bins, b, -1).mean(axis=2)
    length = min(length, z_n, y_bins)
    if length < 8:
        raise AxialSRError(f"too few slabs ({z_n}) or binned rows ({y_bins}) to compare axial and lateral spectra")
    axial = profile_segments(np.moveaxis(binned, 0, -1).reshape(-1, z_n), length)
    lateral = profile_segments(np.moveaxis(binned, 1, -1).reshape(-1, y_bins), length)
    freqs = np.fft.rfftfreq(length)
    return freqs, power_spectrum(axial), power_spectrum(lateral)


# A blur is told from the data only where it attenuates the band's top frequency (0.4 cycles a slab) by half
# or more, i.e. sigma >= 0.33 s: a smaller one is within what tissue anisotropy and sampling do to the
# spectra (measured on synthetic EM at x10: 0 to 1.9 px fitted for no blur at all, seed to seed).
RESOLVABLE_BLUR = 0.33  # in slabs
BLUR_BLOCKS = 4  # column blocks whose separate fits give the estimate's spread


@dataclass(frozen=True)
class AxialBlurEstimate:
    """The extra axial blur of a stack: `fitted` (sigma, output pixels, the fit over the whole stack),
    `spread` (standard error of that fit, from separate fits of `BLUR_BLOCKS` column blocks), `smallest`
    (the least blur the measurement can show at this factor, RESOLVABLE_BLUR * s), `resolved` (the fit is
    above `smallest` by more than twice its spread) and `sigma`, what is used: the fit where resolved,
    else 0 ('cannot tell')."""

    fitted: float
    spread: float
    smallest: float
    resolved: bool

    @property
    def sigma(self) -> float:
        return self.fitted if self.resolved else 0.0


def _fit_blur(measured: np.ndarray, factor: float, band: tuple[float, float]) -> float | None:
    try:
        freqs, axial, lateral = axial_lateral_spectra(measured, factor)
    except AxialSRError:
        return None
    use = (freqs >= band[0]) & (freqs <= band[1]) & (axial > 0) & (lateral > 0)
    if use.sum() < 2:
        return None
    x = (2 * math.pi * freqs[use] / factor) ** 2
    slope, _ = np.polyfit(x, np.log(axial[use] / lateral[use]), 1)
    return float(math.sqrt(max(0.0, -slope)))


def axial_blur_estimate(
    measured: np.ndarray, acquisition: Acquisition, band: tuple[float, float] = (0.1, 0.4)
) -> AxialBlurEstimate:
    """Extra axial Gaussian blur of the truth (sigma in output pixels; 0 for an isotropic truth), with how
    sure the data make it (see `AxialBlurEstimate`).

    Fits P_axial(f) / P_lateral(f) = c exp(-(2 pi f sigma / s)^2) over the band of frequencies `band`
    (cycles per slab) that the measurement resolves, on the spectra of `axial_lateral_spectra`, for the
    whole stack and for each of `BLUR_BLOCKS` blocks of columns. A stack too small to compare spectra
    (fewer than 8 slabs, or 8 slab-wide rows) cannot tell.

    Examples
    --------
    >>> from axialsr.evaluation.synthetic import fluorescence_nuclei
    >>> from axialsr.operators.measurement import simulate
    >>> from scipy import ndimage
    >>> truth = ndimage.gaussian_filter1d(fluorescence_nuclei((64, 96, 96), seed=0), 2.5, axis=0)
    >>> estimate = axial_blur_estimate(simulate(truth, Acquisition(4)), Acquisition(4))
    >>> estimate.resolved, round(estimate.sigma) == 2
    (True, True)
    """
    factor = acquisition.factor
    smallest = RESOLVABLE_BLUR * factor
    fitted = _fit_blur(measured, factor, band)
    if fitted is None:
        return AxialBlurEstimate(0.0, float("inf"), smallest, False)
    width = measured.shape[2] // BLUR_BLOCKS
    parts = [_fit_blur(measured[:, :, i * width : (i + 1) * width], factor, band) for i in range(BLUR_BLOCKS)]
    parts = [p for p in parts if p is not None]
    spread = float(np.std(parts) / math.sqrt(len(parts))) if len(parts) >= 2 else float("inf")
    return AxialBlurEstimate(fitted, spread, smallest, fitted - 2 * spread >= smallest)


def estimate_axial_blur(
    measured: np.ndarray, acquisition: Acquisition, band: tuple[float, float] = (0.1, 0.4)
) -> float:
    """The extra axial blur (Gaussian sigma, output pixels) to use: `axial_blur_estimate`'s fit where the
    data resolve it, else 0 (no blur assumed: the neutral choice where the data cannot tell).

    Examples
    --------
    >>> from axialsr.evaluation.synthetic import fluorescence_nuclei
    >>> from axialsr.operators.measurement import simulate
    >>> truth = fluorescence_nuclei((64, 96, 96), seed=0)
    >>> acq = Acquisition(4)
    >>> estimate_axial_blur(simulate(truth, acq), acq)
    0.0
    """
    return axial_blur_estimate(measured, acquisition, band).sigma


@torch.no_grad()
def restore_planes(
    regress: Callable[[torch.Tensor], torch.Tensor],
    volume: np.ndarray,
    *,
    planes: tuple[str, ...] = PLANES,
    flips: str | bool = "all",
    batch: int = 8,
    device: torch.device | str = "cpu",
    progress: bool = False,
    spread: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Run `regress` (images (B, 1, Z, L) -> same) on every XZ and/or YZ plane of `volume` (Z, Y, X;
    the cubic interpolation, normalised) and average the restored views; with `flips` 'all' (or True), each
    plane is also restored flipped up-down and left-right (4 passes), with 'z' flipped up-down (2 passes),
    and the results averaged. Returns float32 (Z, Y, X);
    with `spread`, also the per-voxel standard deviation of the views (2 plane families x 4 flips): where
    the views disagree, the restoration is less certain."""
    unknown = set(planes) - set(PLANES)
    if unknown or not planes:
        raise AxialSRError(f"planes must be among {PLANES}, got {planes}")
    variants = FLIPS[flips_setting(flips)]
    total = np.zeros(volume.shape, np.float64)
    squares = np.zeros(volume.shape, np.float64) if spread else None
    order = {"xz": (1, 0, 2), "yz": (2, 0, 1)}
    bar = tqdm(total=sum(volume.shape[order[p][0]] for p in planes), desc="lateral", unit="plane", disable=not progress)
    done = 0
    for plane in planes:
        stack = np.ascontiguousarray(volume.transpose(order[plane]))  # (N, Z, L)
        out = np.empty_like(stack)
        out2 = np.empty_like(stack) if spread else None
        for b0 in range(0, len(stack), batch):
            x = torch.from_numpy(stack[b0 : b0 + batch])[:, None].to(device)
            acc = torch.zeros_like(x)
            acc2 = torch.zeros_like(x)
            for flip_rows, flip_cols in variants:
                dims = [d for d, f in ((2, flip_rows), (3, flip_cols)) if f]
                xx = x.flip(dims) if dims else x
                yy = regress(xx)
                yy = yy.flip(dims) if dims else yy
                acc += yy
                if spread:
                    acc2 += yy * yy
            out[b0 : b0 + batch] = acc[:, 0].cpu().numpy()
            if spread:
                out2[b0 : b0 + batch] = acc2[:, 0].cpu().numpy()
            bar.update(len(x))
            done += len(x)
            report_step("restoring planes", done, bar.total)
        back = np.argsort(order[plane])
        total += out.transpose(back)
        if spread:
            squares += out2.transpose(back)
    bar.close()
    views = len(planes) * len(variants)
    mean = total / views
    if not spread:
        return mean.astype(np.float32)
    std = np.sqrt(np.maximum(squares / views - mean**2, 0.0))
    return mean.astype(np.float32), std.astype(np.float32)
