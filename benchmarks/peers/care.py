"""The peer: CSBDeep's isotropic CARE, fairly configured, on one quality-benchmark case.

    benchmarks/cache/peers/care-venv/bin/python benchmarks/peers/care.py --case em_x4_average

Runs in its own venv (benchmarks/peers/install.sh): it reads the case's measured volume, exported by
`benchmarks/quality.py --export-peer-inputs`, trains CARE on the volume's own XY slices and writes its
restoration (and timings) to benchmarks/cache/peers/, where quality.py scores it with the same code as
every other method. Settings, following CSBDeep's isotropic example, with the two corrections a careful
user makes (measured on these cases, see the quality issue):

- training pairs by `anisotropic_distortions`: a box PSF of s pixels along X (the slab average of the
  `average` model) and subsampling by s along X, from 1024 random 64x64 XY patches; source and target
  normalised with the *same* percentiles (1, 99.8) of the measured volume (the example normalises them
  separately, which teaches the network a gain below one);
- CARE's 2D U-Net with its default settings (depth 2, 32 first filters, MAE loss), batch 16, 600 steps
  (6 epochs of 100), 10% of the patches for validation;
- prediction with `IsotropicCARE.predict` (XZ and YZ slices, combined by their geometric mean), with its z
  upsampling put on the slab-centred output grid that every method here uses (CSBDeep's own zoom maps the
  first and last slices end to end, off that grid by up to half a slab).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent.parent / "cache" / "peers"
PERCENTILES = (1.0, 99.8)


def slab_centred_linear(arr: np.ndarray, zoom_factors, order: int = 1, **_) -> np.ndarray:
    """Replacement for scipy's zoom inside IsotropicCARE.predict: linear interpolation along axis 1 onto
    the slab-centred grid (output slice i reads input position (i + 1/2) / s - 1/2, ends held)."""
    factor = float(zoom_factors[1])
    n_in = arr.shape[1]
    n_out = int(round(n_in * factor))
    pos = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0, n_in - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    w = (pos - lo).reshape((1, -1) + (1,) * (arr.ndim - 2))
    return (1 - w) * np.take(arr, lo, axis=1) + w * np.take(arr, hi, axis=1)


def main() -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from csbdeep.data import PercentileNormalizer, RawData, create_patches
    from csbdeep.data.transform import anisotropic_distortions
    from csbdeep.models import Config, IsotropicCARE, care_isotropic
    from csbdeep.utils import normalize_mi_ma

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", required=True)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--patch", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    np.random.seed(args.seed)
    tf.random.set_seed(args.seed)
    meta_in = json.loads((HERE / f"input_{args.case}.json").read_text())
    measured = np.load(HERE / f"input_{args.case}.npy").astype(np.float32)
    factor = float(meta_in["factor"])
    lo, hi = np.percentile(measured, PERCENTILES)

    def same_percentiles(patches_x, patches_y, x, y, mask, channel):
        # one normalisation for source and target: the (undegraded) volume's percentiles
        return normalize_mi_ma(patches_x, lo, hi), normalize_mi_ma(patches_y, lo, hi)

    started = time.perf_counter()
    box = np.ones((1, int(round(factor))), np.float32) / round(factor)
    transform = anisotropic_distortions(subsample=factor, psf=box, psf_axes="YX", subsample_axis="X")
    raw = RawData.from_arrays(measured[None], measured[None], axes="ZYX")
    x, y, axes = create_patches(
        raw,
        (1, args.patch, args.patch),
        1024,
        transforms=[transform],
        normalization=same_percentiles,
        patch_filter=None,
        verbose=False,
    )
    x, y = x[:, :, 0], y[:, :, 0]  # (N, C, 1, P, P) -> (N, C, P, P)
    n_val = max(1, len(x) // 10)
    config = Config(
        "YX",
        n_channel_in=1,
        n_channel_out=1,
        train_batch_size=16,
        train_epochs=args.steps // 100,
        train_steps_per_epoch=100,
    )
    model = IsotropicCARE(config, f"care_{args.case}", basedir=str(HERE / "models"))
    x, y = np.moveaxis(x, 1, -1), np.moveaxis(y, 1, -1)
    model.train(x[n_val:], y[n_val:], validation_data=(x[:n_val], y[:n_val]))
    train_seconds = time.perf_counter() - started

    care_isotropic.zoom = slab_centred_linear  # realign predict's z upsampling on the output grid
    started = time.perf_counter()
    restored = model.predict(measured, "ZYX", factor, normalizer=PercentileNormalizer(*PERCENTILES), batch_size=8)
    predict_seconds = time.perf_counter() - started
    np.save(HERE / f"care_{args.case}.npy", restored.astype(np.float32))
    settings = {
        "csbdeep": __import__("csbdeep").__version__,
        "tensorflow": tf.__version__,
        "steps": args.steps,
        "patch": args.patch,
        "patches": 1024,
        "batch": 16,
        "normalisation": f"same percentiles {PERCENTILES} for source and target",
        "distortion": f"box PSF {box.shape[1]} px along X, subsample {factor:g} along X",
        "grid": "slab-centred (realigned)",
        "threads": 1,
    }
    (HERE / f"care_{args.case}.json").write_text(
        json.dumps({"train_seconds": train_seconds, "predict_seconds": predict_seconds, "settings": settings}, indent=2)
    )
    print(f"care {args.case}: train {train_seconds:.0f} s, predict {predict_seconds:.0f} s, shape {restored.shape}")


if __name__ == "__main__":
    main()
