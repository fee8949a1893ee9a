"""The headline results of the README and the docs' home page, read from `benchmarks/results/`.

    python benchmarks/headline.py          # rewrite the block between the headline markers in both pages

The block is generated, never typed: `tests/test_docs.py` fails when it differs from what the committed
results give, so the front page cannot show a number that the benchmarks did not produce.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
PAGES = (ROOT / "README.md", ROOT / "docs" / "index.md")
START, END = "<!-- headline:start -->", "<!-- headline:end -->"
SYNTHETIC = {
    "em_x4_average": "synthetic EM x4",
    "em_x10_average": "synthetic EM x10 (4x4x40 nm)",
    "emreal_x10_average": "synthetic EM x10, noise + jitter + flicker",
    "fluo_x8_average": "synthetic nuclei x8",
    "fluoaxial_x4_average": "synthetic nuclei x4, confocal-like axial blur",
}


def render() -> str:
    """The headline table (Markdown): real EM first, then synthetic cases; PSNR in dB."""
    real = {r["method"]: r for r in json.loads((RESULTS / "real_em.json").read_text())["rows"]}
    quality = json.loads((RESULTS / "quality.json").read_text())["rows"]
    by_case = {(r["case"], r["method"]): r for r in quality}
    lines = [
        "| case | cubic | CARE (CSBDeep) | axialsr `run` |",
        "|---|---|---|---|",
        "| **real ssTEM (CREMI), x10 from pairs of sections, scored on the real sections** | "
        f"{real['cubic']['psnr']:.2f} | {real['care']['psnr']:.2f} | **{real['lateral']['psnr']:.2f}** |",
    ]
    for case, name in SYNTHETIC.items():
        cells = [by_case[(case, method)]["psnr_3d"] for method in ("cubic", "care", "lateral")]
        lines.append(f"| {name} | {cells[0]:.2f} | {cells[1]:.2f} | **{cells[2]:.2f}** |")
    return "\n".join(lines)


def rewrite(text: str) -> str:
    """`text` with the block between the markers replaced by `render()`."""
    block = f"{START}\n{render()}\n{END}"
    return re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)


def main() -> None:
    for page in PAGES:
        page.write_text(rewrite(page.read_text()))
        print(f"wrote the headline of {page.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
