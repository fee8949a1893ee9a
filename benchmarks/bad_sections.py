"""Missing and damaged sections: detection on every benchmark case, restoration of knocked-out sections.

    python benchmarks/bad_sections.py detect            # false positives (also with trends along z), every case
    python benchmarks/bad_sections.py restore em_x4_average   # one EM case with knocked-out sections
    python benchmarks/bad_sections.py real              # the real CREMI crop at its factor 5 (section 14)
    python benchmarks/bad_sections.py real-figure       # its XZ view around section 14
    python benchmarks/bad_sections.py export em_x4_average    # the damaged stack for the peer CARE, then
    benchmarks/cache/peers/care-venv/bin/python benchmarks/peers/care.py --case em_x4_average_damaged
    python benchmarks/bad_sections.py care em_x4_average      # its row (CARE sees the defects as data)
    python benchmarks/bad_sections.py assemble          # results/bad_sections.md from the parts

Each knocked-out EM case gets, in one stack of 16 sections, a blank section, a duplicated one, a saturated
one and two adjacent blank ones (`synthetic.knock_out_sections`). Rows: `cubic-clean` (cubic on the stack
without defects), `cubic-blind` (cubic that takes the
defects as data, as a method without detection does), `cubic-bridged` (cubic across the gap: the sections
found are bridged from their neighbours), `lateral` (`run`'s defaults on the damaged stack: detection, a
regressor trained without the bad sections and with rows missing as often, the gap bridged then restored,
the projection without them),
`lateral-clean` (the same on the stack without defects: what the rest of the volume should match), and
`care-blind` (CSBDeep CARE, fair settings as in the quality benchmark, on the damaged stack as it is).
PSNR against the truth over the knocked-out slabs (`gap`), over the slabs beside them (`beside`: their own
sections exist, but the detail inside them depends on the missing neighbour) and over the others (`far`).
One process per case, one torch thread (OMP_NUM_THREADS=1), CPU.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_header import RESULTS, machine_header  # noqa: E402
from quality import CACHE, CASES_FULL, PEERS, REAL_KINDS, case_data, case_name, ensure_prior, parse_case  # noqa: E402
from real_data import real_stack  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.evaluation.metrics import psnr  # noqa: E402
from axialsr.evaluation.synthetic import INTENSITY_TRENDS, intensity_trend, knock_out_sections  # noqa: E402
from axialsr.frontends.tables import markdown_table, print_table  # noqa: E402
from axialsr.operators.bad_sections import find_bad_sections  # noqa: E402
from axialsr.operators.measurement import simulate  # noqa: E402
from axialsr.settings import PriorConfig, Runtime  # noqa: E402

CPU = Runtime(device="cpu", seed=0, progress=False)
DEFECTS = {3: "blank", 7: "duplicate", 10: "saturated", 12: "blank", 13: "blank"}  # of 16 sections
REAL = Path(__file__).resolve().parent / "cache" / "real" / "cremi_image.tif"


def _names(found) -> str:
    return ", ".join(f"{b.index} {b.kind}" for b in found) or "-"


def detect() -> None:
    """False positives on every clean case (seeds 0-2), with intensity trends along z (bleaching, a specimen
    entering and leaving the field, a tissue boundary, gain flicker; `synthetic.intensity_trend`), what is
    found on the knocked-out EM cases, and whether a section 40% darker is found (and corrected); then the
    real stacks, as they are and acquired at x4 with each trend."""
    rows = []
    for case in CASES_FULL:
        if case[0] in REAL_KINDS:
            continue
        for seed in (0, 1, 2):
            _, lr, _ = case_data(*case, seed=seed)
            depth = lr.data.shape[0]
            found = find_bad_sections(lr.data)
            row = {"case": case_name(*case), "seed": seed, "sections": depth}
            row["false_positives"] = len(found)
            trends = {t: find_bad_sections(intensity_trend(lr.data, t, seed=seed)) for t in INTENSITY_TRENDS}
            row["trend_false_positives"] = sum(len(f) for f in trends.values())
            row["trends_found"] = "; ".join(f"{t}: {_names(f)}" for t, f in trends.items() if f) or "-"
            dim = find_bad_sections(knock_out_sections(lr.data, {depth // 2: "dim"}))
            row["dim_found"] = [(b.index, b.kind) for b in dim] == [(depth // 2, "intensity")]
            if case[0] in ("em", "emreal"):
                defects = {k: v for k, v in DEFECTS.items() if k < depth - 1}
                hits = find_bad_sections(knock_out_sections(lr.data, defects))
                row["knocked_out"] = ", ".join(f"{k} {v}" for k, v in defects.items())
                row["found"] = _names(hits)
                row["all_found"] = {b.index for b in hits} == set(defects)
                row["extra"] = len({b.index for b in hits} - set(defects))
            rows.append(row)
    import tifffile

    real = tifffile.imread(REAL)
    found = find_bad_sections(real)
    rows.append(
        {
            "case": "real_cremi (25 sections)",
            "seed": "-",
            "sections": real.shape[0],
            "false_positives": len([b for b in found if b.index != 14]),
            "found": _names(found),
        }
    )
    for name in REAL_KINDS:
        stack = real_stack(name)
        measured = simulate(stack, api.Acquisition(4))
        trends = {t: find_bad_sections(intensity_trend(measured, t)) for t in INTENSITY_TRENDS}
        rows.append(
            {
                "case": f"real {name} ({stack.shape[0]} sections; x4: {measured.shape[0]})",
                "seed": "-",
                "sections": stack.shape[0],
                "false_positives": len(find_bad_sections(stack)) + len(find_bad_sections(measured)),
                "trend_false_positives": sum(len(f) for f in trends.values()),
                "trends_found": "; ".join(f"{t}: {_names(f)}" for t, f in trends.items() if f) or "-",
            }
        )
    print_table(rows, DETECT_COLUMNS, title="detection")
    (RESULTS / "bad_sections_detect.json").write_text(json.dumps({"rows": rows, "machine": machine_header()}, indent=2))


DETECT_COLUMNS = (
    "case",
    "seed",
    "sections",
    "false_positives",
    "trend_false_positives",
    "trends_found",
    "dim_found",
    "knocked_out",
    "found",
    "all_found",
    "extra",
)


def slab_slices(acquisition: api.Acquisition, sections) -> np.ndarray:
    """Output slice indices of the given measured sections' slabs."""
    s = acquisition.factor
    return np.concatenate([np.arange(round(k * s), round((k + 1) * s)) for k in sections]).astype(int)


def damaged_case(name: str):
    """(truth, clean measured, damaged measured, knocked-out sections) of an EM case."""
    gt, lr, _ = case_data(*parse_case(name))
    depth = lr.data.shape[0]
    defects = {k: v for k, v in DEFECTS.items() if k < depth - 1}
    damaged = api.Volume(knock_out_sections(lr.data, defects), lr.voxel_size, lr.unit)
    return gt, lr, damaged, defects


def scorer(name: str, truth: np.ndarray, acquisition: api.Acquisition, defects: dict, rows: list, outputs: dict):
    """A function that scores one restoration into `rows`: PSNR over the knocked-out slabs and the rest."""
    data_range = float(np.ptp(truth))
    gap = slab_slices(acquisition, sorted(defects))
    rest = np.setdiff1d(np.arange(truth.shape[0]), gap)
    depth = acquisition.measured_depth(truth.shape[0])
    beside = sorted({j for k in defects for j in (k - 1, k + 1) if 0 <= j < depth} - set(defects))
    near = slab_slices(acquisition, beside)
    far = np.setdiff1d(rest, near)

    def score(row: str, volume: np.ndarray, seconds: float, extra: dict | None = None) -> None:
        outputs[row] = volume
        means = volume.mean(axis=(1, 2))
        rows.append(
            {
                "case": name,
                "method": row,
                "psnr_gap": psnr(volume[gap], truth[gap], data_range),
                "psnr_rest": psnr(volume[rest], truth[rest], data_range),
                "psnr_beside": psnr(volume[near], truth[near], data_range),
                "psnr_far": psnr(volume[far], truth[far], data_range),
                "psnr_3d": psnr(volume, truth, data_range),
                "mean_gap_offset": float(np.abs(means[gap] - truth[gap].mean(axis=(1, 2))).max()),
                "seconds": seconds,
                **(extra or {}),
            }
        )
        print(f"{name} {row}: gap {rows[-1]['psnr_gap']:.2f} dB, rest {rows[-1]['psnr_rest']:.2f} dB", flush=True)

    return score


def export(name: str) -> None:
    """The damaged stack as the peer's input (benchmarks/peers/care.py --case NAME_damaged)."""
    _, _, damaged, _ = damaged_case(name)
    np.save(PEERS / f"input_{name}_damaged.npy", damaged.data)
    (PEERS / f"input_{name}_damaged.json").write_text(json.dumps({"factor": parse_case(name)[1]}))


def care(name: str) -> None:
    """Add the peer's row (its restoration of the damaged stack) to the case's part."""
    gt, _, _, defects = damaged_case(name)
    path = RESULTS / f"bad_sections_row_{name}.json"
    part = json.loads(path.read_text())
    meta = json.loads((PEERS / f"care_{name}_damaged.json").read_text())
    rows = [r for r in part["rows"] if r["method"] != "care-blind"]
    score = scorer(name, gt.data, api.Acquisition(parse_case(name)[1]), defects, rows, {})
    volume = np.load(PEERS / f"care_{name}_damaged.npy")
    score("care-blind", volume, meta["predict_seconds"], {"train_s": meta["train_seconds"]})
    part["rows"] = rows
    path.write_text(json.dumps(part, indent=2))


def restore(name: str) -> None:
    case = parse_case(name)
    gt, lr, damaged, defects = damaged_case(name)
    acquisition = api.Acquisition(case[1], case[2])
    found = find_bad_sections(damaged.data)
    found_acq = api.Acquisition(case[1], case[2], missing=tuple(b.index for b in found))
    truth = gt.data
    outputs, rows = {}, []
    score = scorer(name, truth, acquisition, defects, rows, outputs)

    clean_cubic, _ = api.restore(lr, "cubic", acquisition=acquisition, runtime=CPU)
    score("cubic-clean", clean_cubic.data, 0.0)
    blind, _ = api.restore(damaged, "cubic", acquisition=acquisition, runtime=CPU)
    score("cubic-blind", blind.data, 0.0)
    bridged, _ = api.restore(damaged, "cubic", acquisition=found_acq, runtime=CPU)
    score("cubic-bridged", bridged.data, 0.0)
    folder = CACHE / name / "lateral-damaged"
    config = PriorConfig(kind="lateral", preset="small")
    if api.is_prior_folder(folder):
        (prior,) = api.load_priors(folder, "cpu")
    else:
        prior = api.train_prior(damaged, config, out_dir=folder, acquisition=found_acq, runtime=CPU)
    out, info = api.restore(damaged, "lateral", acquisition=found_acq, priors=prior, runtime=CPU)
    train_s = float(prior.meta.get("seconds", 0.0))
    score("lateral", out.data, info.seconds, {"train_s": train_s})
    clean_prior = ensure_prior(case, "lateral")
    clean, info = api.restore(lr, "lateral", acquisition=acquisition, priors=clean_prior, runtime=CPU)
    score("lateral-clean", clean.data, info.seconds, {"train_s": float(clean_prior.meta.get("seconds", 0.0))})
    for row in ("lateral", "lateral-clean"):
        np.save(CACHE.parent / f"bad_sections_{name}_{row}.npy", outputs[row])
    path = RESULTS / f"bad_sections_row_{name}.json"
    if path.exists():  # the peer's row does not depend on axialsr: kept, with the machine it ran on
        before = json.loads(path.read_text())
        for row in before["rows"]:
            if row["method"] == "care-blind":
                rows.append({**row, "measured": row.get("measured", before["machine"]["date"])})
    part = {
        "case": name,
        "knocked_out": {str(k): v for k, v in defects.items()},
        "found": [{"index": b.index, "kind": b.kind} for b in found],
        "rows": rows,
        "machine": machine_header(),
    }
    path.write_text(json.dumps(part, indent=2))
    from axialsr.frontends.figures import xz_crops

    crops = {"ground truth": truth, **outputs}
    xz_crops(crops, RESULTS / f"bad_sections_{name}_xz.png", size=min(64, truth.shape[0]))


def real() -> None:
    """`run`'s defaults on the real crop at its own factor 5, section 14 found and bridged: the output
    slice means around it and the voxels clipped."""
    import tifffile

    data = tifffile.imread(REAL)
    volume = api.Volume(data, (40.0, 8.0, 8.0), "nm")
    started = time.perf_counter()
    acquisition = api.acquisition_for(volume)
    result = api.run(
        volume, api.RunConfig(), work_dir=CACHE / "real_em" / "run-x5", acquisition=acquisition, runtime=CPU
    )
    seconds = time.perf_counter() - started
    out = result.volume.data
    means = out.astype(np.float64).mean(axis=(1, 2))
    gap = slab_slices(acquisition, acquisition.missing)
    s = int(acquisition.factor)
    beside = np.r_[means[gap.min() - 2 * s : gap.min()], means[gap.max() + 1 : gap.max() + 1 + 2 * s]]
    clipped = float(np.mean((out == 0) | (out == 255)))
    others = np.delete(data, list(acquisition.missing), axis=0)
    clipped_in = float(np.mean((others == 0) | (others == 255)))  # the sections that exist
    part = {
        "missing": list(acquisition.missing),
        "slice_means_around": [round(float(m), 1) for m in means[gap.min() - 10 : gap.max() + 11]],
        "gap_means": [round(float(m), 1) for m in means[gap]],
        "neighbour_slab_means_range": [float(beside.min()), float(beside.max())],
        "gap_offset_beyond_neighbours": float(
            max(0.0, means[gap].max() - beside.max(), beside.min() - means[gap].min())
        ),
        "clipped_fraction": clipped,
        "clipped_fraction_input": clipped_in,
        "seconds": seconds,
        "machine": machine_header(),
    }
    print(json.dumps(part, indent=2))
    (RESULTS / "bad_sections_real.json").write_text(json.dumps(part, indent=2))
    np.save(Path(__file__).resolve().parent / "cache" / "real_em_x5_run.npy", out)


def real_figure() -> None:
    """XZ crops around section 14 of the real crop (output slices 45-100): the measured sections, cubic
    taking the blank section as data (the band), cubic bridged, and `run` (from `real`)."""
    import tifffile

    from axialsr.frontends.figures import xz_crops

    data = tifffile.imread(REAL).astype(np.float32)
    found = api.Acquisition(5.0, missing=(14,))
    blind, _ = api.restore(api.Volume(data), "cubic", acquisition=api.Acquisition(5.0), runtime=CPU)
    bridged, _ = api.restore(api.Volume(data), "cubic", acquisition=found, runtime=CPU)
    run = np.load(Path(__file__).resolve().parent / "cache" / "real_em_x5_run.npy").astype(np.float32)
    window = slice(45, 101)
    volumes = {
        "measured sections": np.repeat(data, 5, axis=0)[window],
        "cubic, blank as data": blind.data[window],
        "cubic, bridged": bridged.data[window],
        "run (14 found)": run[window],
    }
    xz_crops(volumes, RESULTS / "bad_sections_real_xz.png", size=56, zoom=3, intensity_range=(30.0, 220.0))


def assemble() -> None:
    about = (__doc__ or "")[(__doc__ or "").index("Each knocked-out") :].strip()
    lines = ["# Missing and damaged sections", "", about, ""]
    detect_path = RESULTS / "bad_sections_detect.json"
    if detect_path.exists():
        detected = json.loads(detect_path.read_text())
        rows = [{"method": r["case"], **r} for r in detected["rows"]]
        machine = detected["machine"]
        lines += [
            "## Detection",
            "",
            "False positives on the clean cases and with intensity trends along z (bleaching, a specimen entering",
            "and leaving the field, a tissue boundary, gain flicker: `synthetic.intensity_trend`, summed over the",
            "four); `dim_found`: a section 40% darker in the middle is found (and corrected, not left out).",
            f"Ran {machine['date']} on {machine['cpu']}, commit {machine['commit']}.",
            "",
            markdown_table(rows, DETECT_COLUMNS[1:]),
            "",
        ]
    parts = sorted(RESULTS.glob("bad_sections_row_*.json"))
    if parts:
        rows = [r for p in parts for r in json.loads(p.read_text())["rows"]]
        columns = ("case", "psnr_gap", "psnr_beside", "psnr_far", "psnr_3d", "mean_gap_offset", "train_s", "seconds")
        lines += ["## Restoration of knocked-out sections", "", markdown_table(rows, columns), ""]
        for p in parts:
            part = json.loads(p.read_text())
            machine = part["machine"]
            carried = [f"{r['method']} ({r['measured']})" for r in part["rows"] if "measured" in r]
            lines.append(
                f"- {part['case']}: knocked out {part['knocked_out']}; found {part['found']}; ran "
                f"{machine['date']} on {machine['cpu']}, commit {machine['commit']}"
                + (f"; the peer's row kept from its earlier run: {', '.join(carried)}" if carried else "")
            )
        lines.append("")
    real_path = RESULTS / "bad_sections_real.json"
    if real_path.exists():
        part = json.loads(real_path.read_text())
        lines += ["## The real CREMI crop at x5 (`run`'s defaults)", "", "```", json.dumps(part, indent=2), "```", ""]
        lines += ["![XZ around section 14](bad_sections_real_xz.png)", ""]
    (RESULTS / "bad_sections.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    torch.set_num_threads(1)
    command = sys.argv[1] if len(sys.argv) > 1 else "detect"
    if command == "detect":
        detect()
    elif command == "restore":
        restore(sys.argv[2])
    elif command == "real":
        real()
    elif command == "real-figure":
        real_figure()
    elif command == "export":
        export(sys.argv[2])
    elif command == "care":
        care(sys.argv[2])
    else:
        assemble()


if __name__ == "__main__":
    main()
