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

import numpy as np
import torch
from scipy import ndimage
from tqdm.auto import tqdm

from axialsr.acquisition import Acquisition, slab_period
from axialsr.baselines import interpolation_matrix
from axialsr.errors import AxialSRError
from axialsr.interrupts import report_step
from axialsr.metrics import power_spectrum, profile_segments
from axialsr.settings import PLANES


def degradation_matrix(rows: int, acquisition: Acquisition) -> np.ndarray:
    """(R_out, rows) float32 matrix: the acquisition model along an axis of `rows` pixels, then cubic
    interpolation back onto the output grid (R_out = round(floor(rows / s) s) rows, slab-aligned)."""
    measure = acquisition.matrix(rows)
    depth_measured = measure.shape[0]
    back = interpolation_matrix(depth_measured, acquisition.output_depth(depth_measured), acquisition.factor, "cubic")
    return (back @ measure).astype(np.float32)


def blur_rows(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur along axis -2 (rows) with `sigma` pixels (0: unchanged)."""
    if sigma <= 0:
        return images
    return ndimage.gaussian_filter1d(images, sigma, axis=-2, mode="reflect").astype(np.float32)


class LateralPairs:
    """(degraded, target) image pairs from the XY slices of a normalised (Z, Y, X) volume.

    Each slice gives two pairs: degraded along y (rows = y) and degraded along x (rows = x). Slices are
    taken evenly along z up to `max_pixels` in all. Calling it draws a batch of random patches with
    random flips of both axes; patch rows start on slab boundaries (multiples of the rows that hold a
    whole number of slabs) so that the network learns where the slabs are, as in the planes it restores.

    Examples
    --------
    >>> volume = np.random.default_rng(0).normal(size=(4, 40, 40)).astype(np.float32)
    >>> pairs = LateralPairs(volume, Acquisition(4), patch=16)
    >>> degraded, target = pairs(np.random.default_rng(0), 3)
    >>> degraded.shape, target.shape
    ((3, 16, 16), (3, 16, 16))
    """

    def __init__(
        self,
        volume: np.ndarray,
        acquisition: Acquisition,
        patch: int,
        axial_blur: float = 0.0,
        max_pixels: int = 16_000_000,
    ) -> None:
        z_n, y_n, x_n = volume.shape
        if min(y_n, x_n) < patch:
            raise AxialSRError(f"XY size {(y_n, x_n)} is smaller than the patch {patch}; use a smaller patch")
        self.patch = patch
        self.acquisition = acquisition
        keep = max(1, min(z_n, max_pixels // max(1, 4 * y_n * x_n)))
        slices = np.asarray(volume[np.unique(np.linspace(0, z_n - 1, keep).round().astype(int))], np.float32)
        self.inputs: list[np.ndarray] = []
        self.targets: list[np.ndarray] = []
        for stack in (slices, slices.transpose(0, 2, 1)):  # rows = y, then rows = x
            sharp = blur_rows(stack, axial_blur)
            matrix = degradation_matrix(stack.shape[1], acquisition)
            self.inputs.append(np.einsum("ar,zrc->zac", matrix, sharp).astype(np.float32))
            self.targets.append(np.ascontiguousarray(sharp[:, : matrix.shape[0]]))
        rows = min(t.shape[1] for t in self.targets)
        if rows < patch:
            raise AxialSRError(f"too few whole slabs in {min(y_n, x_n)} pixels for a {patch}-pixel patch")
        period = (slab_period(acquisition.factor) or (1, 1))[1]  # rows of a whole number of slabs
        self.row_step = period if period <= patch // 2 else 1
        self.flip_rows = patch % period == 0  # a flipped patch keeps its slab boundaries on the period

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
            a, b = src[k, r0 : r0 + p, c0 : c0 + p], tgt[k, r0 : r0 + p, c0 : c0 + p]
            if rng.integers(2) and self.flip_rows:
                a, b = a[::-1], b[::-1]
            if rng.integers(2):
                a, b = a[:, ::-1], b[:, ::-1]
            degraded[i], target[i] = a, b
        return degraded, target


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


def estimate_axial_blur(
    measured: np.ndarray, acquisition: Acquisition, band: tuple[float, float] = (0.1, 0.4)
) -> float:
    """Extra axial Gaussian blur of the truth, sigma in output (lateral) pixels: 0 for an isotropic truth.

    Fits P_axial(f) / P_lateral(f) = c exp(-(2 pi f sigma / s)^2) over the band of frequencies `band`
    (cycles per slab) that the measurement resolves, on the spectra of `axial_lateral_spectra`. Blurs
    much smaller than s / pi are below what the measurement can show (and matter little). A stack too
    small to compare spectra (fewer than 8 slabs, or 8 slab-wide rows) gives 0.

    Examples
    --------
    >>> from axialsr.synthetic import fluorescence_nuclei
    >>> from axialsr.acquisition import simulate
    >>> truth = fluorescence_nuclei((64, 96, 96), seed=0)
    >>> acq = Acquisition(4)
    >>> round(estimate_axial_blur(simulate(truth, acq), acq), 1) < 1.0
    True
    """
    try:
        freqs, axial, lateral = axial_lateral_spectra(measured, acquisition.factor)
    except AxialSRError:
        return 0.0
    use = (freqs >= band[0]) & (freqs <= band[1]) & (axial > 0) & (lateral > 0)
    if use.sum() < 2:
        return 0.0
    x = (2 * math.pi * freqs[use] / acquisition.factor) ** 2
    y = np.log(axial[use] / lateral[use])
    slope, _ = np.polyfit(x, y, 1)
    return float(math.sqrt(max(0.0, -slope)))


@torch.no_grad()
def restore_planes(
    regress: Callable[[torch.Tensor], torch.Tensor],
    volume: np.ndarray,
    planes: tuple[str, ...] = PLANES,
    flips: bool = True,
    batch: int = 8,
    device: torch.device | str = "cpu",
    progress: bool = False,
    spread: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Run `regress` (images (B, 1, Z, L) -> same) on every XZ and/or YZ plane of `volume` (Z, Y, X;
    the cubic interpolation, normalised) and average the restored views; with `flips`, each plane is also
    restored flipped up-down and left-right (4 passes) and the results averaged. Returns float32 (Z, Y, X);
    with `spread`, also the per-voxel standard deviation of the views (2 plane families x 4 flips): where
    the views disagree, the restoration is less certain."""
    unknown = set(planes) - set(PLANES)
    if unknown or not planes:
        raise AxialSRError(f"planes must be among {PLANES}, got {planes}")
    variants = [(False, False), (True, False), (False, True), (True, True)] if flips else [(False, False)]
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
