"""Prior speed benchmark: training steps/s, forward passes/s and peak memory per preset, in one run.

    python benchmarks/prior_speed.py [--presets tiny,small,base] [--steps 20] [--device cpu|cuda]

Each preset runs in its own subprocess so that its peak resident memory (ru_maxrss) is its own. A training
step is a full AdamW step at the preset's batch size and patch; a forward pass is one UNet call (no
gradient) at the same batch (what SDS costs per iteration) and at batch 1. Medians over `--steps` timed
repetitions after 3 warm-up steps. Writes results/prior_speed{tag}.json and .md.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402


def measure(preset: str, steps: int, device: str) -> dict:
    import torch

    from axialsr.learning.networks import make_scheduler, make_unet
    from axialsr.settings import PriorConfig

    cfg = PriorConfig(preset=preset).resolved()
    dev = torch.device(device)
    unet = make_unet(cfg.unet, cfg.patch).to(dev)
    alphas = make_scheduler(cfg.timesteps, cfg.beta_schedule).alphas_cumprod.to(dev)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr)
    x0 = torch.randn(cfg.batch, 1, cfg.patch, cfg.patch, device=dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def train_step() -> None:
        t = torch.randint(0, cfg.timesteps, (cfg.batch,), device=dev)
        noise = torch.randn_like(x0)
        a = alphas[t].view(-1, 1, 1, 1)
        loss = torch.nn.functional.mse_loss(unet(a.sqrt() * x0 + (1 - a).sqrt() * noise, t).sample, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def timed(fn, n: int) -> float:
        for _ in range(3):
            fn()
        sync()
        times = []
        for _ in range(n):
            start = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    train = timed(train_step, steps)
    t_batch = torch.randint(0, cfg.timesteps, (cfg.batch,), device=dev)
    with torch.no_grad():
        fwd = timed(lambda: unet(x0, t_batch), steps)
        fwd1 = timed(lambda: unet(x0[:1], t_batch[:1]), steps)
    peak_gpu = torch.cuda.max_memory_allocated() / 2**20 if dev.type == "cuda" else None
    return {
        "preset": preset,
        "device": device,
        "patch": cfg.patch,
        "batch": cfg.batch,
        "parameters": sum(p.numel() for p in unet.parameters()),
        "train_steps_per_s": 1 / train,
        "train_patches_per_s": cfg.batch / train,
        "forward_per_s_batch": 1 / fwd,
        "forward_per_s_1": 1 / fwd1,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_gpu_mib": peak_gpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small,base")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tag", default="")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.steps, args.device)))
        return
    rows = []
    for preset in args.presets.split(","):
        steps = args.steps if preset != "base" or args.device != "cpu" else max(3, args.steps // 4)
        proc = subprocess.run(
            [sys.executable, __file__, "--child", preset, "--steps", str(steps), "--device", args.device],
            capture_output=True,
            text=True,
            check=True,
        )
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(row)
    header = machine_header()
    write_json(RESULTS / f"prior_speed{args.tag}.json", {"header": header, "rows": rows})
    cols = [
        "preset",
        "device",
        "patch",
        "batch",
        "parameters",
        "train_steps_per_s",
        "train_patches_per_s",
        "forward_per_s_batch",
        "forward_per_s_1",
        "peak_rss_mib",
        "peak_gpu_mib",
    ]
    lines = ["# Prior speed\n", header_markdown(header), "\n| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(f"{r[c]:.2f}" if isinstance(r[c], float) else str(r[c]) for c in cols) + " |")
    (RESULTS / f"prior_speed{args.tag}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
