"""Fingerprints of every method's output for one seed: the check that a refactoring changed no number.

Trains tiny priors of each kind on a small synthetic EM stack (one with a missing section and one
corrected section), restores it with every registered method (the INR methods with a few iterations),
with the uncertainty and the l2 projection once each, blockwise once, and validates it with each scheme;
prints one SHA-256 per output (float32 bytes) as JSON. Run it before and after a change and compare:

    python scripts/fingerprint.py > before.json     # on the old commit
    python scripts/fingerprint.py > after.json      # on the new one
    diff before.json after.json                     # nothing: bit-identical
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from dataclasses import replace

import numpy as np

from axialsr import api
from axialsr.methods.inr import ReconstructionConfig
from axialsr.settings import PriorConfig, RestoreConfig, ValidationConfig


def digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).tobytes()).hexdigest()[:16]


def main() -> dict[str, str]:
    runtime = api.Runtime(device="cpu", seed=3, threads=1, progress=False)
    truth = api.synth("em", (40, 48, 48), seed=1)
    measured = api.simulate_acquisition(truth, api.Acquisition(4), dtype="float32")
    data = measured.data.copy()
    data[3] = 0.0  # a blank section
    measured = api.Volume(data, measured.voxel_size, measured.unit)
    acquisition = api.Acquisition(4, missing=(3,), corrections=((6, 1.1, -0.02),))
    out: dict[str, str] = {}
    priors = []
    for kind in ("lateral", "diffusion", "conditional"):
        prior = api.train_prior(
            measured, config=PriorConfig(kind=kind, preset="tiny", steps=12), acquisition=acquisition, runtime=runtime
        )
        priors.append(prior)
    config = RestoreConfig(methods={"recon": ReconstructionConfig(iters=12, warmup=0.5)})
    lateral, diffusion, conditional = priors
    runs = [(method, [lateral, conditional]) for method in api.method_names()]
    runs += [(f"{m}:unconditional", [lateral, diffusion]) for m in ("inr-sds", "slicewise", "lateral-diffusion")]
    for name, given in runs:
        volume, _ = api.restore(
            measured,
            method=name.split(":")[0],
            acquisition=acquisition,
            priors=given,
            config=config,
            runtime=runtime,
        )
        out[name] = digest(volume.data)
    for name, cfg in {
        "lateral+uncertainty": replace(config, uncertainty=True),
        "lateral+l2": replace(config, projection="l2"),
    }.items():
        volume, result = api.restore(
            measured, method="lateral", acquisition=acquisition, priors=[lateral], config=cfg, runtime=runtime
        )
        out[name] = digest(volume.data)
        if result.uncertainty is not None:
            out[name + ":spread"] = digest(result.uncertainty)
    from axialsr.pipeline.blocks import BlockConfig

    with tempfile.TemporaryDirectory() as tmp:
        source = api.open_source(_save(measured, tmp))
        api.restore(
            source,
            out=f"{tmp}/iso.zarr",
            method="lateral",
            acquisition=acquisition,
            priors=[lateral],
            config=config,
            blocks=BlockConfig(blocks=(5, 32, 32), overlap=4, workers=0),
            runtime=runtime,
        )
        out["lateral:blockwise"] = digest(api.read_volume(f"{tmp}/iso.zarr").data)
    for scheme in ("lateral", "holdout", "sections"):
        compared = ("cubic", "inr") if scheme == "holdout" else ("cubic", "lateral")
        cfg = ValidationConfig(
            scheme=scheme,
            methods=compared,
            restore=config,
            lateral_prior=PriorConfig(kind="lateral", preset="tiny", steps=12),
        )
        result = api.validate(measured, acquisition=acquisition, priors=None, config=cfg, runtime=runtime)
        scores = [{k: v for k, v in row.items() if k != "seconds"} for row in result.rows]
        out[f"validate:{scheme}"] = hashlib.sha256(json.dumps(scores, sort_keys=True).encode()).hexdigest()[:16]
        for method, restored in result.restored.items():
            out[f"validate:{scheme}:{method}"] = digest(restored)
    return out


def _save(volume, folder: str) -> str:
    path = f"{folder}/measured.tif"
    api.write_volume(path, volume.data, volume.voxel_size, volume.unit)
    return path


if __name__ == "__main__":
    json.dump(main(), sys.stdout, indent=1)
    print()
