"""Stripes at the slab boundaries: where they come from, and what the slab phase adds to them.

    python benchmarks/stripes.py ideal                              # banding of the ideal estimator
    python benchmarks/stripes.py case confocal_x4_average on        # one case, the slab phase on or off
    python benchmarks/stripes.py assemble                           # results/stripes.md

`ideal`: the exact posterior mean (the estimator of least squared error, which a regressor trained with
an L2 loss approaches) of a stationary Gaussian process measured by slab averages at factor s, computed
in closed form for a squared-exponential and an exponential covariance of length l (output voxels); its
`banding` (mean |v[z+1] - v[z]| across slab boundaries over that within slabs, `metrics.banding_index`)
is the expected one over the process, per phase of the pair in its slab. The truth's is 1 by stationarity.
Wherever the process has structure at or below the slab scale, the ideal estimator's banding is above 1:
the slab averages pin each slab's mean, and the estimate changes most between slabs. Banding within 0.1 of
the truth's is then out of reach for any estimator of least squared error, and a measure of stripes an
estimator adds beyond that is the boundary step (`metrics.boundary_step_index`: a step at the boundary
against the pairs beside it) and the comparison with cubic interpolation.

`case`: `run`'s default regressor on a quality-benchmark case (preset small, default steps, the case's
acquisition as `run` finds it) with the slab phase `on` (patches start on slab boundaries) or `off`
(patches start on any row: phase-blind), restored with `run`'s defaults; PSNR of the volume, banding,
boundary step and axial power. One process per row, one torch thread. The dev rows (`stripes_dev.json`)
hold one more variant, measured once with a patched tree (code not kept): the slab phase off but patches
still starting on slab boundaries, as before this change.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, machine_header, write_json  # noqa: E402
from quality import case_acquisition, case_data, parse_case, seen_scores  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.frontends.tables import markdown_table  # noqa: E402
from axialsr.settings import PriorConfig, Runtime  # noqa: E402

CPU = Runtime(device="cpu", seed=0, progress=False)
COLUMNS = ("case", "psnr_3d", "banding", "step", "axial_power", "truth_banding", "train_s", "slab_phase", "native_bf16")


def ideal(factor: int = 4, slabs: int = 48) -> list[dict]:
    """Banding, per pair phase, of the exact posterior mean of stationary Gaussian processes."""
    n = factor * slabs
    z = np.arange(n)
    measure = np.zeros((slabs, n))
    for k in range(slabs):
        measure[k, k * factor : (k + 1) * factor] = 1.0 / factor
    diff = (np.eye(n, k=1) - np.eye(n))[:-1]
    distance = np.abs(z[:, None] - z[None, :]).astype(np.float64)
    rows = []
    for name, length in (
        ("squared-exponential", 2.0),
        ("squared-exponential", 4.0),
        ("exponential", 4.0),
        ("exponential", 8.0),
    ):
        cov = np.exp(-(distance**2) / (2 * length**2)) if name == "squared-exponential" else np.exp(-distance / length)
        cov += 1e-6 * np.eye(n)
        measured_cov = measure @ cov @ measure.T
        weights = cov @ measure.T @ np.linalg.inv(measured_cov)  # posterior mean = weights @ measurements
        spread = np.sqrt(np.diag(diff @ weights @ measured_cov @ weights.T @ diff.T))
        phase = np.arange(n - 1) % factor
        inner = slice(factor, -factor)  # away from the ends
        by_phase = np.array([spread[inner][phase[inner] == p].mean() for p in range(factor)])
        by_phase /= by_phase[: factor - 1].mean()
        rows.append(
            {
                "method": f"{name}, l = {length:g}",
                "factor": factor,
                "banding": float(by_phase[-1]),  # the |E|-proportional spread of a Gaussian difference
                "by_phase": ", ".join(f"{v:.2f}" for v in by_phase),
            }
        )
    return rows


def run_row(case_name: str, variant: str) -> None:
    case = parse_case(case_name)
    gt, lr, _ = case_data(*case)
    acquisition = case_acquisition(case, lr)
    config = PriorConfig(kind="lateral", preset="small", slab_phase=variant)
    started = time.perf_counter()
    prior = api.train_prior(lr, config, out_dir=None, acquisition=acquisition, runtime=CPU)
    train_s = time.perf_counter() - started
    out, _ = api.restore(lr, "lateral", acquisition=acquisition, priors=prior, runtime=CPU)
    header = machine_header()
    row = {
        "case": case_name,
        "method": f"slab phase {variant}",
        "slab_phase": variant,
        "psnr_3d": api.score_row(out, gt, acquisition)["psnr_3d"],
        **seen_scores(out.data, case[1], None, None),
        "truth_banding": seen_scores(gt.data, case[1], None, None)["banding"],
        "train_s": train_s,
        "native_bf16": header["native_bf16"],
        "machine": header,
    }
    write_json(RESULTS / f"stripes_row_{case_name}_{variant}.json", row)
    print(json.dumps({k: v for k, v in row.items() if k != "machine"}))


def _machine(header: dict) -> str:
    return f"{header['cpu']} (native bf16: {header['native_bf16']}), commit {header['commit']}"


def assemble() -> None:
    about = (__doc__ or "").split("\n\n", 2)[2].strip()
    lines = ["# Stripes at the slab boundaries", "", about, "", "## The ideal estimator", ""]
    lines += [markdown_table(ideal(4) + ideal(8), ("factor", "banding", "by_phase")), ""]
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("stripes_row_*.json"))]
    if rows:
        machines = sorted({_machine(r["machine"]) for r in rows})
        table = markdown_table(rows, COLUMNS)
        lines += ["## The slab phase on and off", "", table, "", "Machines: " + "; ".join(machines), ""]
    dev = RESULTS / "stripes_dev.json"
    if dev.exists():
        payload = json.loads(dev.read_text())
        table = markdown_table(payload["rows"], ("case", *payload["columns"]))
        lines += ["## Dev rows", "", payload["note"], "", table, ""]
    (RESULTS / "stripes.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("ideal", "case", "assemble"))
    parser.add_argument("case", nargs="?")
    parser.add_argument("variant", nargs="?", choices=("on", "off"))
    args = parser.parse_args()
    if args.what == "ideal":
        print(markdown_table(ideal(4) + ideal(8), ("factor", "banding", "by_phase")))
    elif args.what == "case":
        run_row(args.case, args.variant)
    else:
        assemble()


if __name__ == "__main__":
    main()
