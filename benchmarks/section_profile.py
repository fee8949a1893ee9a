"""Do the real sections follow the `average` model? Two checks on the real CREMI crop (40 nm sections, x5).

    python benchmarks/section_profile.py

- `axial_blur`: the extra axial blur that `lateral.axial_blur_estimate` fits on the crop at its own factor 5
  (Gaussian sigma, output pixels; its `spread`): a section profile wider than the slab shows as a blur.
- `adjacent_correlation`: the correlation of each pair of adjacent sections (mean and standard deviation over
  the crop, the lost section 14 left out): uneven thickness shows as uneven correlations.

Writes results/section_profile.json and .md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_header import RESULTS, machine_header, write_json  # noqa: E402
from real_data import stack_path  # noqa: E402

from axialsr.frontends.tables import markdown_table  # noqa: E402
from axialsr.learning.planes import axial_blur_estimate  # noqa: E402
from axialsr.operators.acquisition import Acquisition  # noqa: E402

BLANK = 14


def main() -> None:
    import tifffile

    stack = tifffile.imread(stack_path("cremi")).astype(np.float32)
    stack[BLANK] = 0.5 * (stack[BLANK - 1] + stack[BLANK + 1])
    estimate = axial_blur_estimate(stack, Acquisition(5.0))
    pairs = [k for k in range(len(stack) - 1) if BLANK not in (k, k + 1)]
    correlations = [np.corrcoef(stack[k].ravel(), stack[k + 1].ravel())[0, 1] for k in pairs]
    rows = [
        {"method": "axial_blur", "value": estimate.fitted, "spread": estimate.spread},
        {
            "method": "adjacent_correlation",
            "value": float(np.mean(correlations)),
            "spread": float(np.std(correlations)),
        },
    ]
    write_json(RESULTS / "section_profile.json", {"rows": rows, "header": machine_header()})
    text = "# Do the real CREMI sections follow the average model?\n\nSee benchmarks/section_profile.py.\n\n"
    (RESULTS / "section_profile.md").write_text(text + markdown_table(rows, ("method", "value", "spread")))
    print(rows)


if __name__ == "__main__":
    main()
