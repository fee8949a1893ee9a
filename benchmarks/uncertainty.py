"""Uncertainty benchmark: is the per-voxel uncertainty of the lateral method calibrated?

    python benchmarks/uncertainty.py [--fit em_x4_average] [--cases em_x4_average,em_x8_average,...]

For each synthetic case (the quality benchmark's volumes and cached lateral priors), the `lateral` method
restores the measured volume with `uncertainty` on. The uncertainty is sqrt((k s)^2 + f^2): s the spread of
the restoration's views (XZ and YZ planes, each restored 4 times flipped), f the regressor's RMS error on
its training pairs (saved with the prior), k one scale factor. Reported per case:

- Spearman correlation between the mean uncertainty and the mean absolute error over 8x8x8 patches
  (does it point at the places that are wrong?);
- coverage: the fraction of voxels with |error| <= 2 sigma, against the nominal 95.4% of a Gaussian.

The scale is fitted on one case (`--fit`: the factor that gives 2-sigma coverage 95.4% there) and tested on
the others; the package's `restore.UNCERTAINTY_SCALE` holds the fitted value. Writes
results/uncertainty.json and results/uncertainty.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import case_data, ensure_prior, parse_case  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.pipeline.restore import calibrated_uncertainty  # noqa: E402
from axialsr.settings import RestoreConfig  # noqa: E402

NOMINAL = 0.9545  # P(|N(0,1)| <= 2)
PATCH = 8


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def patch_means(volume: np.ndarray, size: int = PATCH) -> np.ndarray:
    z, y, x = (n // size * size for n in volume.shape)
    v = volume[:z, :y, :x].reshape(z // size, size, y // size, size, x // size, size)
    return v.mean(axis=(1, 3, 5)).ravel()


def measure(name: str) -> dict:
    """Restore the case with the lateral method and its uncertainty; returns the absolute error, the raw
    spread of the views and the pair floor (normalised units), and the half range (input units per unit)."""
    case = parse_case(name)
    gt, lr, _ = case_data(*case)
    prior = ensure_prior(case, "lateral")
    config = RestoreConfig(uncertainty=True, uncertainty_scale=1.0)
    quiet = api.Runtime(device="cpu", progress=False)
    out, info = api.restore(
        lr, "lateral", acquisition=api.Acquisition(case[1], case[2]), priors=prior, config=config, runtime=quiet
    )
    half = 0.5 * (info.normalization.high - info.normalization.low)
    floor = float(prior.meta.get("pair_rmse", 0.0))
    # at scale 1 the uncertainty is sqrt(spread^2 + floor^2) * half: recover the spread
    spread = np.sqrt(np.maximum((info.uncertainty.astype(np.float64) / half) ** 2 - floor**2, 0.0))
    error = np.abs(out.data.astype(np.float64) - gt.data[: out.data.shape[0]])
    return {"case": name, "error": error, "spread": spread, "floor": floor, "half": half, "seconds": info.seconds}


def sigma_of(m: dict, scale: float) -> np.ndarray:
    return calibrated_uncertainty(m["spread"], m["floor"], scale) * m["half"]


def coverage(m: dict, scale: float) -> float:
    return float(np.mean(m["error"] <= 2 * sigma_of(m, scale)))


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", default="em_x4_average")
    parser.add_argument(
        "--cases", default="em_x4_average,em_x8_average,fluo_x4_average,fluo_x8_average,fluoaxial_x4_average"
    )
    args = parser.parse_args()
    names = args.cases.split(",")
    measured = {name: measure(name) for name in names}
    fit = measured[args.fit]
    low, high = 0.0, 100.0  # coverage grows with the scale: bisect for the nominal one on the fit case
    for _ in range(60):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if coverage(fit, middle) < NOMINAL else (low, middle)
    scale = high
    rows = []
    for name in names:
        m = measured[name]
        sigma = sigma_of(m, scale)
        rows.append(
            {
                "method": name,
                "spearman_patches": spearman(patch_means(sigma), patch_means(m["error"])),
                "coverage_2sigma": float(np.mean(m["error"] <= 2 * sigma)),
                "mean_sigma": float(sigma.mean()),
                "mean_abs_error": float(m["error"].mean()),
                "pair_floor": m["floor"] * m["half"],
                "fitted_here": name == args.fit,
            }
        )
        print(rows[-1], flush=True)
    header = machine_header()
    write_json(RESULTS / "uncertainty.json", {"header": header, "scale": scale, "fit_case": args.fit, "rows": rows})
    lines = [
        "# Uncertainty benchmark: the lateral method's per-voxel uncertainty against its actual error\n\n",
        header_markdown(header),
        f"\nsigma = sqrt((scale x spread of the views)^2 + pair floor^2), the floor being the regressor's RMS "
        f"error on its training pairs. Scale fitted on {args.fit}: {scale:.3f} (nominal 2-sigma coverage "
        f"{NOMINAL:.1%}). Spearman over {PATCH}^3 patches (mean uncertainty vs mean |error|).\n\n",
        "| case | Spearman (patches) | coverage of 2 sigma | mean sigma | mean abs error | pair floor |\n"
        "|---|---|---|---|---|---|\n",
    ]
    for r in rows:
        mark = " (fit)" if r["fitted_here"] else ""
        lines.append(
            f"| {r['method']}{mark} | {r['spearman_patches']:.2f} | {r['coverage_2sigma']:.1%} | "
            f"{r['mean_sigma']:.4f} | {r['mean_abs_error']:.4f} | {r['pair_floor']:.4f} |\n"
        )
    (RESULTS / "uncertainty.md").write_text("".join(lines))
    print(f"scale {scale:.3f}; wrote {RESULTS}/uncertainty.json and uncertainty.md")


if __name__ == "__main__":
    main()
