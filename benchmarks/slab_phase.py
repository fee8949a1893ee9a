"""The slab phase (`PriorConfig.slab_phase`) with and without, on a synthetic case, per seed: what it costs where
it was measured to cost (`fluoaxial_x4`, whose truth has an axial blur; fluo x4, where it raises banding). The
regressor is trained with the quality benchmark's settings (preset small, default steps) and restored with
`run`'s defaults; PSNR of the volume, banding and boundary step (`axialsr.evaluation.metrics`). One process per row,
one torch thread, CPU.

    python benchmarks/slab_phase.py fluoaxial_x4_average 1 0   # case, slab phase on (1) / off (0), seed
    python benchmarks/slab_phase.py assemble                   # -> results/slab_phase.md
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_header import RESULTS, machine_header, write_json  # noqa: E402
from quality import case_data, parse_case  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.evaluation.metrics import banding_index, boundary_step_index  # noqa: E402
from axialsr.frontends.tables import markdown_table  # noqa: E402
from axialsr.settings import PriorConfig, Runtime  # noqa: E402


def run(name: str, slab_phase: bool, seed: int) -> None:
    case = parse_case(name)
    gt, lr, _ = case_data(*case)
    acquisition = api.Acquisition(case[1], case[2])
    runtime = Runtime(device="cpu", seed=seed, progress=False)
    config = PriorConfig(kind="lateral", preset="small", slab_phase=slab_phase)
    prior = api.train_prior(lr, config, out_dir=None, acquisition=acquisition, runtime=runtime)
    out, info = api.restore(lr, "lateral", acquisition=acquisition, priors=prior, runtime=runtime)
    data = np.asarray(out.data)
    row = {
        "case": name,
        "slab_phase": slab_phase,
        "seed": seed,
        "psnr_3d": api.score_row(out, gt, acquisition)["psnr_3d"],
        "banding": banding_index(data, case[1]),
        "step": boundary_step_index(data, case[1]),
        "axial_blur": prior.meta["axial_blur"],
        "train_s": float(prior.meta.get("seconds", 0.0)),
    }
    print(row, flush=True)
    tag = f"{name}_{'on' if slab_phase else 'off'}_seed{seed}"
    write_json(RESULTS / f"slab_phase_{tag}.json", {"row": row, "machine": machine_header()})


def assemble() -> None:
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("slab_phase_*.json"))]
    rows = [{"method": f"slab phase {'on' if p['row']['slab_phase'] else 'off'}", **p["row"]} for p in parts]
    text = ["# The slab phase, with and without", "", (__doc__ or "").split("\n\n")[0], ""]
    text += [markdown_table(rows, ("case", "seed", "psnr_3d", "banding", "step", "axial_blur")), ""]
    machines = sorted({f"{p['machine'].get('cpu')}, commit {p['machine'].get('commit')}" for p in parts})
    text += [f"Machine: {', '.join(machines)}.", ""]
    (RESULTS / "slab_phase.md").write_text("\n".join(text))


if __name__ == "__main__":
    torch.set_num_threads(1)
    if sys.argv[1] == "assemble":
        assemble()
    else:
        run(sys.argv[1], sys.argv[2] == "1", int(sys.argv[3]))
