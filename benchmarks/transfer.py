"""Transfer benchmark: does a lateral regressor trained on one volume serve another of the same kind?

    python benchmarks/transfer.py [--cases em_x4_average,fluo_x4_average]

For each case, a second volume of the same kind, factor and acquisition model (generator seed 1; the
quality cases use seed 0) is restored by `lateral` (a) with the regressor trained on its own measured XY
slices, as `run` does, and (b) with the quality benchmark's cached regressor of the case, trained on the
seed-0 volume (`reconstruct --prior`), beside cubic interpolation; scored like quality rows. Writes
results/transfer.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import CACHE, CPU, case_data, ensure_prior, parse_case, seen_scores  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.evaluation.membranes import settings_from_truth  # noqa: E402
from axialsr.frontends.tables import markdown_table, print_table  # noqa: E402
from axialsr.settings import PriorConfig  # noqa: E402

COLUMNS = ("psnr_3d", "ssim_xz", "banding", "axial_power", "membrane_f1", "vi", "train_s", "seconds")


def run_case(name: str) -> list[dict]:
    case = parse_case(name)
    gt, lr, labels = case_data(*case, seed=1)
    acquisition = api.Acquisition(case[1], case[2])
    settings = None if labels is None else settings_from_truth(gt.data, labels)
    own_dir = CACHE / f"{name}_seed1" / "lateral-None"
    start = time.perf_counter()
    if not api.is_prior_folder(own_dir):
        api.train_prior(
            lr,
            PriorConfig(kind="lateral", preset="small"),
            out_dir=own_dir,
            acquisition=acquisition,
            resume=True,
            runtime=CPU,
        )
    (own,) = api.load_priors(own_dir, "cpu")
    own_train_s = float(own.meta.get("seconds", time.perf_counter() - start))
    other = ensure_prior(case, "lateral")
    rows = [{"method": "truth", **seen_scores(gt.data, case[1], labels, settings)}]
    for row, method, priors, train_s in (
        ("cubic", "cubic", [], 0.0),
        ("lateral, trained on this volume", "lateral", [own], own_train_s),
        ("lateral, trained on the seed-0 volume", "lateral", [other], 0.0),
    ):
        out, info = api.restore(lr, method, acquisition=acquisition, priors=priors, runtime=CPU.quiet())
        rows.append(
            {
                "method": row,
                **api.score_row(out, gt, acquisition),
                **seen_scores(out.data, case[1], labels, settings),
                "train_s": train_s,
                "seconds": info.seconds,
            }
        )
    print_table(rows, COLUMNS, title=f"{name}, seed-1 volume")
    return rows


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="em_x4_average,fluo_x4_average")
    parser.add_argument("--assemble-only", action="store_true", help="rewrite the .md from results/transfer.json")
    args = parser.parse_args()
    if args.assemble_only:
        saved = json.loads((RESULTS / "transfer.json").read_text())
        header, cases = saved["header"], saved["cases"]
    else:
        header = machine_header()
        cases = {name: run_case(name) for name in args.cases.split(",")}
        write_json(RESULTS / "transfer.json", {"header": header, "cases": cases})
    md = [
        "# Transfer benchmark: one regressor for another volume of the same kind\n\n",
        header_markdown(header),
        "\nThe seed-1 volume of each case restored with its own regressor and with the seed-0 volume's "
        "(train_s: the training this row needs; a transferred regressor needs none).\n",
    ]
    for name, rows in cases.items():
        md.append(f"\n## {name}\n\n" + markdown_table(rows, COLUMNS) + "\n")
    (RESULTS / "transfer.md").write_text("".join(md))
    print(f"wrote {RESULTS}/transfer.json and .md")


if __name__ == "__main__":
    main()
