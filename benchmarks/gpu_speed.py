"""GPU speed benchmark (the device check of benchmarks/gpu.sh): throughput of every stage on one device.

    python benchmarks/gpu_speed.py --out DIR [--device cuda] [--tiny]

Measures, on `--device`: training steps/s of each prior kind per preset; the lateral regressor's inference
(output voxels/s); INR reconstruction iterations/s (fidelity only and with SDS); and one end-to-end `run`
(the default method) on a synthetic 64x256x256 EM volume at x4, with its PSNR next to the same run on the
CPU (same seed). Writes DIR/gpu_speed.json and DIR/gpu.md. `--tiny` shrinks every size (a check of the
script on a CPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import header_markdown, machine_header  # noqa: E402


def _sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def prior_steps_per_second(kind: str, preset: str, device: str, steps: int, measured, acquisition) -> float:
    from axialsr.learning.prior_training import train_prior
    from axialsr.settings import PriorConfig, Runtime

    runtime = Runtime(device=device, progress=False)
    cfg = PriorConfig(kind=kind, preset=preset, steps=steps)
    warm = PriorConfig(kind=kind, preset=preset, steps=2)
    train_prior(measured, warm, acquisition=acquisition, runtime=runtime)  # warm-up (kernels, allocator)
    _sync(device)
    start = time.perf_counter()
    train_prior(measured, cfg, acquisition=acquisition, runtime=runtime)
    _sync(device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    import numpy as np
    import torch

    from axialsr import api
    from axialsr.methods.inr import ReconstructionConfig
    from axialsr.settings import PriorConfig, RestoreConfig, Runtime

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    device = args.device
    shape = (32, 64, 64) if args.tiny else (64, 256, 256)
    presets = ["tiny"] if args.tiny else ["small", "base"]
    steps = 3 if args.tiny else 30
    acquisition = api.Acquisition(4)
    truth = api.synth("em", shape, seed=0, dtype="float32")
    measured = api.simulate_acquisition(truth, acquisition)
    results: dict = {"device": device, "shape": list(shape), "priors": [], "stages": {}}
    runtime = Runtime(device=device, progress=False)

    for preset in presets:
        for kind in ("diffusion", "conditional", "lateral"):
            rate = prior_steps_per_second(kind, preset, device, steps, measured.data, acquisition)
            results["priors"].append({"preset": preset, "kind": kind, "steps_per_s": rate})
            print(f"{preset} {kind}: {rate:.2f} training steps/s", flush=True)

    preset = presets[0] if args.tiny else "base" if torch.device(device).type == "cuda" else "small"
    lateral = api.train_prior(
        measured,
        PriorConfig(kind="lateral", preset=preset, steps=steps),
        out_dir=None,
        acquisition=acquisition,
        runtime=runtime,
    )
    start = time.perf_counter()
    restored, info = api.restore(
        measured, "lateral", acquisition=acquisition, priors=lateral, config=RestoreConfig(), runtime=runtime
    )
    _sync(device)
    seconds = time.perf_counter() - start
    results["stages"]["lateral_voxels_per_s"] = restored.data.size / seconds
    for name, prior, lam in (("inr", None, 0.0), ("inr-sds", "diffusion", 1.0)):
        iters = 20 if args.tiny else 300
        priors = []
        if prior:
            priors = [api.train_prior(measured, PriorConfig(preset=preset, steps=steps), out_dir=None, runtime=runtime)]
        recon = ReconstructionConfig(iters=iters, lambda_sds=lam)
        start = time.perf_counter()
        api.restore(
            measured,
            name,
            acquisition=acquisition,
            priors=priors,
            config=RestoreConfig(methods={"recon": recon}),
            runtime=runtime,
        )
        _sync(device)
        results["stages"][f"{name}_iters_per_s"] = iters / (time.perf_counter() - start)

    end_to_end = {}
    for run_device in dict.fromkeys([device, "cpu"]):
        start = time.perf_counter()
        tiny = PriorConfig(kind="lateral", preset="tiny") if args.tiny else PriorConfig(kind="lateral")
        config = api.RunConfig(lateral_prior=tiny)
        result = api.run(
            measured, config, work_dir=None, acquisition=acquisition, runtime=Runtime(device=run_device, progress=False)
        )
        seconds = time.perf_counter() - start
        psnr = api.evaluate(result.volume, truth)["3d"]["psnr"]
        end_to_end[run_device] = {"seconds": seconds, "psnr": psnr, "voxels": int(np.prod(result.volume.data.shape))}
        print(f"run on {run_device}: {seconds:.0f} s, {psnr:.2f} dB", flush=True)
    results["end_to_end"] = end_to_end
    header = machine_header()
    (out / "gpu_speed.json").write_text(json.dumps({"header": header, **results}, indent=2))
    lines = ["# GPU speed\n\n", header_markdown(header), "\n| preset | kind | training steps/s |\n|---|---|---|\n"]
    lines += [f"| {r['preset']} | {r['kind']} | {r['steps_per_s']:.2f} |\n" for r in results["priors"]]
    lines.append("\n| stage | throughput |\n|---|---|\n")
    lines += [f"| {k} | {v:.4g} |\n" for k, v in results["stages"].items()]
    lines.append("\n| run (default method) on | seconds | PSNR dB | Gvoxel/hour |\n|---|---|---|---|\n")
    for dev, row in end_to_end.items():
        rate = row["voxels"] / row["seconds"] * 3600 / 1e9
        lines.append(f"| {dev} | {row['seconds']:.0f} | {row['psnr']:.2f} | {rate:.3f} |\n")
    (out / "gpu.md").write_text("".join(lines))
    print(f"wrote {out}/gpu.md")


if __name__ == "__main__":
    main()
