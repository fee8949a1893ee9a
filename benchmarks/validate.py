"""Validation benchmark: does `axialsr validate` (no ground truth) rank methods as the ground truth does?

    python benchmarks/validate.py [--cases em_x4_average,fluo_x4_average,fluoaxial_x4_average]

For each synthetic case, the true scores of the methods are read from the quality benchmark's committed
results (results/quality_case_<case>.json: same volumes, priors and settings), and `validate --scheme
lateral` scores the same methods on the measured volume alone, with the case's cached priors. Reports each
ranking, the Spearman correlation of the validation scores with the true ones, whether the best method
is the same, and the extra axial blur validate estimated (and corrected for). Writes results/validate.json
and results/validate.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import ROWS, case_data, ensure_prior, parse_case  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.pipeline.validate import ranking  # noqa: E402
from axialsr.settings import RestoreConfig, ValidationConfig  # noqa: E402

DEFAULT_CASES = "em_x4_average,fluo_x4_average,fluoaxial_x4_average"
DEFAULT_METHODS = "linear,cubic,inr,lateral,inr-lateral"


def spearman(a: list[float], b: list[float]) -> float:
    """Spearman rank correlation of two score lists (no ties expected)."""
    ra = np.argsort(np.argsort(a))
    rb = np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=DEFAULT_CASES)
    parser.add_argument("--methods", default=DEFAULT_METHODS)
    parser.add_argument("--tag", default="", help="suffix of the quality results to compare with")
    args = parser.parse_args()
    header = machine_header()
    methods = args.methods.split(",")
    config = RestoreConfig()
    results = []
    for name in args.cases.split(","):
        case = parse_case(name)
        quality = json.loads((RESULTS / f"quality{args.tag}_case_{name}.json").read_text())
        truth = {r["method"]: r for r in quality["rows"] if r["method"] in methods}
        missing = [m for m in methods if m not in truth]
        if missing:
            raise SystemExit(f"{name}: the quality results lack {missing}; run quality.py for them first")
        _, lr, _ = case_data(*case)
        specs = sorted({k for m in methods for k in ROWS[m][1]})
        priors = [ensure_prior(case, spec) for spec in specs]
        print(f"== {name}", flush=True)
        result = api.validate(
            lr,
            api.Acquisition(case[1], case[2]),
            priors,
            ValidationConfig(methods=tuple(ROWS[m][0] for m in methods), restore=config),
            api.Runtime(device="cpu", progress=False),
        )
        rows = [{**r, "method": m} for r, m in zip(result.rows, methods, strict=True)]
        true_rows = [{"method": m, "psnr": truth[m]["psnr_3d"]} for m in methods]
        entry = {
            "case": name,
            "truth": true_rows,
            "lateral": rows,
            "ranking_truth": ranking(true_rows),
            "ranking_lateral": ranking(rows),
            "spearman": spearman([r["psnr"] for r in true_rows], [r["psnr"] for r in rows]),
            "same_best": ranking(rows)[0] == ranking(true_rows)[0],
            "axial_blur": result.axial_blur,
            "note": result.note,
        }
        print(entry["ranking_lateral"], "true", entry["ranking_truth"], f"spearman {entry['spearman']:.2f}")
        results.append(entry)
    write_json(RESULTS / "validate.json", {"header": header, "settings": {"restore": repr(config)}, "cases": results})
    md = [
        "# Validation benchmark: rankings without ground truth vs the true ranking\n\n",
        header_markdown(header),
        "\nTrue PSNR from the quality benchmark (same volumes, priors and settings); validation PSNR from "
        "`validate --scheme lateral` on the measured volume alone.\n",
    ]
    for entry in results:
        truth = {r["method"]: r for r in entry["truth"]}
        lateral = {r["method"]: r for r in entry["lateral"]}
        md.append(f"\n## {entry['case']}\n\n| method | true PSNR | validate PSNR | validate s |\n|---|---|---|---|\n")
        for method in truth:
            md.append(
                f"| {method} | {truth[method]['psnr']:.2f} | {lateral[method]['psnr']:.2f} | "
                f"{lateral[method]['seconds']:.0f} |\n"
            )
        md.append(f"\n- true ranking: {' > '.join(entry['ranking_truth'])}\n")
        md.append(
            f"- validate: {' > '.join(entry['ranking_lateral'])} (Spearman {entry['spearman']:.2f}, "
            f"same best: {entry['same_best']})\n"
        )
        md.append(f"- extra axial blur estimated: {entry['axial_blur']:.2f} px. {entry['note']}\n")
    (RESULTS / "validate.md").write_text("".join(md))
    print(f"wrote {RESULTS}/validate.json and validate.md")


if __name__ == "__main__":
    main()
