"""Speed benchmark: `axialsr run`'s default (train the lateral regressor, restore) on CPU, side by side.

    python benchmarks/speed.py [--cases em_x4_average,fluo_x4_average] [--configs before,bf16] [--merge] [--tag _amd]

Each configuration runs `api.run` (method `lateral`, the small preset) on a quality case in a fresh
process with one torch thread, and reports the training and restoration wall times and the PSNR against
the truth (results/speed{tag}.json and .md: a tag keeps another machine's run apart). Configurations:

- `before`: the code of commit `--before` (fp32, contiguous weights), from a git worktree;
- `fp32`: this code in fp32 (channels-last weights);
- `bf16`: this code in bfloat16 autocast (the default on CPUs with native bf16);
- `bf16-2views`: no flipped copies, 2 views instead of 8 (views against PSNR);
- `bf16-300steps`: half the training steps.

Also the FLOP-limit ratio: the regressor's FLOPs per training step and per output voxel (counted by
`torch.utils.flop_counter`), divided by the measured time, against the core's sustained matrix-product
rate in the same arithmetic (a large matmul, one thread).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_header import (  # noqa: E402
    RESULTS,
    header_markdown,
    machine_header,
    rewrite_markdown,
    write_json,
)

CASES = ("em_x4_average", "fluo_x4_average")
CONFIGS = {
    "before": {"code": "before", "precision": None},
    "fp32": {"code": "now", "precision": "fp32"},
    "bf16": {"code": "now", "precision": "bf16"},
    "bf16-2views": {"code": "now", "precision": "bf16", "flips": False},
    "bf16-300steps": {"code": "now", "precision": "bf16", "steps": 300},
}
COLUMNS = ("case", "psnr_3d", "psnr_change", "train_s", "restore_s", "total_s", "speedup", "mvoxel_per_h")


def one(case: str, config: dict) -> dict:
    """One configuration on one case, in this process (with whatever axialsr is on the path)."""
    import torch
    from quality import case_data, parse_case

    from axialsr import api
    from axialsr.methods.lateral import LateralConfig
    from axialsr.settings import PriorConfig, RestoreConfig

    torch.set_num_threads(1)
    kind, factor, model = parse_case(case)
    gt, lr, _ = case_data(kind, factor, model)
    acquisition = api.Acquisition(factor, model)
    runtime_kwargs = {"device": "cpu", "seed": 0, "threads": 1, "progress": False}
    if config.get("precision"):
        runtime_kwargs["precision"] = config["precision"]
    lateral = PriorConfig(kind="lateral", preset="small", steps=config.get("steps"))
    restore = RestoreConfig(methods={"lateral": LateralConfig(flips=config.get("flips", "z"))})
    run_config = api.RunConfig(lateral_prior=lateral, restore=restore)
    start = time.perf_counter()
    result = api.run(lr, run_config, acquisition=acquisition, runtime=api.Runtime(**runtime_kwargs))
    total = time.perf_counter() - start
    train_s = sum(float(p.meta.get("seconds", 0.0)) for p in result.priors)
    scores = api.score_row(result.volume, gt, acquisition)
    return {
        "case": case,
        "psnr_3d": scores["psnr_3d"],
        "ssim_xz": scores["ssim_xz"],
        "train_s": train_s,
        "restore_s": total - train_s,
        "total_s": total,
        "output_voxels": int(result.volume.data.size),
        "axialsr": api.__file__,
    }


def flop_limit() -> dict:
    """FLOPs of the small lateral UNet (per training step of 16 64x64 patches; per output voxel with 8
    views) and the sustained matmul rate of one core in fp32 and bf16 (GFLOP/s)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from axialsr.learning.networks import make_unet
    from axialsr.settings import PRESETS

    torch.set_num_threads(1)
    net = make_unet(PRESETS["small"]["lateral_unet"], 64, 1, "lateral")
    x = torch.randn(16, 1, 64, 64)
    with FlopCounterMode(display=False) as counter:
        net(x).pow(2).mean().backward()
    train_flops = counter.get_total_flops()
    plane = torch.randn(1, 1, 64, 128)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(plane)
    voxel_flops = counter.get_total_flops() / plane[0, 0].numel() * 8  # 8 views per output voxel
    rates = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a = torch.randn(2048, 2048, dtype=dtype)
        b = torch.randn(2048, 2048, dtype=dtype)
        a @ b
        start = time.perf_counter()
        for _ in range(5):
            a @ b
        rates[name] = 5 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9
    return {"train_gflop_per_step": train_flops / 1e9, "flop_per_output_voxel": voxel_flops, "peak_gflops": rates}


def run_one(case: str, name: str, before_src: Path | None) -> dict:
    """`one` in a fresh process, one thread; the `before` code from its worktree."""
    config = CONFIGS[name]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if config["code"] == "before":
        env["PYTHONPATH"] = str(before_src)
    cmd = [sys.executable, __file__, "--one", case, name]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=HERE)
    if done.returncode:
        raise RuntimeError(f"{case} / {name} failed:\n{done.stderr[-3000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row["config"] = row["method"] = name
    print(f"{case} {name}: {row['psnr_3d']:.3f} dB, {row['total_s']:.0f} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--lanes", type=int, default=2, help="configurations run at once (one core each)")
    parser.add_argument("--before", default="4d8dd93", help="the commit of the `before` configuration")
    parser.add_argument("--one", nargs=2, metavar=("CASE", "CONFIG"), help=argparse.SUPPRESS)
    parser.add_argument("--note", default="", help="a line on the conditions of the run, for the results")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite speed.md from speed.json")
    parser.add_argument("--merge", action="store_true", help="keep speed.json's rows of the cases/configs not run")
    parser.add_argument("--tag", default="", help="suffix of the result files (another machine's run)")
    args = parser.parse_args()
    if args.markdown_only:
        rewrite_markdown(f"speed{args.tag}", args.note, lambda payload: write_markdown(payload, args.tag))
        return
    if args.one:
        case, name = args.one
        print(json.dumps(one(case, CONFIGS[name])))
        return
    from axialsr.device import cpu_has_native_bf16

    cases, names = args.cases.split(","), args.configs.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        before_src = None
        if "before" in names:
            worktree = Path(tmp) / "before"
            subprocess.run(["git", "worktree", "add", "--detach", str(worktree), args.before], check=True, cwd=HERE)
            before_src = worktree / "src"
        try:
            jobs = [(case, name) for case in cases for name in names]
            with ThreadPoolExecutor(args.lanes) as pool:
                rows = list(pool.map(lambda job: run_one(*job, before_src), jobs))
        finally:
            if before_src is not None:
                subprocess.run(["git", "worktree", "remove", "--force", str(before_src.parent)], cwd=HERE, check=False)
    for row in rows:
        base = next((r for r in rows if r["case"] == row["case"] and r["config"] == "before"), None)
        row["speedup"] = base["total_s"] / row["total_s"] if base else float("nan")
        row["mvoxel_per_h"] = row["output_voxels"] / 1e6 / (row["restore_s"] / 3600)
        row["psnr_change"] = row["psnr_3d"] - base["psnr_3d"] if base else float("nan")
    flops = flop_limit()  # alone on the machine, after the runs; sets one torch thread, as the runs had
    header = machine_header() | {"native_bf16": cpu_has_native_bf16(), "lanes": args.lanes}
    payload = {"header": header, "before": args.before, "rows": rows, "flops": flops, "note": args.note}
    result = RESULTS / f"speed{args.tag}.json"
    if args.merge and result.exists():  # keep the earlier rows of other cases/configs
        earlier = json.loads(result.read_text())
        ran = {(r["case"], r["config"]) for r in rows}
        kept = [r for r in earlier["rows"] if (r["case"], r["config"]) not in ran]
        payload["rows"] = sorted(kept + rows, key=lambda r: (r["case"], list(CONFIGS).index(r["config"])))
        payload["earlier_runs"] = [*earlier.get("earlier_runs", []), earlier["header"]]
        payload["note"] = args.note or earlier.get("note", "")
    write_json(result, payload)
    write_markdown(payload, args.tag)


def write_markdown(payload: dict, tag: str = "") -> None:
    """results/speed{tag}.md from the JSON payload."""
    from axialsr.frontends.tables import markdown_table
    from axialsr.settings import FLIPS, PRESETS, flips_setting

    flops = payload["flops"]
    peak = flops["peak_gflops"]
    lines = [
        "# Speed benchmark: `run`'s default on CPU\n\n",
        header_markdown(payload["header"]),
        f"\n`before` is commit {payload['before']}; every row is one process with one torch thread, "
        f"{payload['header']['lanes']} at a time. total_s is `api.run` (training + restoration + projection); "
        "speedup against `before` on the same case; Mvoxel/h of the restoration alone.\n\n",
        f"{payload['note']}\n\n" if payload.get("note") else "",
        markdown_table(payload["rows"], COLUMNS),
        "\n## FLOP limit\n\n",
        f"Small lateral UNet: {flops['train_gflop_per_step']:.1f} GFLOP per training step (16 patches of 64x64, "
        f"forward and backward), {flops['flop_per_output_voxel'] / 1e3:.1f} kFLOP per output voxel (8 views). "
        f"One core's sustained matmul rate: {peak['fp32']:.0f} GFLOP/s in fp32, {peak['bf16']:.0f} in bf16.\n\n",
        "| case | config | training GFLOP/s | of the matmul rate | restoration GFLOP/s | of the matmul rate |\n",
        "|---|---|---|---|---|---|\n",
    ]
    for row in payload["rows"]:
        precision = "bf16" if "bf16" in row["config"] else "fp32"
        steps = CONFIGS[row["config"]].get("steps") or PRESETS["small"]["steps"]["lateral"]
        views = 2 * len(FLIPS[flips_setting(CONFIGS[row["config"]].get("flips", "z"))])
        train_rate = flops["train_gflop_per_step"] * steps / row["train_s"]
        restore_rate = flops["flop_per_output_voxel"] / 8 * views * row["output_voxels"] / row["restore_s"] / 1e9
        lines.append(
            f"| {row['case']} | {row['config']} | {train_rate:.1f} | {train_rate / peak[precision]:.0%} | "
            f"{restore_rate:.1f} | {restore_rate / peak[precision]:.0%} |\n"
        )
    (RESULTS / f"speed{tag}.md").write_text("".join(lines))
    print(f"wrote {RESULTS}/speed{tag}.json and speed{tag}.md")


if __name__ == "__main__":
    main()
