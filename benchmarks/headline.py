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
REAL_FLUORESCENCE = {
    "confocal_x4_average": "real confocal nuclei (cells3d), x4, scored on its own sections",
    "lightsheet_x4_average": "real light-sheet nuclei (mesoSPIM), x4, scored on its own sections",
}
SYNTHETIC = {
    "em_x4_average": "synthetic EM x4",
    "em_x10_average": "synthetic EM x10 (4x4x40 nm)",
    "emreal_x10_average": "synthetic EM x10, noise + jitter + flicker",
    "fluo_x8_average": "synthetic nuclei x8",
    "fluoaxial_x4_average": "synthetic nuclei x4, confocal-like axial blur",
}


def render() -> str:
    """The headline table (Markdown): real EM first, then real fluorescence, then synthetic cases; PSNR in
    dB, the best of each row in bold."""
    real = {r["method"]: r for r in json.loads((RESULTS / "real_em.json").read_text())["rows"]}
    quality = json.loads((RESULTS / "quality.json").read_text())["rows"]
    by_case = {(r["case"], r["method"]): r for r in quality}
    lines = [
        "| case | cubic | CARE (CSBDeep) | axialsr `run` |",
        "|---|---|---|---|",
        _row(
            "**real ssTEM (CREMI), x10 from pairs of sections, scored on the real sections**",
            [real[method]["psnr"] for method in ("cubic", "care", "lateral")],
        ),
    ]
    isbi = {r["method"]: r for r in json.loads((RESULTS / "real_em_isbi.json").read_text())["rows"]}
    lines.append(
        _row(
            "**real ssTEM (ISBI 2012), x12.5 from pairs of sections, scored on the real sections**",
            [isbi[method]["psnr"] for method in ("cubic", "care", "lateral")],
        )
    )
    for case, name in {**REAL_FLUORESCENCE, **SYNTHETIC}.items():
        lines.append(_row(name, [by_case[(case, method)]["psnr_3d"] for method in ("cubic", "care", "lateral")]))
    return "\n".join(lines)


def _row(name: str, cells: list[float]) -> str:
    best = max(cells)
    shown = [f"**{v:.2f}**" if v == best else f"{v:.2f}" for v in cells]
    return f"| {name} | " + " | ".join(shown) + " |"


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
