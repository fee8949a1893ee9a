"""`axialsr demo`: every method on the embedded synthetic EM volume, ending in a table and figures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.frontends import tables
from axialsr.frontends.figures import orthogonal_views, prior_samples_figure
from axialsr.methods.inr import ReconstructionConfig
from axialsr.methods.slicewise import SlicewiseConfig
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

DEMO_FACTOR = 4.0
COLUMNS = ("psnr_3d", "psnr_unmeasured", "ssim_xy", "ssim_xz", "ssim_yz", "seconds")


@dataclass(frozen=True)
class DemoBudget:
    """Sizes and budgets of the demo (CPU): shape of the ground truth, training steps of the lateral
    regressor and of the diffusion prior, INR iterations, DDIM steps of the slice-wise baseline."""

    shape: tuple[int, int, int]
    lateral_steps: int
    diffusion_steps: int
    iters: int
    slicewise_steps: int


FULL = DemoBudget(shape=(64, 128, 128), lateral_steps=600, diffusion_steps=1000, iters=800, slicewise_steps=20)
QUICK = DemoBudget(shape=(32, 96, 96), lateral_steps=150, diffusion_steps=300, iters=300, slicewise_steps=10)


def run_demo(
    out_dir: Path,
    quick: bool = False,
    runtime: Runtime | None = None,
    budget: DemoBudget | None = None,
    force: bool = False,
) -> list[dict]:
    """Synthesise a ground truth, simulate a x4 acquisition, restore it with every method (interpolations,
    the fidelity-only INR, the lateral regressor, the slice-wise 2D diffusion, INR+SDS), score and draw
    them. Writes the volumes (.tif), the priors, scores.json, views.png and the priors' figures to
    `out_dir`; returns the rows (method, scores, seconds including the training of the priors used).
    `budget` replaces the FULL / QUICK budgets. A folder that already holds a demo's files is only
    overwritten with `force`. The runtime's seed also seeds the ground truth."""
    rt = runtime or Runtime()
    budget = budget or (QUICK if quick else FULL)
    if ((out_dir / "scores.json").exists() or (out_dir / "lr.tif").exists()) and not force:
        raise AxialSRError(
            f"{out_dir} already holds a demo; set force to overwrite it or choose another folder", "force"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    gt = api.synth("em", budget.shape, rt.seed)
    acquisition = api.Acquisition(DEMO_FACTOR)
    lr = api.simulate_acquisition(gt, acquisition)
    api.write_volume(out_dir / "gt.tif", gt.data, gt.voxel_size, force=True)
    api.write_volume(out_dir / "lr.tif", lr.data, lr.voxel_size, force=True)
    print(f"ground truth {gt.data.shape}, measured {lr.data.shape} (average model, s={DEMO_FACTOR:g})")

    priors = {}
    for kind, steps in (("lateral", budget.lateral_steps), ("diffusion", budget.diffusion_steps)):
        config = PriorConfig(kind=kind, preset="small", steps=steps)
        priors[kind] = api.train_prior(
            lr, config, out_dir=out_dir / f"prior_{kind}", acquisition=acquisition, runtime=rt
        )
        figure = out_dir / f"prior_{kind}.png"
        prior_samples_figure(priors[kind], figure, n=8, steps=25, seed=rt.seed, real_volume=lr.data)

    slicewise = SlicewiseConfig(steps=budget.slicewise_steps)
    config = RestoreConfig(methods={"slicewise": slicewise, "recon": ReconstructionConfig(iters=budget.iters)})
    plan = [
        ("nearest", None),
        ("linear", None),
        ("cubic", None),
        ("inr", None),
        ("lateral", "lateral"),
        ("slicewise", "diffusion"),
        ("inr-sds", "diffusion"),
    ]
    outputs, rows = {}, []
    for method, kind in plan:
        used = [priors[kind]] if kind else []
        volume, info = api.restore(lr, method, acquisition=acquisition, priors=used, config=config, runtime=rt)
        training = float(priors[kind].meta["seconds"]) if kind else 0.0
        outputs[method] = volume
        rows.append({"method": method, **api.score_row(volume, gt, acquisition), "seconds": info.seconds + training})
        api.write_volume(out_dir / f"{method}.tif", volume.data, volume.voxel_size, force=True)

    tables.print_table(rows, COLUMNS, title=f"axialsr demo: synthetic EM {budget.shape}, x{DEMO_FACTOR:g}")
    print(
        f"(times include training the prior a method uses; PSNR in dB against the ground truth; "
        f"`axialsr run` uses {api.DEFAULT_METHOD})"
    )
    (out_dir / "scores.json").write_text(json.dumps(rows, indent=2))
    depth = outputs["cubic"].data.shape[0]
    views = {"ground truth": gt.data[:depth], **{k: v.data for k, v in outputs.items() if k != "nearest"}}
    orthogonal_views(views, out_dir / "views.png")
    print(f"wrote {out_dir}/views.png, the prior figures, scores.json and the volumes")
    return rows
