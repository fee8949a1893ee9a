"""Flipped copies at inference: what the passes of `LateralConfig.flips` buy, on a synthetic case with its
truth (the real crop's rows are in real_em_dev.md). The regressor is the case's default one from the quality
benchmark's cache (trained there, or here when missing); only the restoration differs. One process per case,
one torch thread, CPU.

    python benchmarks/flips.py em_x4_average     # -> results/flips_<case>.json
    python benchmarks/flips.py assemble          # -> results/flips.md
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_header import RESULTS, machine_header, write_json  # noqa: E402
from quality import case_data, ensure_prior, parse_case  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.frontends.tables import markdown_table  # noqa: E402
from axialsr.methods.lateral import LateralConfig  # noqa: E402
from axialsr.settings import RestoreConfig, Runtime  # noqa: E402

CPU = Runtime(device="cpu", seed=0, progress=False)
VARIANTS = {
    "all: up-down and left-right (4 passes a plane)": "all",
    "z: up-down (2 passes, default)": "z",
    "none (1 pass)": "none",
}


def run(name: str) -> None:
    case = parse_case(name)
    gt, lr, _ = case_data(*case)
    acquisition = api.Acquisition(case[1], case[2])
    prior = ensure_prior(case, "lateral")
    rows = []
    for label, flips in VARIANTS.items():
        config = RestoreConfig(methods={"lateral": LateralConfig(flips=flips)})
        out, info = api.restore(lr, "lateral", acquisition=acquisition, priors=prior, config=config, runtime=CPU)
        row = {"method": label, "case": name, "psnr_3d": api.score_row(out, gt, acquisition)["psnr_3d"]}
        row.update(train_s=float(prior.meta.get("seconds", 0.0)), seconds=info.seconds)
        rows.append(row)
        print(row, flush=True)
    write_json(RESULTS / f"flips_{name}.json", {"rows": rows, "machine": machine_header()})


def assemble() -> None:
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("flips_*.json"))]
    rows = [r for p in parts for r in p["rows"]]
    text = ["# Flipped copies at inference", "", (__doc__ or "").split("\n\n")[0], ""]
    text += [markdown_table(rows, ("case", "psnr_3d", "train_s", "seconds")), ""]
    machines = sorted({f"{p['machine'].get('cpu')}, commit {p['machine'].get('commit')}" for p in parts})
    text += [f"Machine: {', '.join(machines)}; restoration times on one torch thread.", ""]
    (RESULTS / "flips.md").write_text("\n".join(text))


if __name__ == "__main__":
    torch.set_num_threads(1)
    assemble() if sys.argv[1] == "assemble" else run(sys.argv[1])
