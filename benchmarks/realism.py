"""Realism benchmark: the perception-distortion curve of `lateral-diffusion`, and what a user sees on it.

    python benchmarks/realism.py --cases em_x10_average [--realism 0,0.2,0.35,0.5,0.7,1] [--samples 1] [--guidance 1]
        [--prior conditional|diffusion] [--prior-steps N]

For each case (the quality benchmark's volumes, cached lateral and conditional priors, or with
`--prior diffusion` the unconditional one; `--prior-steps N` trains that prior for N steps instead of the
quality benchmark's count), `lateral-diffusion` runs at each realism (0 is `lateral`
itself: the posterior mean), through `api.restore` as users run it, and every output is scored like a
quality row: PSNR, SSIM of XZ planes, banding, axial power ratio (the truth's value is the reference), and
on EM membrane F1 and watershed VI with the case's fixed settings.
Writes results/realism{tag}_case_<case>.json per case and joins all present cases into
results/realism{tag}.json and .md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, header_markdown, machine_header, write_json  # noqa: E402
from quality import CPU, case_data, ensure_prior, parse_case, seen_scores  # noqa: E402

from axialsr import api  # noqa: E402
from axialsr.evaluation.membranes import settings_from_truth  # noqa: E402
from axialsr.frontends.figures import xz_crops  # noqa: E402
from axialsr.frontends.tables import markdown_table, print_table  # noqa: E402
from axialsr.methods.lateral_diffusion import RefineConfig  # noqa: E402
from axialsr.settings import RestoreConfig  # noqa: E402

COLUMNS = (
    "realism",
    "samples",
    "guidance",
    "prior",
    "psnr_3d",
    "ssim_xz",
    "banding",
    "axial_power",
    "membrane_f1",
    "vi_split",
    "vi_merge",
    "seconds",
)


def run_case(
    name: str,
    realisms: list[float],
    samples: int,
    tag: str,
    guidance: float = 1.0,
    prior: str = "conditional",
    prior_steps: int | None = None,
) -> dict:
    case = parse_case(name)
    gt, lr, labels = case_data(*case)
    acquisition = api.Acquisition(case[1], case[2])
    priors = [ensure_prior(case, "lateral"), ensure_prior(case, prior, steps=prior_steps)]
    prior_label = prior if prior_steps is None else f"{prior}, {prior_steps} steps"
    part_name = name if prior_steps is None else f"{name}_{prior}-{prior_steps}steps"
    settings = None if labels is None else settings_from_truth(gt.data, labels)
    rows = [{"method": "truth", **seen_scores(gt.data, case[1], labels, settings)}]
    crops = {"ground truth": gt.data}
    for realism in realisms:
        refine = RefineConfig(realism=realism, samples=samples, guidance=guidance)
        config = RestoreConfig(methods={"refine": refine})
        out, info = api.restore(
            lr, "lateral-diffusion", acquisition=acquisition, priors=priors, config=config, runtime=CPU.quiet()
        )
        scores = api.score_row(out, gt, acquisition)
        row = {
            "method": "lateral-diffusion",
            "realism": realism,
            "samples": samples,
            "guidance": guidance,
            "prior": prior_label,
            **scores,
            **seen_scores(out.data, case[1], labels, settings),
            "seconds": info.seconds,
        }
        rows.append(row)
        crops[f"realism {realism:g}"] = out.data
        print(f"{name} realism {realism:g}: {scores['psnr_3d']:.2f} dB, F1 {row.get('membrane_f1')}", flush=True)
    xz_crops(crops, RESULTS / f"realism{tag}_{part_name}_xz.png", size=min(64, gt.data.shape[0]))
    print_table(rows, COLUMNS, title=part_name)
    part = {"header": machine_header(), "case": part_name, "rows": rows}
    write_json(RESULTS / f"realism{tag}_case_{part_name}.json", part)
    return part


def assemble(tag: str) -> None:
    parts = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"realism{tag}_case_*.json"))]
    write_json(RESULTS / f"realism{tag}.json", {"cases": parts})
    md = [
        "# Realism benchmark: `lateral-diffusion` from the posterior mean (realism 0, = `lateral`) to a sample\n\n",
        "Each case in its own process (one torch thread); priors: the quality benchmark's cached lateral and "
        "conditional priors of the case (or, where the prior column names its steps, one trained for that many "
        "steps). The `truth` row gives the reference values of what users see.\n",
    ]
    for part in parts:
        md.append(f"\n## {part['case']}\n\n")
        md.append(header_markdown(part["header"]))
        for later in part.get("later_runs", []):  # rows added later, on the same machine type
            md.append(f"- later rows: {later['date']} ({later['cpu']}, commit {later['commit']})\n")
        md.append("\n" + markdown_table(part["rows"], COLUMNS) + "\n")
        md.append(f"\n![{part['case']}, XZ crops](realism{tag}_{part['case']}_xz.png)\n")
    (RESULTS / f"realism{tag}.md").write_text("".join(md))
    print(f"wrote {RESULTS}/realism{tag}.json and .md ({len(parts)} cases)")


def main() -> None:
    import torch

    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="em_x10_average")
    parser.add_argument("--realism", default="0,0.2,0.35,0.5,0.7,1")
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance of the prior")
    parser.add_argument("--prior", default="conditional", help="kind of the diffusion prior: conditional or diffusion")
    parser.add_argument("--prior-steps", type=int, default=None, help="train the prior for this many steps")
    parser.add_argument("--tag", default="")
    parser.add_argument("--assemble-only", action="store_true")
    args = parser.parse_args()
    if not args.assemble_only:
        for name in args.cases.split(","):
            realisms = [float(r) for r in args.realism.split(",")]
            run_case(name, realisms, args.samples, args.tag, args.guidance, args.prior, args.prior_steps)
    assemble(args.tag)


if __name__ == "__main__":
    main()
