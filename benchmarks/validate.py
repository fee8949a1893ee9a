"""Validation benchmark: does `axialsr validate` (no ground truth) rank methods as the ground truth does?

    python benchmarks/validate.py [--iters 600] [--cases em_x4_average,fluo_x4_average]

For each synthetic case (the quality benchmark's volumes and cached priors), every method (nearest, linear,
cubic, INR-fidelity, INR+SDS; the INRs with the same `--iters`) is scored three ways: against the isotropic
ground truth (PSNR, the true ranking), by `validate --scheme lateral` and by `validate --scheme holdout`
(K=3). Reports each ranking, the Spearman correlation of each scheme's scores with the true ones, and
whether the best method is the same. Writes results/validate.json and results/validate.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import CASES_FULL, case_data, case_name, ensure_prior  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.reconstruct import ReconstructionConfig  # noqa: E402
from axialsr.validate import VALIDATION_METHODS, ValidationConfig, ranking  # noqa: E402

DEFAULT_CASES = "em_x4_average,fluo_x4_average"


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation of two score lists (no ties expected)."""
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def true_scores(gt, lr, prior, factor: float, model: str, recon: ReconstructionConfig) -> list[dict]:
    rows = []
    for method in VALIDATION_METHODS:
        start = time.perf_counter()
        if method in ("inr", "inr-sds"):
            cfg = replace(recon, lambda_sds=0.0) if method == "inr" else recon
            out, _ = api.reconstruct(
                lr, prior if method == "inr-sds" else None, factor, cfg, model=model, progress=False
            )
        else:
            out = api.interpolation_baseline(lr, method, factor)
        scores = api.evaluate(out, gt, factor)
        rows.append(
            {
                "method": method,
                "psnr": scores["3d"]["psnr"],
                "ssim": scores["3d"]["ssim"],
                "seconds": time.perf_counter() - start,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=600)
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--prior-steps", type=int, default=2500)
    args = parser.parse_args()
    recon = ReconstructionConfig(iters=args.iters, device="cpu")
    header = machine_header()
    wanted = args.cases.split(",")
    results = []
    for kind, factor, model in [c for c in CASES_FULL if case_name(*c) in wanted]:
        name = case_name(kind, factor, model)
        gt, lr = case_data(kind, factor, model)
        prior, _ = ensure_prior(kind, factor, model, args.prior_steps)
        print(f"== {name}")
        truth = true_scores(gt, lr, prior, factor, model, recon)
        entry = {"case": name, "truth": truth, "schemes": {}}
        order = [r["method"] for r in truth]
        for scheme in ("lateral", "holdout"):
            cfg = ValidationConfig(scheme=scheme, holdout=3, recon=recon, model=model)
            result = api.validate(lr, prior, factor, cfg, progress=False)
            scores = {r["method"]: r for r in result.rows}
            entry["schemes"][scheme] = {
                "rows": result.rows,
                "ranking": ranking(result.rows),
                "spearman_psnr": spearman([r["psnr"] for r in truth], [scores[m]["psnr"] for m in order]),
                "same_best": ranking(result.rows)[0] == ranking(truth)[0],
            }
            print(
                scheme,
                entry["schemes"][scheme]["ranking"],
                "true",
                ranking(truth),
                f"spearman {entry['schemes'][scheme]['spearman_psnr']:.2f}",
            )
        results.append(entry)
    write_json(RESULTS / "validate.json", {"header": header, "settings": {"recon": repr(recon)}, "cases": results})
    md = [
        "# Validation benchmark: rankings without ground truth vs the true ranking\n\n",
        header_markdown(header),
        f"\nINR settings (validation and truth alike): `{recon!r}`\n",
    ]
    for entry in results:
        truth = {r["method"]: r for r in entry["truth"]}
        md.append(f"\n## {entry['case']}\n\n| method | true PSNR | lateral PSNR | holdout PSNR |\n|---|---|---|---|\n")
        lateral = {r["method"]: r for r in entry["schemes"]["lateral"]["rows"]}
        holdout = {r["method"]: r for r in entry["schemes"]["holdout"]["rows"]}
        for method in truth:
            md.append(
                f"| {method} | {truth[method]['psnr']:.2f} | {lateral[method]['psnr']:.2f} | "
                f"{holdout[method]['psnr']:.2f} |\n"
            )
        md.append(f"\n- true ranking: {' > '.join(ranking(entry['truth']))}\n")
        for scheme, info in entry["schemes"].items():
            md.append(
                f"- {scheme}: {' > '.join(info['ranking'])} (Spearman {info['spearman_psnr']:.2f}, "
                f"same best: {info['same_best']})\n"
            )
    (RESULTS / "validate.md").write_text("".join(md))
    print(f"wrote {RESULTS}/validate.json and validate.md")


if __name__ == "__main__":
    main()
