"""A quality number without ground truth: restore a degraded copy of the measured volume whose truth is
known, with every method, and score it.

Two schemes:

- `lateral` (default): the measured XY slices are full resolution, so they are the truth. The volume is
  turned so that Y becomes the axial axis, Y is degraded by the acquisition model at the same factor s,
  and each method restores Y; the restored (Y, X) planes are scored against the measured ones. Same
  factor, same acquisition model, same kind of structures as the real task. Its limits: the tissue must
  look alike along y and z (true for isotropic tissue, not for e.g. a fibre-aligned one); the priors have
  seen the XY slices they are scored on (scores of the prior-based methods are optimistic by that, the
  lateral regressor's most: these are its training pairs); and SDS and the lateral regressor run only on
  the (Y, X) planes, as the other planes of the turned volume are anisotropic. Where the data are
  blurrier along z than along y (an axial PSF, see `lateral.estimate_axial_blur`), y and z are not alike:
  the truth is then blurred along the restored axis by the estimated extra blur, and the result says so.
- `holdout`: keep one measured slice in K (the middle of each group of K, K odd), restore at factor K s
  (with the true, narrower slab of each kept slice), re-measure the restoration at factor s, and score
  the K-1 held-out slices of each group against their measurements. Uses the real z axis, but at a
  factor K times coarser than the real task, which can rank methods differently (on synthetic EM it
  puts linear above cubic, the reverse of the truth; see benchmarks/results/validate.md).
- `sections` (serial sections, the `average` model): the mean of two adjacent measured sections is exactly
  what one section twice as thick measures, so the stack is paired, restored at factor 2 s with priors
  trained on the paired stack itself (as `run` trains them), and each restored half-slab is scored against
  the real section it never saw: PSNR and SSIM over the real sections, and `detail_r2`, the fraction of the
  between-section detail (each section minus its pair's mean) recovered. Real tissue, real z axis, real
  noise; at twice the real factor, with half the sections.

The acquisition's missing sections are never truth: the lateral scheme leaves them out of the XY slices
it turns, the holdout scheme restores without a kept slice that is missing and does not score a held-out
one, and the sections scheme marks a pair holding one as missing and scores neither of its sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.evaluation.metrics import psnr, ssim_2d_mean
from axialsr.learning.planes import blur_rows, estimate_axial_blur
from axialsr.learning.priors import Prior, as_prior_list
from axialsr.methods import get_method, methods_for
from axialsr.methods.inr import ReconstructionConfig
from axialsr.methods.lateral import LateralConfig
from axialsr.methods.slicewise import SlicewiseConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.measurement import simulate
from axialsr.pipeline.restore import restore_array
from axialsr.settings import Runtime, ValidationConfig

ISOTROPY_TOLERANCE = 0.5  # extra axial blur (sigma, pixels) above which the lateral scheme corrects for it


@dataclass
class ValidationResult:
    """Rows (method, psnr, ssim, seconds), the truth and each method's restoration (arrays in input units,
    oriented as restored: axis 0 the restored axis), each INR's loss history, the scheme, the extra axial
    blur the data show (sigma, pixels) and a note when the scheme's isotropy assumption did not hold."""

    rows: list[dict]
    truth: np.ndarray
    restored: dict[str, np.ndarray]
    histories: dict[str, list[dict]]
    scheme: str
    axial_blur: float = 0.0
    note: str = ""

    def ranking(self, key: str = "psnr") -> list[str]:
        """The methods from best to worst by `key`."""
        return ranking(self.rows, key)


def default_methods(priors: Sequence[Prior]) -> tuple[str, ...]:
    """The methods worth comparing with these priors: interpolations, the INR, and every method whose
    priors are all given."""
    return tuple(name for name in methods_for(priors) if name != "nearest")


def validate(
    measured: np.ndarray,
    acquisition: Acquisition,
    priors: Prior | Sequence[Prior] | None = None,
    config: ValidationConfig | None = None,
    runtime: Runtime | None = None,
) -> ValidationResult:
    """Score every method of `config` on a degraded copy of the measured stack `measured` (Z_lr, Y, X)
    (see the module's docstring). PSNR in dB and SSIM against the truth of the scheme, with the truth's
    data range."""
    cfg = config or ValidationConfig()
    rt = runtime or Runtime()
    given = as_prior_list(priors)
    trained = _regressor_where_missing(measured, acquisition, given, cfg, rt)
    given = [*given, *trained]
    for method in cfg.methods if cfg.scheme != "sections" else ():  # sections trains its own
        get_method(method).assign(given)
    data = np.asarray(acquisition.correct(measured), dtype=np.float32)
    acquisition = acquisition.as_corrected()
    if cfg.scheme == "lateral":
        result = _lateral(data, acquisition, given, cfg, rt)
        if trained:
            said = "the lateral regressor was trained here on the XY slices it is scored on: its score is optimistic"
            result.note = "; ".join(n for n in (result.note, said) if n)
        return result
    if cfg.scheme == "sections":
        return _sections(data, acquisition, cfg, rt)
    return _holdout(data, acquisition, given, cfg, rt)


def _regressor_where_missing(measured, acquisition: Acquisition, given, cfg: ValidationConfig, rt: Runtime) -> list:
    """The lateral regressor that the methods to compare need and were not given: trained on the stack as
    `run` trains it (lateral scheme), none (sections: it trains its own), or AxialSRError in one line
    (holdout: it restores at K times the factor, where a regressor of this stack does not apply)."""
    from axialsr.learning.prior_training import train_prior
    from axialsr.learning.priors import LateralRegressor

    wanting = [m for m in cfg.methods if LateralRegressor in get_method(m).needs]
    if not wanting or cfg.scheme == "sections" or any(isinstance(p, LateralRegressor) for p in given):
        return []
    if cfg.scheme == "holdout":
        raise AxialSRError(
            f"the holdout scheme restores at {cfg.holdout} x the factor, where a regressor trained on this stack "
            f"does not apply ({', '.join(wanting)}): give one trained at that factor, or use the lateral or "
            "sections scheme",
            setting="scheme",
        )
    template = replace(cfg.lateral_prior, projection=cfg.lateral_prior.projection or cfg.restore.projection)
    return [train_prior(measured, template, acquisition=acquisition, runtime=rt)]


def _lateral(data, acquisition: Acquisition, priors, cfg: ValidationConfig, rt: Runtime) -> ValidationResult:
    blur = cfg.axial_blur
    if blur is None:
        blur = estimate_axial_blur(acquisition.fill_missing(data), acquisition)
    data = data[acquisition.present(len(data))]  # the XY slices that exist are the truth
    acquisition = acquisition.without_missing()  # the degraded copy measures every slab
    note = ""
    if blur > ISOTROPY_TOLERANCE:
        note = (
            f"the data are blurrier along z than along y (extra axial blur sigma {blur:.2f} px): the lateral "
            "truth was blurred along the restored axis by it, so scores reflect the resolution z really has"
        )
    else:
        blur = 0.0
    turned = np.ascontiguousarray(np.moveaxis(data, 1, 0))  # (Y, Z, X): y is now the axis to restore
    turned = blur_rows(turned.transpose(1, 0, 2), blur).transpose(1, 0, 2) if blur else turned
    measured = simulate(turned, acquisition)
    if measured.shape[0] < 2:
        raise AxialSRError(
            f"the volume is too small in y ({data.shape[1]}) for validation at factor {acquisition.factor}"
        )
    truth = turned[: acquisition.output_depth(measured.shape[0])]
    # only the (Y, X) planes of the turned volume are isotropic: restore along them alone
    given = cfg.restore
    config = given.with_settings(
        recon=replace(given.settings("recon", ReconstructionConfig), sds_planes=("xz",)),
        lateral=replace(given.settings("lateral", LateralConfig), planes=("xz",)),
        slicewise=replace(given.settings("slicewise", SlicewiseConfig), axis="xz"),
    )
    rows, restored, histories = [], {}, {}
    for method in _progress(cfg.methods, rt.progress):
        result = restore_array(measured, method, acquisition, priors=priors, config=config, runtime=rt)
        out = result.volume
        data_range = float(np.ptp(truth)) or 1.0
        # (Y, X) planes at each measured z are the measured XY slices: 'xz' planes of the turned volume
        ssim = ssim_2d_mean(
            [out[:, k] for k in range(out.shape[1])], [truth[:, k] for k in range(out.shape[1])], data_range
        )
        rows.append({"method": method, "psnr": psnr(out, truth, data_range), "ssim": ssim, "seconds": result.seconds})
        restored[method] = np.moveaxis(out, 0, 1)
        if result.history:
            histories[method] = result.history
    return ValidationResult(rows, np.moveaxis(truth, 0, 1), restored, histories, "lateral", blur, note)


def _holdout(data, acquisition: Acquisition, priors, cfg: ValidationConfig, rt: Runtime) -> ValidationResult:
    k = cfg.holdout
    groups = data.shape[0] // k
    if groups < 2:
        raise AxialSRError(f"holdout {k} needs at least {2 * k} measured slices, the volume has {data.shape[0]}")
    middle = (k - 1) // 2
    kept = data[middle::k][:groups]
    present = acquisition.present(len(data))[: groups * k]
    lost = tuple(int(g) for g in np.flatnonzero(~present[middle::k]))
    coarse = acquisition.coarser(k, missing=lost, every_kth=True)
    acquisition = acquisition.without_missing()
    held = np.ones(groups * k, dtype=bool)
    held[middle::k] = False
    held &= present  # a missing section is no truth
    truth = data[: groups * k][held]
    rows, restored, histories = [], {}, {}
    for method in _progress(cfg.methods, rt.progress):
        if get_method(method).needs:
            raise AxialSRError(
                f"the holdout scheme restores at {k}x the factor, which the priors of {method} were not trained for"
            )
        result = restore_array(kept, method, coarse, priors=priors, config=cfg.restore, runtime=rt)
        predicted = simulate(result.volume, acquisition)[: groups * k][held]
        data_range = float(np.ptp(truth)) or 1.0
        ssim = ssim_2d_mean(list(predicted), list(truth), data_range)
        rows.append(
            {"method": method, "psnr": psnr(predicted, truth, data_range), "ssim": ssim, "seconds": result.seconds}
        )
        restored[method] = result.volume
        if result.history:
            histories[method] = result.history
    return ValidationResult(rows, truth, restored, histories, "holdout")


def pair_sections(measured: np.ndarray) -> np.ndarray:
    """The mean of adjacent pairs of sections (0, 1), (2, 3), ... of a (Z, Y, X) stack, float32: what sections
    twice as thick measure under the `average` model (an odd last section is left out).

    Examples
    --------
    >>> pair_sections(np.arange(5.0)[:, None, None]).ravel()
    array([0.5, 2.5], dtype=float32)
    """
    pairs = measured.shape[0] // 2
    if pairs < 2:
        raise AxialSRError(f"pairing sections needs at least 4 of them, the volume has {measured.shape[0]}")
    data = np.asarray(measured[: 2 * pairs], np.float32)
    return data.reshape(pairs, 2, *data.shape[1:]).mean(axis=1)


def score_sections(
    restored: np.ndarray, sections: np.ndarray, acquisition: Acquisition, scored: np.ndarray | None = None
) -> dict[str, float]:
    """Score the restoration (Z_hr, Y, X) of a paired stack, restored at `acquisition` (factor 2 s), against
    the real sections (2 P, Y, X) of the pairs: each restored half-slab is re-measured at factor s and
    compared with its section. `scored` (bool per section) leaves sections out (e.g. a lost one and its
    partner). Returns `psnr` (dB, the scored sections' data range), `ssim`, `detail_r2` (1 - the squared
    error of the detail over its power, where the detail is a section minus its pair's measured mean: 0 for
    a restoration that adds none, 1 for all of it) and `detail_r2_ceiling` (what the sections' own noise,
    `noise.stack_noise`, leaves reachable).

    Examples
    --------
    >>> real = np.random.default_rng(0).normal(size=(4, 16, 16)).astype(np.float32)
    >>> perfect = np.repeat(real, 5, axis=0)   # 4 sections of 5 output slices: factor 10 for the pairs
    >>> round(score_sections(perfect, real, Acquisition(10))["detail_r2"], 3)
    1.0
    """
    from axialsr.operators.noise import stack_noise

    if acquisition.model != "average":
        raise AxialSRError("the sections scheme needs the 'average' model (a section is the mean over its slab)")
    halves = simulate(np.asarray(restored, np.float32), Acquisition(acquisition.factor / 2))
    count = min(len(halves), 2 * (len(sections) // 2))
    real = np.asarray(sections[:count], np.float32)
    halves = halves[:count]
    pairs = np.repeat(pair_sections(real), 2, axis=0)
    keep = np.ones(count, bool) if scored is None else np.asarray(scored[:count], bool)
    real, halves, pairs = real[keep], halves[keep], pairs[keep]
    data_range = float(np.ptp(real)) or 1.0
    detail = real - pairs
    power = float(np.mean(detail.astype(np.float64) ** 2)) or 1.0
    error = float(np.mean((halves - real).astype(np.float64) ** 2))
    noise = stack_noise(real)
    return {
        "psnr": psnr(halves, real, data_range),
        "ssim": ssim_2d_mean(list(halves), list(real), data_range),
        "detail_r2": 1.0 - error / power,
        "detail_r2_ceiling": max(0.0, 1.0 - 0.5 * noise**2 / power),
    }


def _sections(data, acquisition: Acquisition, cfg: ValidationConfig, rt: Runtime) -> ValidationResult:
    from axialsr.learning.prior_training import train_prior
    from axialsr.learning.priors import LateralRegressor
    from axialsr.methods.registry import get_method as method_spec

    paired = pair_sections(data)
    present = acquisition.present(len(data))[: 2 * len(paired)]
    whole = present.reshape(-1, 2).all(axis=1)  # a pair holding a missing section measures nothing
    lost = tuple(int(p) for p in np.flatnonzero(~whole))
    coarse = acquisition.coarser(2, missing=lost)
    scored = np.repeat(whole, 2)
    if acquisition.model != "average":
        raise AxialSRError("the sections scheme needs the 'average' model (a section is the mean over its slab)")
    priors = []
    for method in cfg.methods:
        for kind in method_spec(method).needs:
            if kind is not LateralRegressor:
                raise AxialSRError(f"the sections scheme trains lateral regressors only; {method} needs more")
    if any(method_spec(m).needs for m in cfg.methods):
        template = replace(cfg.lateral_prior, projection=cfg.lateral_prior.projection or cfg.restore.projection)
        priors = [train_prior(paired, template, acquisition=coarse, runtime=rt)]
    rows, restored, histories = [], {}, {}
    for method in _progress(cfg.methods, rt.progress):
        result = restore_array(paired, method, coarse, priors=priors, config=cfg.restore, runtime=rt)
        scores = score_sections(result.volume, data, coarse, scored)
        rows.append({"method": method, **scores, "seconds": result.seconds})
        restored[method] = result.volume
        if result.history:
            histories[method] = result.history
    truth = data[: 2 * paired.shape[0]]
    return ValidationResult(rows, truth, restored, histories, "sections")


def _progress(methods, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(methods, desc="validating", unit="method", disable=not enabled)


def ranking(rows: list[dict], key: str = "psnr") -> list[str]:
    """Methods from best to worst by `key`."""
    return [r["method"] for r in sorted(rows, key=lambda r: r[key], reverse=True)]
