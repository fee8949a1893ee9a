"""Quality benchmark: every method side by side, in one run, on synthetic volumes with ground truth.

    python benchmarks/quality.py                 # full: em + fluo, x4 and x8, average model
    python benchmarks/quality.py --quick         # em x4 only, smaller budgets
    python benchmarks/quality.py --priors-only   # train (or find) the cached priors and stop

Each case: isotropic ground truth (axialsr.synthetic, 64x128x128, seed 0) -> `simulate` (the acquisition
model) -> nearest / linear / cubic / INR-fidelity / slice-wise 2D diffusion (XZ-wise and YZ-wise) /
INR+SDS. `coherence_mad` is the mean |XZ-wise - YZ-wise| of the slice-wise restorations (fraction of the
data range); the INR is one 3D function, so its XZ and YZ views agree by construction (0). The prior of
each case is trained on that case's own measured XY slices (reference-free) and cached under
benchmarks/cache/priors/. Each case writes results/quality_case_<case>.json (so cases can run in parallel
processes); the run then joins all present cases into results/quality.json and quality.md, with
results/quality_<case>.png per case.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, header_markdown, machine_header, write_json  # noqa: E402

from axialsr import api, metrics  # noqa: E402
from axialsr.figures import orthogonal_views  # noqa: E402
from axialsr.io import Volume  # noqa: E402
from axialsr.prior import CONFIG_FILE, Prior, PriorConfig  # noqa: E402
from axialsr.reconstruct import ReconstructionConfig  # noqa: E402
from axialsr.report import markdown_table, print_table  # noqa: E402
from axialsr.slicewise import SlicewiseConfig  # noqa: E402

CACHE = Path(__file__).resolve().parent / "cache" / "priors"
SHAPE = (64, 128, 128)
CASES_FULL = [
    ("em", 4.0, "average"),
    ("fluo", 4.0, "average"),
    ("em", 8.0, "average"),
    ("fluo", 8.0, "average"),
]
CASES_EXTRA = [("em", 4.0, "gaussian")]  # only with --cases em_x4_gaussian
CASES_QUICK = [("em", 4.0, "average")]
COLUMNS = ("psnr_3d", "psnr_unmeasured", "ssim_xy", "ssim_xz", "ssim_yz", "ssim_unmeasured", "coherence_mad", "seconds")

# The INR+SDS settings this benchmark reports (the package defaults); INR-fidelity uses the same with lambda 0.
RECON = ReconstructionConfig()


def case_name(kind: str, factor: float, model: str) -> str:
    return f"{kind}_x{factor:g}_{model}"


def case_data(kind: str, factor: float, model: str) -> tuple[Volume, Volume]:
    gt = api.synth(kind, SHAPE, seed=0, dtype="float32")
    lr = api.simulate_acquisition(gt, factor, model)
    return gt, lr


def ensure_prior(kind: str, factor: float, model: str, steps: int | None) -> tuple[Prior, float]:
    """The case's prior from the cache, training it first if missing; returns (prior, training seconds)."""
    folder = CACHE / case_name(kind, factor, model)
    if not (folder / CONFIG_FILE).exists():
        _, lr = case_data(kind, factor, model)
        api.train_prior(lr, PriorConfig(preset="small", steps=steps, seed=0, device="cpu"), folder, resume=True)
    prior = Prior.load(folder, "cpu")
    return prior, float(prior.meta.get("seconds", float("nan")))


def run_case(
    kind: str, factor: float, model: str, recon: ReconstructionConfig, prior_steps: int | None, tag: str = ""
) -> list[dict]:
    gt, lr = case_data(kind, factor, model)
    name = case_name(kind, factor, model)
    print(f"\n== {name}: ground truth {gt.data.shape}, measured {lr.data.shape}")
    prior, prior_seconds = ensure_prior(kind, factor, model, prior_steps)
    depth = round(lr.data.shape[0] * factor)
    outputs: dict[str, np.ndarray] = {}
    rows = []

    def score(method: str, out: Volume, seconds: float, **extra) -> None:
        outputs[method] = out.data
        scores = metrics.flatten(api.evaluate(out, gt, factor))
        rows.append({"case": name, "method": method, **scores, "seconds": seconds, **extra})

    for method in ("nearest", "linear", "cubic"):
        start = time.perf_counter()
        out = api.interpolation_baseline(lr, method, factor)
        score(method, out, time.perf_counter() - start)
    fid_cfg = replace(recon, lambda_sds=0.0)
    out, info = api.reconstruct(lr, None, factor, fid_cfg, model=model)
    score("inr-fidelity", out, info.seconds)
    slices = {}
    for axis in ("xz", "yz"):
        start = time.perf_counter()
        slices[axis] = api.slicewise_baseline(lr, prior, factor, SlicewiseConfig(axis=axis), model=model)
        score(f"slicewise-{axis}", slices[axis], time.perf_counter() - start, prior_seconds=prior_seconds)
    agreement = metrics.coherence(slices["xz"].data, slices["yz"].data, float(np.ptp(gt.data)))
    for row in rows[-2:]:
        row["coherence_mad"] = agreement["mad"]
    out, info = api.reconstruct(lr, prior, factor, recon, model=model)
    score("inr+sds", out, info.seconds, prior_seconds=prior_seconds, coherence_mad=0.0)
    views = {"ground truth": gt.data[:depth], **{k: v for k, v in outputs.items() if k != "linear"}}
    orthogonal_views(views, RESULTS / f"quality{tag}_{name}.png")
    print_table(rows, COLUMNS, title=name)
    return rows


def assemble(tag: str) -> None:
    """Join the per-case results present under results/ into quality{tag}.json and quality{tag}.md."""
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"quality{tag}_case_*.json"))]
    order = [case_name(*c) for c in CASES_FULL + CASES_EXTRA]
    parts.sort(key=lambda part: order.index(part["case"]) if part["case"] in order else len(order))
    rows = [row for part in parts for row in part["rows"]]
    write_json(RESULTS / f"quality{tag}.json", {"cases": parts, "rows": rows})
    md = ["# Quality benchmark\n\n", "Each case ran in its own process; its machine and settings are given.\n"]
    for part in parts:
        case = part["case"]
        md += [
            f"\n## {case}\n\n",
            header_markdown(part["header"]),
            f"\nReconstruction: `{part['settings']['recon']}`; prior: {part['settings']['prior']}\n\n",
            markdown_table(part["rows"], COLUMNS),
            f"\n![{case}](quality{tag}_{case}.png)\n",
        ]
    (RESULTS / f"quality{tag}.md").write_text("".join(md))
    print(f"wrote {RESULTS}/quality{tag}.json and .md ({len(parts)} cases)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="em x4 only")
    parser.add_argument("--priors-only", action="store_true", help="train/find the priors, then stop")
    parser.add_argument("--assemble-only", action="store_true", help="only join the per-case results")
    parser.add_argument("--iters", type=int, default=RECON.iters)
    parser.add_argument("--prior-steps", type=int, default=2500)
    parser.add_argument("--cases", default=None, help="comma list like em_x4_average,fluo_x8_average")
    parser.add_argument("--tag", default="", help="suffix for the result files")
    args = parser.parse_args()
    cases = CASES_QUICK if args.quick else CASES_FULL
    if args.cases:
        wanted = set(args.cases.split(","))
        cases = [c for c in CASES_FULL + CASES_EXTRA if case_name(*c) in wanted]
    if args.assemble_only:
        assemble(args.tag)
        return
    if args.priors_only:
        for case in cases:
            ensure_prior(*case, args.prior_steps)
        return
    recon = replace(RECON, iters=args.iters, device="cpu")
    for case in cases:
        header = machine_header()
        started = time.perf_counter()
        rows = run_case(*case, recon, args.prior_steps, args.tag)
        payload = {
            "case": case_name(*case),
            "header": header,
            "settings": {
                "shape": SHAPE,
                "recon": repr(recon),
                "prior": f"preset small, {args.prior_steps} steps, trained on the case's measured XY slices",
            },
            "rows": rows,
            "total_seconds": time.perf_counter() - started,
        }
        write_json(RESULTS / f"quality{args.tag}_case_{case_name(*case)}.json", payload)
    assemble(args.tag)


if __name__ == "__main__":
    main()
