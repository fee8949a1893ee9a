"""A quality number without ground truth: restore a degraded copy of the measured volume whose truth is
known, with every method, and score it.

Two schemes:

- `lateral` (default): the measured XY slices are full resolution, so they are the truth. The volume is
  turned so that Y becomes the axial axis, Y is degraded by the acquisition model at the same factor s,
  and each method restores Y; the restored (Y, X) planes are scored against the measured ones. Same
  factor, same acquisition model, same kind of structures as the real task. Its limits: the tissue must
  look alike along y and z (true for isotropic tissue, not for e.g. a fibre-aligned one); the prior has
  seen the XY slices it is scored on (INR+SDS scores are optimistic by that); and SDS runs only on the
  (Y, X) planes, as the other planes of the turned volume are anisotropic.
- `holdout`: keep one measured slice in K (the middle of each group of K, K odd), restore at factor K s
  (with the true, narrower slab of each kept slice), re-measure the restoration at factor s, and score
  the K-1 held-out slices of each group against their measurements. Uses the real z axis, but at a
  factor K times coarser than the real task, which can rank methods differently (on synthetic EM it
  puts linear above cubic, the reverse of the truth; see benchmarks/results/validate.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from axialsr.acquisition import Acquisition, simulate
from axialsr.baselines import INTERPOLATION_METHODS, interpolate_z
from axialsr.errors import AxialSRError
from axialsr.io import Volume
from axialsr.metrics import psnr, ssim_2d_mean

VALIDATION_SCHEMES = ("lateral", "holdout")
VALIDATION_METHODS = (*INTERPOLATION_METHODS, "inr", "inr-sds")


def _default_recon():
    from axialsr.reconstruct import ReconstructionConfig

    return ReconstructionConfig()


@dataclass
class ValidationConfig:
    """Scheme ('lateral' or 'holdout'), K for 'holdout' (odd, >= 3), the methods to compare and the INR
    settings they use."""

    scheme: str = "lateral"
    holdout: int = 3
    methods: tuple[str, ...] = VALIDATION_METHODS
    recon: object = field(default_factory=_default_recon)
    model: str = "average"
    fwhm: float | None = None

    def validate(self, has_prior: bool) -> None:
        if self.scheme not in VALIDATION_SCHEMES:
            raise AxialSRError(f"--scheme must be one of {VALIDATION_SCHEMES}, got '{self.scheme}'")
        if self.scheme == "holdout" and (self.holdout < 3 or self.holdout % 2 == 0):
            raise AxialSRError(f"--holdout K must be odd and >= 3 (keep the middle slice of K), got {self.holdout}")
        unknown = set(self.methods) - set(VALIDATION_METHODS)
        if unknown or not self.methods:
            raise AxialSRError(f"--methods must be among {', '.join(VALIDATION_METHODS)}; got {sorted(unknown)}")
        if "inr-sds" in self.methods and not has_prior:
            raise AxialSRError("method inr-sds needs --prior PRIOR_DIR (or leave it out of --methods)")


@dataclass
class ValidationResult:
    """Rows (method, psnr, ssim, seconds), the truth and each method's restoration (arrays in input units,
    oriented as restored: axis 0 the restored axis), and each INR's loss history."""

    rows: list[dict]
    truth: np.ndarray
    restored: dict[str, np.ndarray]
    histories: dict[str, list[dict]]
    scheme: str


def validate(
    volume: Volume, factor: float, prior=None, config: ValidationConfig | None = None, progress: bool = True
) -> ValidationResult:
    """Score every method of `config` on a degraded copy of `volume` (see the module's docstring). PSNR in
    dB and SSIM against the truth of the scheme, with the truth's data range."""
    cfg = config or ValidationConfig()
    cfg.validate(prior is not None)
    data = np.asarray(volume.data, dtype=np.float32)
    if cfg.scheme == "lateral":
        return _lateral(data, factor, prior, cfg, progress)
    return _holdout(data, factor, prior, cfg, progress)


def _restore(
    method: str, measured: np.ndarray, acquisition: Acquisition, prior, cfg: ValidationConfig, planes, progress: bool
):
    """(restoration on the fine grid, loss history or None)."""
    from axialsr import api

    if method in INTERPOLATION_METHODS:
        return interpolate_z(measured, acquisition.factor, method), None
    recon = replace(cfg.recon, lambda_sds=0.0) if method == "inr" else replace(cfg.recon, sds_planes=planes)
    out, info = api.reconstruct(
        Volume(measured),
        prior if method == "inr-sds" else None,
        config=recon,
        dtype="float32",
        progress=progress,
        acquisition=acquisition,
    )
    return out.data, info.history


def _lateral(data: np.ndarray, factor: float, prior, cfg: ValidationConfig, progress: bool) -> ValidationResult:
    acquisition = Acquisition(factor, cfg.model, cfg.fwhm)
    turned = np.ascontiguousarray(np.moveaxis(data, 1, 0))  # (Y, Z, X): y is now the axis to restore
    measured = simulate(turned, acquisition)
    if measured.shape[0] < 2:
        raise AxialSRError(f"the volume is too small in y ({data.shape[1]}) for validation at factor {factor}")
    truth = turned[: acquisition.output_depth(measured.shape[0])]
    rows, restored, histories = [], {}, {}
    for method in _progress(cfg.methods, progress):
        start = time.perf_counter()
        out, history = _restore(method, measured, acquisition, prior, cfg, ("xz",), progress)
        seconds = time.perf_counter() - start
        data_range = float(np.ptp(truth)) or 1.0
        # (Y, X) planes at each measured z are the measured XY slices: 'xz' planes of the turned volume
        ssim = ssim_2d_mean(
            [out[:, k] for k in range(out.shape[1])], [truth[:, k] for k in range(out.shape[1])], data_range
        )
        rows.append({"method": method, "psnr": psnr(out, truth, data_range), "ssim": ssim, "seconds": seconds})
        restored[method] = np.moveaxis(out, 0, 1)
        if history:
            histories[method] = history
    return ValidationResult(rows, np.moveaxis(truth, 0, 1), restored, histories, "lateral")


def _holdout(data: np.ndarray, factor: float, prior, cfg: ValidationConfig, progress: bool) -> ValidationResult:
    k = cfg.holdout
    groups = data.shape[0] // k
    if groups < 2:
        raise AxialSRError(f"--holdout {k} needs at least {2 * k} measured slices, the volume has {data.shape[0]}")
    middle = (k - 1) // 2
    kept = data[middle::k][:groups]
    full = Acquisition(factor, cfg.model, cfg.fwhm)
    width = factor if cfg.model == "average" else None
    fwhm = (cfg.fwhm or factor) if cfg.model == "gaussian" else None
    coarse = Acquisition(k * factor, cfg.model, fwhm, width)
    held = np.ones(groups * k, dtype=bool)
    held[middle::k] = False
    truth = data[: groups * k][held]
    rows, restored, histories = [], {}, {}
    for method in _progress(cfg.methods, progress):
        start = time.perf_counter()
        out, history = _restore(method, kept, coarse, prior, cfg, ("xz", "yz"), progress)
        seconds = time.perf_counter() - start
        predicted = simulate(out, full)[: groups * k][held]
        data_range = float(np.ptp(truth)) or 1.0
        ssim = ssim_2d_mean(list(predicted), list(truth), data_range)
        rows.append({"method": method, "psnr": psnr(predicted, truth, data_range), "ssim": ssim, "seconds": seconds})
        restored[method] = out
        if history:
            histories[method] = history
    return ValidationResult(rows, truth, restored, histories, "holdout")


def _progress(methods, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(methods, desc="validating", unit="method", disable=not enabled)


def ranking(rows: list[dict], key: str = "psnr") -> list[str]:
    """Methods from best to worst by `key`."""
    return [r["method"] for r in sorted(rows, key=lambda r: r[key], reverse=True)]
