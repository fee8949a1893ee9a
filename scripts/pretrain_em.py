"""Train the pretrained start of the lateral regressor on real serial-section TEM (see docs/model-card.md).

    python scripts/pretrain_em.py FOLDER --out start.pt [--steps 6000] [--seed 0]

FOLDER holds the sections of the ISBI 2012 challenge (Drosophila first-instar larva ventral nerve cord,
ssTEM, 4 x 4 x 50 nm; Cardona et al. 2010), one 8-bit PNG per section, named train_<k>.png and
test_<k>.png (k = 0-29): the two 30-section volumes, as GitHub repositories of U-Net tutorials keep them
(data/membrane/train/image/<k>.png and data/membrane/test/<k>.png). Each volume is used at its pixel
(4 nm) and binned 2 x 2 (8 nm), at the factors FACTORS. No FIB-SEM and nothing of CREMI is used: FIB-SEM
judges how the start transfers to another modality, and the CREMI crop is the benchmark.

One torch thread (`OMP_NUM_THREADS=1`) reproduces the weights bit for bit on the same CPU type.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import torch

from axialsr.learning.pretraining import pretrain_lateral, save_start
from axialsr.learning.prior_training import bin_xy
from axialsr.settings import PriorConfig, Runtime

FACTORS = (4.0, 5.0, 6.0, 8.0, 10.0, 12.0)


def volumes(folder: Path) -> dict[str, np.ndarray]:
    """The two ISBI volumes (30, 512, 512) at 4 nm and binned to 8 nm, by name."""
    out = {}
    for split in ("train", "test"):
        stack = np.stack([iio.imread(folder / f"{split}_{k}.png") for k in range(30)]).astype(np.float32)
        out[f"isbi2012-{split}-4nm"] = stack
        out[f"isbi2012-{split}-8nm"] = bin_xy(stack, 2)
    return out


def synthetic_volumes(count: int = 4) -> dict[str, np.ndarray]:
    """`count` synthetic EM volumes (axialsr.evaluation.synthetic, seeds 100 on: none of the benchmark's), 16 x 256 x
    256, at their pixel and binned 2 x 2."""
    from axialsr.evaluation.synthetic import em_neuropil

    out = {}
    for seed in range(100, 100 + count):
        stack = em_neuropil((16, 256, 256), seed=seed)
        out[f"synthetic-em-seed{seed}"] = stack
        out[f"synthetic-em-seed{seed}-bin2"] = bin_xy(stack, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", help="the ISBI 2012 sections (not with --synthetic)")
    parser.add_argument("--synthetic", action="store_true", help="synthetic EM instead (licence-free)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.synthetic == (args.folder is not None):
        parser.error("give the ISBI folder or --synthetic")
    stacks = synthetic_volumes() if args.synthetic else volumes(args.folder)
    config = PriorConfig(kind="lateral", preset="small", steps=args.steps)
    start = pretrain_lateral(
        list(stacks.values()), FACTORS, config, names=list(stacks), runtime=Runtime(device="cpu", seed=args.seed)
    )
    print(f"wrote {save_start(start, args.out)}")


if __name__ == "__main__":
    main()
