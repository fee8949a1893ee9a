"""Samples of the quality benchmark's `small` prior (EM-like, x4 average) beside real XY patches.

    python benchmarks/prior_samples.py [--case em_x4_average] [--n 16] [--steps 50]

Uses (or trains) the cached prior of benchmarks/quality.py; writes results/prior_samples_<case>.png and a
JSON with the prior's training summary.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import json  # noqa: E402

from bench_header import RESULTS, machine_header, write_json  # noqa: E402
from quality import CACHE, CASES_FULL, case_data, case_name, ensure_prior  # noqa: E402

from axialsr.frontends.figures import prior_samples_figure  # noqa: E402
from axialsr.learning.prior_training import loss_trend  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="em_x4_average")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    case = next(c for c in CASES_FULL if case_name(*c) == args.case)
    prior = ensure_prior(case, "diffusion")
    seconds = float(prior.meta.get("seconds", 0.0))
    _, lr, _ = case_data(*case)
    out = RESULTS / f"prior_samples_{args.case}.png"
    prior_samples_figure(prior, out, n=args.n, steps=args.steps, seed=0, real_volume=lr.data)
    curve = CACHE / args.case / "diffusion" / "loss.jsonl"
    losses = [json.loads(line)["loss"] for line in curve.read_text().splitlines()] if curve.exists() else []
    write_json(
        RESULTS / f"prior_samples_{args.case}.json",
        {
            "header": machine_header(),
            "case": args.case,
            "preset": prior.meta["training"]["preset"],
            "steps_trained": prior.meta.get("steps_trained"),
            "training_seconds": seconds,
            "loss_first_last": loss_trend(losses, 50) if losses else None,
            "ddim_steps": args.steps,
        },
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
