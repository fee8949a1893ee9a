"""Quality benchmark: every method side by side, in one run per case, on synthetic volumes with ground truth.

    python benchmarks/quality.py --cases em_x4_average            # one case, every method
    python benchmarks/quality.py --cases em_x4_average --methods cubic,lateral
    python benchmarks/quality.py --assemble-only                  # join the per-case results

Each case: isotropic ground truth (axialsr.evaluation.synthetic, 64x128x128, seed 0; 160x128x128 at x10, so that it
holds 16 slabs like x4) -> the acquisition model ->
every restoration method of the registry, plus the peer CARE-isotropic (csbdeep, run by
benchmarks/peers/care.py in its own venv, which saves its restoration; scored here by the same code).
`coherence_mad` is the mean |XZ-wise - YZ-wise| of the slice-wise restorations (fraction of the data
range); the other methods are one volume, coherent by construction. The priors of each case are
trained on that case's own measured XY slices (reference-free) and cached under benchmarks/cache/priors/;
a row's `train_s` is the training time of the priors it uses, `seconds` its restoration time, and
`total_s` their sum (CARE: its training + prediction). Each case writes results/quality{tag}_case_<case>.json
(cases run in parallel processes, one torch thread each); the run then joins all present cases into
results/quality{tag}.json and .md, with results/quality{tag}_<case>.png per case.

Cases: `em` (EM-like neuropil), `fluo` (fluorescence-like nuclei), `fluoaxial` (the same nuclei with an
axial PSF in the truth: Gaussian sigma 2.5 voxels along z on top of the isotropic blur, as in a confocal
stack); factors 4 and 8, and for EM also 10 (serial-section EM such as CREMI, 4x4x40 nm) and the
non-integer 6.4; the `average` acquisition model (`--cases em_x4_gaussian` adds a Gaussian one); `emreal`
at x10: the EM truth acquired like a real serial-section stack (`synthetic.section_artifacts`: detector noise
of 8 grey levels in 255 after the slab average, 0.7 px section jitter, 3% contrast flicker), scored against
the clean truth. Real fluorescence (`real_data`): `confocal` (a cells3d nucleus, 60 x 60 x 50) and
`lightsheet` (a mesoSPIM crop, 124 x 86 x 94), each acquired at x4 by the `average` model and scored against
its own sections, with their noise and their microscope's axial blur. Every case's acquisition is what
`run` finds (`case_acquisition`: bad sections detected in the measured stack; none on these cases).

What users see, on every row (the `truth` row gives the reference values):
- `banding`: `metrics.banding_index` (change across slab boundaries over that within slabs; the truth
  has ~1); `step`: `metrics.boundary_step_index` (the same over the pairs beside the boundaries: a step
  shows there, a smooth modulation with the slab period does not);
- `axial_power`: `metrics.axial_power_ratio` (power along z above the slabs' Nyquist over the same
  along x; below the truth's is blur, above it invented detail);
- EM only, what a connectomics user does next (`axialsr.evaluation.membranes`): `membrane_f1` (boundary F1 at one
  pixel of tolerance on XZ and YZ planes) and `vi_split` / `vi_merge` (bits) of a seeded 3D watershed
  against the generator's true cells; the membrane threshold and seed spacing are chosen once per case
  on its ground truth (`membranes.settings_from_truth`) and used unchanged for every method.
Per case also results/quality{tag}_<case>_xz.png: one XZ crop per method at 2x zoom (stripes show there).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from real_data import real_stack  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.evaluation.membranes import MembraneSettings, membrane_scores, segmentation_scores, settings_from_truth  # noqa: E402
from axialsr.evaluation.metrics import axial_power_ratio, banding_index, boundary_step_index  # noqa: E402
from axialsr.evaluation.synthetic import em_neuropil_with_labels, section_artifacts  # noqa: E402
from axialsr.frontends.figures import orthogonal_views, xz_crops  # noqa: E402
from axialsr.frontends.tables import format_value, markdown_table, print_table  # noqa: E402
from axialsr.io import Volume  # noqa: E402
from axialsr.learning.priors import Prior  # noqa: E402
from axialsr.methods.inr import ReconstructionConfig  # noqa: E402
from axialsr.methods.slicewise import SlicewiseConfig  # noqa: E402
from axialsr.settings import PriorConfig, RestoreConfig, Runtime, identity  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "priors"
PEERS = HERE / "cache" / "peers"
CPU = Runtime(device="cpu", seed=0)  # one torch thread: set in main()
SHAPE = (64, 128, 128)
SHAPES = {("em", 10.0): (160, 128, 128), ("emreal", 10.0): (160, 128, 128)}
# `emreal`: synthetic EM acquired like a real serial-section stack (scored against the clean truth)
REAL_ARTIFACTS = {"noise": 8 / 255, "jitter": 0.7, "flicker": 0.03}  # 16 slabs, like the x4 cases
AXIAL_PSF_SIGMA = 2.5
# real fluorescence stacks (`real_data`) whose own sections are the truth: each is acquired at the case's factor
REAL_KINDS = ("confocal", "lightsheet")
CASES_FULL = [
    ("em", 4.0, "average"),
    ("em", 8.0, "average"),
    ("em", 10.0, "average"),
    ("em", 6.4, "average"),
    ("fluo", 4.0, "average"),
    ("fluo", 8.0, "average"),
    ("fluoaxial", 4.0, "average"),
    ("emreal", 10.0, "average"),
    ("confocal", 4.0, "average"),
    ("lightsheet", 4.0, "average"),
]
CASES_EXTRA = [("em", 4.0, "gaussian")]
COLUMNS = (
    "psnr_3d",
    "ssim_xy",
    "ssim_xz",
    "ssim_yz",
    "banding",
    "step",
    "axial_power",
    "membrane_f1",
    "vi_split",
    "vi_merge",
    "coherence_mad",
    "measurement_rms",
    "train_s",
    "seconds",
    "total_s",
)
# (row name, registry method, priors it uses (kind, or kind:projection a lateral regressor learns for),
# settings: of the slice-wise baseline under "slicewise", else of RestoreConfig)
ROWS = {
    "nearest": ("nearest", (), {}),
    "linear": ("linear", (), {}),
    "cubic": ("cubic", (), {}),
    "inr": ("inr", (), {}),
    "slicewise-xz": ("slicewise", ("diffusion",), {"slicewise": {"axis": "xz"}}),
    "slicewise-yz": ("slicewise", ("diffusion",), {"slicewise": {"axis": "yz"}}),
    "inr-sds": ("inr-sds", ("diffusion",), {}),
    "lateral": ("lateral", ("lateral",), {}),
    "lateral-l2": ("lateral", ("lateral:l2",), {"projection": "l2"}),  # the default before the smooth projection
    "inr-lateral": ("inr-lateral", ("lateral",), {}),
    "inr-lateral+csds": ("inr-lateral", ("lateral", "conditional"), {}),
    "lateral-diffusion": ("lateral-diffusion", ("lateral", "conditional"), {}),
}
PRIOR_STEPS = {"diffusion": 2500, "conditional": 1500, "lateral": None}


def case_name(kind: str, factor: float, model: str) -> str:
    return f"{kind}_x{factor:g}_{model}"


def parse_case(name: str) -> tuple[str, float, str]:
    kind, factor, model = name.split("_")
    return kind, float(factor[1:]), model


def case_data(kind: str, factor: float, model: str, seed: int = 0) -> tuple[Volume, Volume, np.ndarray | None]:
    """(isotropic ground truth, measured volume, true cell labels or None) of a case, float32; the truth
    and labels cropped to the output grid's depth. The cases use seed 0; another seed is another volume
    of the same kind (the transfer benchmark)."""
    from scipy import ndimage

    shape = SHAPES.get((kind, factor), SHAPE)
    acquisition = api.Acquisition(factor, model)
    labels = None
    if kind in REAL_KINDS:
        gt = Volume(real_stack(kind), None)
    elif kind in ("em", "emreal"):
        data, labels = em_neuropil_with_labels(shape, seed=seed)
        gt = Volume(data, (api.DEFAULT_SYNTH_VOXEL_NM,) * 3, "nm")  # as api.synth writes it
    else:
        gt = api.synth("fluo" if kind == "fluoaxial" else kind, shape, seed=seed, dtype="float32")
    if kind == "fluoaxial":
        gt = Volume(ndimage.gaussian_filter1d(gt.data, AXIAL_PSF_SIGMA, axis=0).astype(np.float32), gt.voxel_size)
    lr = api.simulate_acquisition(gt, acquisition)
    if kind == "emreal":
        lr = Volume(section_artifacts(lr.data, **REAL_ARTIFACTS, seed=seed), lr.voxel_size, lr.unit)
    depth = acquisition.output_depth(lr.data.shape[0])
    gt = Volume(gt.data[:depth], gt.voxel_size)
    return gt, lr, None if labels is None else labels[:depth]


def case_acquisition(case: tuple[str, float, str], lr: Volume) -> api.Acquisition:
    """The case's acquisition as `run` finds it: its factor and model, and the bad sections found in the
    measured stack (a healthy case has none; any found is named in a warning and costs the case)."""
    return api.acquisition_for(lr, case[1], case[2])


def acquisition_digest(acquisition: api.Acquisition) -> str:
    """'' for a case's plain acquisition, else '-' and eight hex digits of what was found in its sections."""
    if acquisition == api.Acquisition(acquisition.factor, acquisition.model):
        return ""
    return "-" + hashlib.sha1(repr(acquisition).encode()).hexdigest()[:8]


def config_digest(config: PriorConfig) -> str:
    """Eight hex digits of the config's identity: cached priors are found only under the settings they had."""
    return hashlib.sha1(json.dumps(identity(config), sort_keys=True).encode()).hexdigest()[:8]


def ensure_prior(case: tuple[str, float, str], spec: str, preset: str = "small", steps: int | None = None) -> Prior:
    """The case's prior `spec` ('kind', or 'lateral:projection'), from the cache or trained now (one torch
    thread, CPU, default settings: a plain 'lateral' learns for the default projection); `steps` overrides
    the benchmark's training steps of that kind (cached apart)."""
    kind, _, projection = spec.partition(":")
    config = PriorConfig(kind=kind, preset=preset, steps=steps or PRIOR_STEPS[kind])
    if projection:
        config = replace(config, projection=projection)
    folder = CACHE / case_name(*case) / (f"{kind}-{config.projection}" if kind == "lateral" else kind)
    if steps is not None:
        folder = folder.with_name(f"{folder.name}-{steps}steps")
    _, lr, _ = case_data(*case)
    acquisition = case_acquisition(case, lr)
    # a changed default, or other sections found bad, trains anew
    folder = folder.with_name(f"{folder.name}-{config_digest(config)}{acquisition_digest(acquisition)}")
    if not api.is_prior_folder(folder):
        api.train_prior(lr, config, out_dir=folder, acquisition=acquisition, resume=True, runtime=CPU)
    (prior,) = api.load_priors(folder, "cpu")
    return prior


def seen_scores(data: np.ndarray, factor: float, labels: np.ndarray | None, settings: MembraneSettings | None) -> dict:
    """What users see: banding, axial power ratio and (with labels) membrane F1 and watershed VI."""
    row = {
        "banding": banding_index(data, factor),
        "step": boundary_step_index(data, factor),
        "axial_power": axial_power_ratio(data, factor),
    }
    if labels is not None:
        row.update(membrane_scores(data, labels, settings))
        row.update(segmentation_scores(data, labels, settings))
    return row


def run_case(
    case: tuple[str, float, str], methods: list[str], config: RestoreConfig, tag: str, figure_suffix: str = ""
) -> list[dict]:
    gt, lr, labels = case_data(*case)
    name = case_name(*case)
    acquisition = case_acquisition(case, lr)
    print(f"\n== {name}: ground truth {gt.data.shape}, measured {lr.data.shape}")
    settings = None if labels is None else settings_from_truth(gt.data, labels)
    outputs: dict[str, np.ndarray] = {}
    rows = [{"case": name, "method": "truth", **seen_scores(gt.data, case[1], labels, settings)}]
    if settings is not None:
        rows[0]["membrane_settings"] = vars(settings)
    for row in methods:
        if row == "care":
            rows += care_row(name, gt, acquisition, outputs, labels, settings)
            continue
        method, specs, extra = ROWS[row]
        priors = [ensure_prior(case, spec) for spec in specs]
        train_s = sum(float(p.meta.get("seconds", 0.0)) for p in priors)
        settings_of_row = {k: v for k, v in extra.items() if k != "slicewise"}
        cfg = replace(config, slicewise=replace(config.slicewise, **extra.get("slicewise", {})), **settings_of_row)
        out, info = api.restore(lr, method, acquisition=acquisition, priors=priors, config=cfg, runtime=CPU.quiet())
        outputs[row] = out.data
        scores = api.score_row(out, gt, acquisition)
        rows.append(
            {
                "case": name,
                "method": row,
                **scores,
                **seen_scores(out.data, case[1], labels, settings),
                "train_s": train_s,
                "seconds": info.seconds,
                "total_s": train_s + info.seconds,
                "measurement_rms": info.measurement_rms,
            }
        )
        print(f"{row}: {scores['psnr_3d']:.2f} dB, {info.seconds:.0f} s (+{train_s:.0f} s training)", flush=True)
    if "slicewise-xz" in outputs and "slicewise-yz" in outputs:
        agreement = api.score_row(Volume(outputs["slicewise-xz"]), gt, None, Volume(outputs["slicewise-yz"]))
        for r in rows:
            if r["method"].startswith("slicewise"):
                r["coherence_mad"] = agreement["coherence_mad"]
    shown = ("cubic", "inr-sds", "care", "lateral", "inr-lateral", "lateral-diffusion", "slicewise-xz")
    views = {"ground truth": gt.data, **{k: v for k, v in outputs.items() if k in shown}}
    orthogonal_views(views, RESULTS / f"quality{tag}_{name}{figure_suffix}.png")
    crops = {"ground truth": gt.data, **{k: v for k, v in outputs.items() if k not in ("nearest", "linear")}}
    xz_crops(crops, RESULTS / f"quality{tag}_{name}{figure_suffix}_xz.png", size=min(64, gt.data.shape[0]))
    print_table(rows, COLUMNS, title=name)
    return rows


def care_row(
    name: str, gt: Volume, acquisition, outputs: dict, labels: np.ndarray | None, settings: MembraneSettings | None
) -> list[dict]:
    """The peer's row from its saved restoration (benchmarks/peers/care.py), scored by our code."""
    meta_path = PEERS / f"care_{name}.json"
    if not meta_path.exists():
        print(f"care: no restoration at {meta_path}; run benchmarks/peers/care.py --case {name} first")
        return []
    meta = json.loads(meta_path.read_text())
    data = np.load(PEERS / f"care_{name}.npy")
    outputs["care"] = data
    scores = api.score_row(Volume(data), gt, acquisition)
    from axialsr.operators.measurement import measurement_operator

    _, lr, _ = case_data(*parse_case(name))
    rms = measurement_operator(acquisition, len(data), len(lr.data)).residual_rms(data, lr.data)
    return [
        {
            "case": name,
            "method": "care",
            **scores,
            **seen_scores(data, acquisition.factor, labels, settings),
            "train_s": meta["train_seconds"],
            "seconds": meta["predict_seconds"],
            "total_s": meta["train_seconds"] + meta["predict_seconds"],
            "measurement_rms": rms,
            "peer": meta["settings"],
        }
    ]


def assemble(tag: str) -> None:
    """Join the per-case results present under results/ into quality{tag}.json and quality{tag}.md."""
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"quality{tag}_case_*.json"))]
    order = [case_name(*c) for c in CASES_FULL + CASES_EXTRA]
    parts.sort(key=lambda part: order.index(part["case"]) if part["case"] in order else len(order))
    rows = [row for part in parts for row in part["rows"]]
    write_json(RESULTS / f"quality{tag}.json", {"cases": parts, "rows": rows})
    md = [
        "# Quality benchmark\n\n",
        "Each case ran in its own process (one torch thread); its machine and settings are given.\n",
        "\n## Summary: what users see\n\n",
        "PSNR (dB), SSIM of XZ planes, banding (truth ~1), boundary step, axial power ratio (truth's value is the ",
        "reference), membrane F1 and watershed VI (split + merge, bits) on EM; `truth` rows give the reference.\n\n",
        summary_table(parts),
    ]
    for part in parts:
        case = part["case"]
        md += [
            f"\n## {case}\n\n",
            header_markdown(part["header"]),
            f"\nSettings: `{json.dumps(part['settings'])}`\n\n",
            markdown_table(part["rows"], COLUMNS),
        ]
        if part["header"].get("later_runs") and (RESULTS / f"quality{tag}_{case}_more.png").exists():
            md.append(
                "\nSome rows were rerun later (`--merge`): the first figures show the first run's restorations, "
                "the `more methods` ones those of the last run.\n"
            )
        if (RESULTS / f"quality{tag}_{case}.png").exists():
            md.append(f"\n![{case}](quality{tag}_{case}.png)\n")
        if (RESULTS / f"quality{tag}_{case}_more.png").exists():
            md.append(f"\n![{case}, more methods](quality{tag}_{case}_more.png)\n")
        for suffix in ("_xz", "_more_xz"):
            if (RESULTS / f"quality{tag}_{case}{suffix}.png").exists():
                md.append(f"\nXZ crops at 2x zoom:\n\n![{case}, XZ crops](quality{tag}_{case}{suffix}.png)\n")
    (RESULTS / f"quality{tag}.md").write_text("".join(md))
    print(f"wrote {RESULTS}/quality{tag}.json and .md ({len(parts)} cases)")


SUMMARY = ("psnr_3d", "ssim_xz", "banding", "step", "axial_power", "membrane_f1", "vi", "total_s")
SUMMARY_METHODS = (
    "truth",
    "cubic",
    "inr",
    "care",
    "lateral",
    "lateral-l2",
    "inr-lateral",
    "slicewise-xz",
    "inr-sds",
    "inr-lateral+csds",
    "lateral-diffusion",
)


def summary_table(parts: list[dict]) -> str:
    """One markdown table over the cases: the main methods' scores of what users see."""
    head = ["case", "method", "PSNR", "SSIM xz", "banding", "step", "axial power", "membrane F1", "VI", "total s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for part in parts:
        for row in part["rows"]:
            if row["method"] not in SUMMARY_METHODS:
                continue
            values = dict(row)
            if "vi_split" in row:
                values["vi"] = row["vi_split"] + row["vi_merge"]
            cells = [format_value(values.get(c, float("nan"))) for c in SUMMARY]
            lines.append("| " + " | ".join([part["case"], row["method"], *cells]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(case_name(*c) for c in CASES_FULL))
    parser.add_argument("--methods", default=",".join([*ROWS, "care"]))
    parser.add_argument("--iters", type=int, default=ReconstructionConfig().iters)
    parser.add_argument("--priors-only", action="store_true", help="train/find the priors, then stop")
    parser.add_argument(
        "--export-peer-inputs", action="store_true", help="write the measured volumes for benchmarks/peers, then stop"
    )
    parser.add_argument("--assemble-only", action="store_true", help="only join the per-case results")
    parser.add_argument("--tag", default="", help="suffix for the result files")
    parser.add_argument(
        "--merge", action="store_true", help="add these rows to the case's existing results (same-named rows replaced)"
    )
    args = parser.parse_args()
    if args.assemble_only:
        assemble(args.tag)
        return
    methods = args.methods.split(",")
    unknown = set(methods) - set(ROWS) - {"care"}
    if unknown:
        raise SystemExit(f"unknown rows {sorted(unknown)}; choose from {list(ROWS)} and care")
    cases = [parse_case(c) for c in args.cases.split(",")]
    config = RestoreConfig(methods={"recon": ReconstructionConfig(iters=args.iters)})
    config.slicewise = SlicewiseConfig()
    if args.export_peer_inputs:
        PEERS.mkdir(parents=True, exist_ok=True)
        for case in cases:
            _, lr, _ = case_data(*case)
            np.save(PEERS / f"input_{case_name(*case)}.npy", lr.data)
            meta = {"factor": case[1], "model": case[2], "shape": list(lr.data.shape)}
            (PEERS / f"input_{case_name(*case)}.json").write_text(json.dumps(meta))
        print(f"wrote the measured volumes of {len(cases)} cases to {PEERS}")
        return
    if args.priors_only:
        for case in cases:
            for spec in sorted({k for m in methods if m in ROWS for k in ROWS[m][1]}):
                ensure_prior(case, spec)
        return
    for case in cases:
        header = machine_header()
        started = time.perf_counter()
        rows = run_case(case, methods, config, args.tag, "_more" if args.merge else "")
        path = RESULTS / f"quality{args.tag}_case_{case_name(*case)}.json"
        if args.merge and path.exists():
            old = json.loads(path.read_text())
            kept = [r for r in old["rows"] if r["method"] not in {row["method"] for row in rows}]
            order = ["truth", *ROWS, "care"]
            rows = sorted(kept + rows, key=lambda r: order.index(r["method"]) if r["method"] in order else 99)
            header = old["header"]
            header["later_runs"] = [*old["header"].get("later_runs", []), machine_header()]
        payload = {
            "case": case_name(*case),
            "header": header,
            "settings": {
                "shape": SHAPES.get(case[:2], SHAPE),
                "restore": repr(config),
                "priors": {
                    kind: f"preset small, {steps or 'default'} steps, trained on the case's measured XY slices"
                    for kind, steps in PRIOR_STEPS.items()
                },
            },
            "rows": rows,
            "total_seconds": time.perf_counter() - started,
        }
        write_json(path, payload)
    assemble(args.tag)


if __name__ == "__main__":
    main()
