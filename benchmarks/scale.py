"""Scale benchmark: blockwise restoration of growing volumes at a fixed block size.

    python benchmarks/scale.py            # cubic: sizes x1..x8 (in blocks), single-scale and with a 3-level
                                          # pyramid; INR: x1, x2, x4, and x4 with 2 workers
    python benchmarks/scale.py --quick    # cubic only, smaller

Every configuration runs in a fresh process (so that peak memory is its own): the measured volume is
written to Zarr, then restored with `axialsr.api.restore(..., blocks=...)` (INR, fidelity only, a short
schedule: the cost per block, not the quality, is measured here; and cubic interpolation). Reports the
peak resident memory (VmHWM) of the workers and of the main process (which blends the output), the wall time and
the throughput in output voxels per second. Memory should stay flat as the volume grows, with or without
the multiscale pyramid; time should grow linearly. The largest pyramid is checked: its level 0 equals the
single-scale output and each coarser level the mean-downsampled level 0 (within a grey level per level).
Writes results/scale.json and results/scale.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import (  # noqa: E402
    RESULTS,
    header_markdown,
    machine_header,
    rewrite_markdown,
    write_json,
)

FACTOR = 4.0
BLOCK = (8, 64, 64)  # measured voxels
OVERLAP = 8  # output voxels
TILE = (64, 128, 128)  # isotropic synthetic tile, repeated to build bigger volumes
PYRAMID = 3  # levels of the pyramid rows
SIZES = {"x1": (16, 128, 128), "x2": (16, 256, 128), "x4": (16, 256, 256), "x8": (32, 256, 256)}
COLUMNS = (
    "size",
    "method",
    "workers",
    "levels",
    "blocks",
    "output_voxels",
    "seconds",
    "voxels_per_s",
    "peak_worker_mib",
    "peak_main_mib",
)


def one(size: str, method: str, workers: int, iters: int, folder: Path, levels: int = 1) -> dict:
    """One configuration, in this process: build the input, restore it blockwise, report."""

    from axialsr import api
    from axialsr.io import open_source, write_volume
    from axialsr.methods.inr import ReconstructionConfig
    from axialsr.pipeline.blocks import BlockConfig, peak_rss_mib
    from axialsr.settings import RestoreConfig

    shape = SIZES[size]
    source = folder / f"lr_{size}.zarr"
    if method == "make":
        tile = api.simulate_acquisition(api.synth("em", TILE, seed=0), api.Acquisition(FACTOR))
        reps = [int(np.ceil(n / t)) for n, t in zip(shape, tile.data.shape, strict=True)]
        data = np.tile(tile.data, reps)[: shape[0], : shape[1], : shape[2]]
        write_volume(source, data, tile.voxel_size, force=True)
        return {"size": size}
    before = peak_rss_mib()
    config = RestoreConfig(methods={"recon": ReconstructionConfig(iters=iters)})
    summary = api.restore(
        open_source(source),
        method,
        out=str(out_path(folder, size, method, workers, levels)),
        acquisition=api.Acquisition(FACTOR),
        priors=None,
        config=config,
        blocks=BlockConfig(
            blocks=BLOCK, overlap=OVERLAP, workers=workers, threads_per_worker=1, pyramid_levels=str(levels)
        ),
        force=True,
        runtime=api.Runtime(device="cpu", progress=False),
    )
    out_voxels = int(round(shape[0] * FACTOR)) * shape[1] * shape[2]
    return {
        "size": size,
        "method": method,
        "workers": workers,
        "levels": levels,
        "input_shape": list(shape),
        "blocks": summary.blocks_total,
        "output_voxels": out_voxels,
        "seconds": summary.seconds,
        "voxels_per_s": out_voxels / summary.seconds,
        "peak_worker_mib": summary.peak_worker_rss_mib,
        "peak_main_mib": summary.peak_main_rss_mib,
        "main_mib_before_run": before,
        "mean_block_seconds": float(np.mean(summary.block_seconds)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="cubic only, sizes x1 and x2")
    parser.add_argument("--iters", type=int, default=30, help="INR iterations per block")
    parser.add_argument("--one", nargs=4, metavar=("SIZE", "METHOD", "WORKERS", "LEVELS"), help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--note", default="", help="a line on the conditions of the run, for the results")
    parser.add_argument("--markdown-only", action="store_true", help="rewrite scale.md from scale.json")
    parser.add_argument(
        "--equality-only", action="store_true", help="only compare blockwise with whole-volume interpolation"
    )
    args = parser.parse_args()
    if args.equality_only:
        payload = json.loads((RESULTS / "scale.json").read_text())
        payload["equality"] = equality()
        payload.setdefault("later_runs", []).append(machine_header())
        write_json(RESULTS / "scale.json", payload)
        write_markdown(payload)
        return
    if args.markdown_only:
        rewrite_markdown("scale", args.note, write_markdown)
        return
    if args.one:
        size, method, workers, levels = args.one
        print(json.dumps(one(size, method, int(workers), args.iters, Path(args.folder), int(levels))))
        return
    sizes = ["x1", "x2"] if args.quick else ["x1", "x2", "x4", "x8"]
    runs = [(size, "cubic", 1, 1) for size in sizes] + [(size, "cubic", 1, PYRAMID) for size in sizes]
    if not args.quick:
        inr_sizes = sizes[:3]
        runs += [(size, "inr", 1, 1) for size in inr_sizes] + [(inr_sizes[-1], "inr", 2, 1)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # inputs are written first, each in its own process, so that no run's memory includes making them
        runs = [(size, "make", 0, 1) for size in sizes] + runs
        for size, method, workers, levels in runs:
            cmd = [
                sys.executable,
                __file__,
                "--one",
                size,
                method,
                str(workers),
                str(levels),
                "--folder",
                tmp,
                "--iters",
                str(args.iters),
            ]
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            if method == "make":
                continue
            rows.append(row)
            print(" ".join(f"{k}={row[k]:.4g}" if isinstance(row[k], float) else f"{k}={row[k]}" for k in COLUMNS))
        pyramid = pyramid_check(Path(tmp), sizes[-1])
    header = machine_header()
    settings = {"factor": FACTOR, "block": BLOCK, "overlap": OVERLAP, "inr_iters": args.iters, "threads_per_worker": 1}
    payload = {"header": header, "settings": settings, "rows": rows, "pyramid": pyramid, "note": args.note}
    write_json(RESULTS / "scale.json", payload)
    write_markdown(payload)


def out_path(folder: Path, size: str, method: str, workers: int, levels: int) -> Path:
    """Where one configuration writes its output."""
    return folder / f"out_{size}_{method}_{workers}_{levels}.zarr"


def pyramid_check(folder: Path, size: str) -> list[dict]:
    """The cubic pyramid of `size` against its single-scale twin: level 0 against the single-scale output,
    level l against level 0 mean-downsampled l times (largest difference in grey levels)."""
    import zarr

    from axialsr.io.pyramid import downsample_mean

    single = np.asarray(zarr.open_group(out_path(folder, size, "cubic", 1, 1), mode="r")["0"])
    group = zarr.open_group(out_path(folder, size, "cubic", 1, PYRAMID), mode="r")
    reference = single.astype(np.float64)
    rows = []
    for level in range(PYRAMID):
        if level:
            reference = downsample_mean(reference)
        values = np.asarray(group[str(level)])
        assert values.shape == reference.shape, (values.shape, reference.shape)
        diff = np.abs(values.astype(np.float64) - reference)
        rows.append({"level": level, "shape": list(values.shape), "max_grey_levels": float(diff.max())})
        print(rows[-1])
    return rows


def equality() -> list[dict]:
    """Blockwise against whole-volume interpolation on an 8-bit volume (x4, blocks of 4 measured slices,
    overlap 8): the largest difference in grey levels and how many voxels differ by more than one."""
    from axialsr import api
    from axialsr.io import open_source, read_volume, write_volume
    from axialsr.pipeline.blocks import BlockConfig, run_blockwise

    truth = api.synth("em", (128, 128, 128), seed=0)  # uint8
    acquisition = api.Acquisition(FACTOR)
    measured = api.simulate_acquisition(truth, acquisition)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        write_volume(Path(tmp) / "lr.tif", measured.data, measured.voxel_size)
        for method in ("nearest", "linear", "cubic"):
            out = Path(tmp) / f"{method}.zarr"
            run_blockwise(
                open_source(Path(tmp) / "lr.tif"),
                out,
                method,
                acquisition=acquisition,
                config=BlockConfig(blocks=(4, 64, 64), overlap=OVERLAP, workers=0),
                runtime=api.Runtime(device="cpu", progress=False),
            )
            whole, _ = api.restore(
                measured, method, acquisition=acquisition, runtime=api.Runtime(device="cpu", progress=False)
            )
            diff = np.abs(read_volume(out).data.astype(int) - whole.data.astype(int))
            rows.append({"method": method, "max_grey_levels": int(diff.max()), "voxels_over_1": int((diff > 1).sum())})
            print(rows[-1])
    return rows


def write_markdown(payload: dict) -> None:
    """results/scale.md from the JSON payload."""
    from axialsr.frontends.tables import markdown_table

    md = [
        "# Scale benchmark\n\n",
        header_markdown(payload["header"]),
        f"\nSettings: `{payload['settings']}`\n\n",
        f"{payload['note']}\n\n" if payload.get("note") else "",
        markdown_table(payload["rows"], [c for c in COLUMNS if c != "method"]),
    ]
    if payload.get("pyramid"):
        md.append(
            "\n## The pyramid of the largest cubic output\n\nLevel 0 against the single-scale output, level l "
            "against level 0 mean-downsampled l times (uint8; rounding once per level makes level l within l/2 of "
            "the mean).\n\n"
            "| level | shape | max difference (grey levels) |\n|---|---|---|\n"
        )
        md += [f"| {r['level']} | {r['shape']} | {r['max_grey_levels']:.2f} |\n" for r in payload["pyramid"]]
    if payload.get("equality"):
        md.append(
            "\n## Blockwise equals whole-volume\n\nInterpolations of an 8-bit EM volume (128^3 truth, x4: 32 slabs), "
            "blocks of 4 measured slices and 64 px, overlap 8: each method's z context widens the overlap.\n\n"
            "| method | max difference (grey levels of 255) | voxels off by more than 1 |\n|---|---|---|\n"
        )
        md += [f"| {r['method']} | {r['max_grey_levels']} | {r['voxels_over_1']} |\n" for r in payload["equality"]]
    (RESULTS / "scale.md").write_text("".join(md))
    print(f"wrote {RESULTS}/scale.json and scale.md")


if __name__ == "__main__":
    main()
