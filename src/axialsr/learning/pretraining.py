"""A start for the lateral regressor: trained once on other real stacks, fine-tuned on each user's stack.

Lateral self-supervision learns from one stack's XY slices; what it learns about membranes, organelles and
how they blur along a slab is much the same from one EM stack to the next. `pretrain_lateral` trains the
regressor of the `lateral` kind on the lateral pairs of several stacks at several factors (each batch one
stack at one factor; the slab phase follows the factor), and `save_start` / `load_start` keep the EMA
weights with what they were trained on. `train_prior(..., PriorConfig(start=path))` then starts from them
and needs far fewer steps on the user's stack (`PRESETS[...]['fine_tune_steps']`).

Examples
--------
>>> from axialsr.evaluation.synthetic import em_neuropil
>>> stack = em_neuropil((8, 48, 48), seed=0)
>>> cfg = PriorConfig(kind="lateral", preset="tiny", steps=2)
>>> start = pretrain_lateral([stack], (4.0, 6.0), cfg, runtime=Runtime(progress=False))
>>> sorted(start["meta"]["factors"])
[4.0, 6.0]
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from axialsr.device import autocast, resolve_device
from axialsr.errors import AxialSRError
from axialsr.learning.loop import Trainer, optimizer_step
from axialsr.learning.networks import make_unet
from axialsr.learning.planes import LateralPairs
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import measurement_operator
from axialsr.settings import PriorConfig, Runtime, identity

START_FORMAT = "axialsr-lateral-start"


def pretrain_lateral(
    stacks: list[np.ndarray],
    factors: tuple[float, ...],
    config: PriorConfig,
    *,
    names: list[str] | None = None,
    runtime: Runtime | None = None,
) -> dict:
    """Train a lateral regressor (with the slab phase) on the XY slices of `stacks` at each of `factors`.

    Parameters
    ----------
    stacks : list of ndarray
        Measured stacks (Z, Y, X), any dtype; each is normalised on its own, as `train_prior` does.
    factors : tuple of float
        Axial factors to learn (each batch draws one, and one stack, at random).
    config : PriorConfig
        Kind `lateral`; its preset, patch, steps, batch and learning rate (no section pairs).
    names : list of str, optional
        What the stacks are, recorded with the weights.
    runtime : Runtime, optional
        Device, seed, progress bar.

    Returns
    -------
    dict
        `state` (the EMA weights) and `meta` (architecture, factors, stacks, steps, seed).
    """
    if config.kind != "lateral":
        raise AxialSRError("a pretrained start is for the lateral regressor")
    if not stacks or not factors:
        raise AxialSRError("pretraining needs at least one stack and one factor")
    rt = runtime or Runtime()
    device = resolve_device(rt.device)
    cfg = config.resolved(gpu=device.type == "cuda")
    unet_kwargs = {**cfg.unet, "slab": float(factors[0])}
    torch.manual_seed(rt.seed)
    unet = make_unet(unet_kwargs, cfg.patch, 1, "lateral").to(device)
    ema = make_unet(unet_kwargs, cfg.patch, 1, "lateral").to(device)
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sources = []
    for stack in stacks:
        data = Normalization.fit(stack).forward(np.asarray(stack, np.float32))
        for factor in factors:
            acquisition = Acquisition(float(factor))
            pairs = LateralPairs(data, acquisition, cfg.patch)
            operator = measurement_operator(acquisition, cfg.patch, projection=cfg.projection).error_operator()
            sources.append((float(factor), pairs, torch.from_numpy(operator.astype(np.float32)).to(device)))
    rng = np.random.default_rng(rt.seed)
    gen = torch.Generator(device="cpu").manual_seed(rt.seed)
    trainer = Trainer(
        "pretraining lateral regressor",
        cfg.steps,
        state={"unet": unet},
        identity=identity(cfg),
        rng=rng,
        gen=gen,
        runtime=rt,
    )

    def step(index: int) -> dict:
        factor, pairs, null_space = sources[int(rng.integers(len(sources)))]
        unet.slab = factor
        degraded, target = pairs(rng, cfg.batch)
        with autocast(device, rt.precision):
            restored = unet(torch.from_numpy(degraded).unsqueeze(1).to(device))
        residual = restored.float() - torch.from_numpy(target).unsqueeze(1).to(device)
        loss = (torch.einsum("rk,bckl->bcrl", null_space, residual) ** 2).mean()
        return optimizer_step(loss, index, cfg=cfg, unet=unet, ema=ema, optimizer=optimizer)

    unet.train()
    trainer.run(step)
    meta = {
        "format": START_FORMAT,
        "unet": network_of(cfg.unet),
        "patch": cfg.patch,
        "factors": [float(f) for f in factors],
        "stacks": list(names) if names is not None else [list(np.shape(s)) for s in stacks],
        "training": identity(cfg) | {"seed": rt.seed},
        "steps_trained": trainer.step,
    }
    return {"state": {k: v.detach().cpu() for k, v in ema.state_dict().items()}, "meta": meta}


def network_of(unet_kwargs: dict) -> dict:
    """The network a start holds weights for, as JSON values: the UNet's settings without the slab (the
    phase channels' period, which follows each stack's factor)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in unet_kwargs.items() if k != "slab"}


PACKAGED_START = "em_lateral_small.pt"  # in axialsr/starts/: see docs/model-card.md


def packaged_start() -> Path | None:
    """The start that ships with axialsr (for the `small` preset's regressor), or None where none does."""
    path = Path(__file__).resolve().parents[1] / "starts" / PACKAGED_START
    return path if path.is_file() else None


def save_start(start: dict, path: str | os.PathLike) -> Path:
    """Write a start (from `pretrain_lateral`) to one file (torch format, weights and meta)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(start, path)
    return path


def load_start(path: str | os.PathLike) -> dict:
    """Read a start written by `save_start`; AxialSRError when the file is not one."""
    path = Path(path)
    if not path.is_file():
        raise AxialSRError(f"no pretrained start at {path}", setting="start")
    start = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(start, dict) or start.get("meta", {}).get("format") != START_FORMAT:
        raise AxialSRError(f"{path} is not a pretrained start of the lateral regressor", setting="start")
    start["meta"]["file"] = path.name
    return start
