"""More training steps instead of flipped copies at inference: the lateral regressor with 4800 steps and no
flips, beside the default (2400 steps, flips), on a synthetic case with its truth (for the real crop see
real_em_dev.md). One process per case, one torch thread, CPU.

    python benchmarks/flips_vs_steps.py em_x4_average     # -> results/flips_vs_steps_<case>.json
    python benchmarks/flips_vs_steps.py assemble          # -> results/flips_vs_steps.md
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_header import RESULTS, machine_header  # noqa: E402
from quality import case_data, ensure_prior, parse_case  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.settings import LateralConfig, RestoreConfig, Runtime  # noqa: E402
from axialsr.tables import markdown_table  # noqa: E402

CPU = Runtime(device="cpu", seed=0, progress=False)
VARIANTS = {"2400 steps, flips (default)": (None, True), "4800 steps, no flips": (4800, False)}


def run(name: str) -> None:
    case = parse_case(name)
    gt, lr, _ = case_data(*case)
    acquisition = api.Acquisition(case[1], case[2])
    rows = []
    for label, (steps, flips) in VARIANTS.items():
        prior = ensure_prior(case, "lateral", steps=steps)
        config = RestoreConfig(lateral=LateralConfig(flips=flips))
        out, info = api.restore(lr, "lateral", acquisition, prior, config, runtime=CPU)
        train_s = float(prior.meta.get("seconds", 0.0))
        row = {"method": label, "case": name, "psnr_3d": api.score_row(out, gt, acquisition)["psnr_3d"]}
        row.update(train_s=train_s, seconds=info.seconds, total_s=train_s + info.seconds)
        rows.append(row)
        print(row, flush=True)
    payload = {"rows": rows, "machine": machine_header()}
    (RESULTS / f"flips_vs_steps_{name}.json").write_text(json.dumps(payload, indent=2))


def assemble() -> None:
    rows = [r for p in sorted(RESULTS.glob("flips_vs_steps_*.json")) for r in json.loads(p.read_text())["rows"]]
    text = ["# More steps instead of flipped copies", "", (__doc__ or "").split("\n\n")[0], ""]
    text += [markdown_table(rows, ("case", "psnr_3d", "train_s", "seconds", "total_s")), ""]
    (RESULTS / "flips_vs_steps.md").write_text("\n".join(text))


if __name__ == "__main__":
    torch.set_num_threads(1)
    assemble() if sys.argv[1] == "assemble" else run(sys.argv[1])
