"""Do `validate`'s two schemes rank methods alike on real serial-section EM?

    python benchmarks/validate_real.py            # -> results/validate_real.json and .md

On the real CREMI crop of `real_em.py` (25 sections of 40 nm, 8 nm pixels, factor 5, section 14 blank), as a
user would run it (voxel size given, bad sections found): `validate --scheme lateral` (Y degraded at the real
factor 5 and restored, scored against the measured XY slices, with a lateral regressor trained on the crop as
`run` trains it) and `validate --scheme sections` (pairs of real sections restored at x10 by a regressor
trained on the pairs, each half scored against its real section). Same methods in both; reports each ranking,
their Spearman correlation and whether they pick the same best method. One process, one torch thread.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import config_digest  # noqa: E402
from real_em import CACHE, crop_path  # noqa: E402
from validate import spearman  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.frontends.tables import markdown_table  # noqa: E402
from axialsr.pipeline.validate import ranking  # noqa: E402
from axialsr.settings import PriorConfig, RestoreConfig, Runtime, ValidationConfig  # noqa: E402

METHODS = ("linear", "cubic", "inr", "lateral")
VOXEL = (40.0, 8.0, 8.0)
CPU = Runtime(device="cpu", seed=0, progress=False)


def lateral_prior(stack: api.Volume, acquisition: api.Acquisition) -> api.Prior:
    """The regressor `run` trains on the crop at its own factor (cached)."""
    config = PriorConfig(kind="lateral", preset="small")
    folder = CACHE / f"lateral_x5_run-{config_digest(config)}"
    if not api.is_prior_folder(folder):
        api.train_prior(stack, config, out_dir=folder, acquisition=acquisition, resume=True, runtime=CPU)
    (prior,) = api.load_priors(folder, "cpu")
    return prior


def main() -> None:
    import torch

    torch.set_num_threads(1)
    header = machine_header()
    stack = api.read_volume(crop_path(), voxel_size=VOXEL, unit="nm")
    acquisition = api.acquisition_for(stack, bad_sections=api.bad_sections_for(stack))
    restore = RestoreConfig()
    schemes = {}
    for scheme in ("lateral", "sections"):
        started = time.perf_counter()
        priors = [lateral_prior(stack, acquisition)] if scheme == "lateral" else None
        result = api.validate(
            stack, acquisition, priors, ValidationConfig(scheme=scheme, methods=METHODS, restore=restore), CPU
        )
        rows = [{**r, "method": m} for r, m in zip(result.rows, METHODS, strict=True)]
        schemes[scheme] = {"rows": rows, "ranking": ranking(rows), "seconds": time.perf_counter() - started}
        print(scheme, schemes[scheme]["ranking"], flush=True)
    lateral, sections = (schemes[s]["rows"] for s in ("lateral", "sections"))
    rho = spearman([r["psnr"] for r in lateral], [r["psnr"] for r in sections])
    same_best = schemes["lateral"]["ranking"][0] == schemes["sections"]["ranking"][0]
    payload = {
        "header": header,
        "data": f"{crop_path().name}, voxel size {VOXEL} nm, missing sections {list(acquisition.missing)}",
        "schemes": schemes,
        "spearman": rho,
        "same_best": same_best,
    }
    write_json(RESULTS / "validate_real.json", payload)
    table = [
        {
            "method": m,
            "lateral PSNR": lateral[i]["psnr"],
            "sections PSNR": sections[i]["psnr"],
            "sections detail_r2": sections[i].get("detail_r2", float("nan")),
        }
        for i, m in enumerate(METHODS)
    ]
    md = [
        "# Validation schemes on real serial-section EM: do they rank methods alike?\n\n",
        "The real CREMI crop (benchmarks/real_em.py), run as a user would (`--voxel-size 40,8,8nm`, bad sections ",
        f"found: {list(acquisition.missing)}). `lateral`: Y degraded at the real factor 5, restored, scored against ",
        "the measured XY slices (its regressor trained on those slices: optimistic). `sections`: pairs of real ",
        "sections restored at x10 by a regressor trained on the pairs, each half scored against the real section ",
        "it never saw.\n\n",
        markdown_table(table, ("lateral PSNR", "sections PSNR", "sections detail_r2")),
        f"\n- lateral scheme: {' > '.join(schemes['lateral']['ranking'])} ({schemes['lateral']['seconds']:.0f} s)\n",
        f"- sections scheme: {' > '.join(schemes['sections']['ranking'])} ({schemes['sections']['seconds']:.0f} s)\n",
        f"- Spearman {rho:.2f}, same best: {same_best}\n\n",
        header_markdown(header),
    ]
    (RESULTS / "validate_real.md").write_text("".join(md))
    print(f"wrote {RESULTS}/validate_real.json and validate_real.md")


if __name__ == "__main__":
    main()
