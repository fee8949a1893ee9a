"""Reconstruction: optimise the field so that A(field) reproduces the measured slices (fidelity) and its
XZ/YZ (optionally XY) patches look like the prior's XY patches (SDS).

Everything happens in normalised intensities on the output grid of `acquisition` (isotropic voxels).
The loop is the shared `trainer.Trainer`: checkpoints (field, optimiser, RNG states, loss history) make a
run resumable to the same result.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from axialsr.device import resolve_device
from axialsr.errors import AxialSRError
from axialsr.learning.field import Field, render_volume, sample_volume
from axialsr.learning.loop import Trainer
from axialsr.learning.priors import DiffusionPrior
from axialsr.learning.sds import sds_loss
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z
from axialsr.operators.measurement import measurement_operator
from axialsr.settings import Runtime, identity

CHECKPOINT_FILE = "reconstruction.pt"
LOSS_FILE = "reconstruction_loss.jsonl"


@dataclass
class ReconstructionResult:
    """The reconstruction in normalised intensities on the output grid (Z_hr, Y, X), the loss history
    (one record per iteration) and the wall time in seconds."""

    volume: np.ndarray
    history: list[dict]
    seconds: float


class _Sampler:
    """Positions of fidelity crops and SDS patches, drawn from a numpy Generator (for resumability)."""

    def __init__(
        self,
        depth_iso: int,
        shape_lr: tuple[int, int, int],
        taps: tuple[np.ndarray, np.ndarray],
        *,
        crop: int,
        device: torch.device,
        present: np.ndarray | None = None,
    ) -> None:
        self.depth_iso = depth_iso
        self.z_lr, self.y_n, self.x_n = shape_lr
        # fidelity only to the sections that exist (identical draws when none is missing)
        self.sections = np.arange(self.z_lr) if present is None else np.flatnonzero(present)
        self.crop_y, self.crop_x = min(crop, self.y_n), min(crop, self.x_n)
        self.tap_idx = torch.from_numpy(taps[0]).to(device)
        self.tap_w = torch.from_numpy(taps[1]).to(device, torch.float32)
        self.device = device

    def fidelity(
        self, rng: np.random.Generator, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
        ks = self.sections[rng.integers(0, len(self.sections), batch)]
        y0 = rng.integers(0, self.y_n - self.crop_y + 1, batch)
        x0 = rng.integers(0, self.x_n - self.crop_x + 1, batch)
        dev = self.device
        z = self.tap_idx[torch.from_numpy(ks).to(dev)].float() + 0.5  # (B, L)
        y = torch.from_numpy(y0).to(dev)[:, None].float() + torch.arange(self.crop_y, device=dev) + 0.5  # (B, C)
        x = torch.from_numpy(x0).to(dev)[:, None].float() + torch.arange(self.crop_x, device=dev) + 0.5
        b, taps = z.shape
        pts = torch.stack(
            torch.broadcast_tensors(z[:, :, None, None], y[:, None, :, None], x[:, None, None, :]), -1
        )  # (B, L, Cy, Cx, 3)
        weights = self.tap_w[torch.from_numpy(ks).to(dev)]
        return pts.reshape(-1, 3), weights, ks, y0, x0

    def patches(
        self, rng: np.random.Generator, batch: int, size: int, planes: tuple[str, ...], spacing: float
    ) -> torch.Tensor:
        """(B * size * size, 3) positions of square patches in random planes; rows run along the first
        in-plane axis (z for XZ/YZ)."""
        dev = self.device
        span = (size - 1) * spacing + 1
        out = []
        for plane in rng.choice(list(planes), batch):
            steps = torch.arange(size, device=dev, dtype=torch.float32) * spacing
            if plane == "xy":
                z = float(rng.uniform(0, self.depth_iso))
                y0 = float(rng.uniform(0, self.y_n - span + 1))
                x0 = float(rng.uniform(0, self.x_n - span + 1))
                a, b = torch.meshgrid(y0 + steps + 0.5, x0 + steps + 0.5, indexing="ij")
                pts = torch.stack([torch.full_like(a, z), a, b], -1)
            else:
                lateral_n = self.x_n if plane == "xz" else self.y_n
                fixed_n = self.y_n if plane == "xz" else self.x_n
                z0 = float(rng.integers(0, self.depth_iso - int(np.ceil(span)) + 1))
                l0 = float(rng.integers(0, lateral_n - int(np.ceil(span)) + 1))
                fixed = float(rng.integers(0, fixed_n)) + 0.5
                zz, ll = torch.meshgrid(z0 + steps + 0.5, l0 + steps + 0.5, indexing="ij")
                ff = torch.full_like(zz, fixed)
                pts = torch.stack([zz, ff, ll] if plane == "xz" else [zz, ll, ff], -1)
            out.append(pts.reshape(-1, 3))
        return torch.cat(out)


def reconstruct(
    measured: np.ndarray,
    acquisition: Acquisition,
    *,
    config: Any,
    prior: DiffusionPrior | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    base: np.ndarray | None = None,
    runtime: Runtime | None = None,
) -> ReconstructionResult:
    """Reconstruct the isotropic volume from normalised measured slices (Z_lr, Y, X).

    Without a prior (or with lambda_sds 0) this is the fidelity-only INR; with an unconditional
    `DiffusionPrior`, SDS; with a conditional one, conditional SDS, each render conditioned on the same
    plane of the cubic interpolation. The field is a residual over `base` (a (Z_hr, Y, X) volume, e.g. a
    lateral restoration) when given, else over the cubic interpolation (config.base). Returns normalised
    intensities on the output grid (round(Z_lr * s), Y, X). `config` is a `methods.inr.ReconstructionConfig`
    (the INR methods own it; read here by its fields). `stop_after` ends after that many iterations in
    total (an interruption, for tests); `resume` continues from `checkpoint_dir`."""
    cfg = config
    rt = runtime or Runtime()
    device = resolve_device(rt.device)
    measured = np.asarray(measured, dtype=np.float32)
    z_lr, y_n, x_n = measured.shape
    depth_iso = acquisition.output_depth(z_lr)
    taps = measurement_operator(acquisition, depth_iso, z_lr).taps()
    use_sds = prior is not None and cfg.lambda_sds > 0
    if use_sds and not isinstance(prior, DiffusionPrior):
        raise AxialSRError(f"SDS needs a diffusion or conditional prior, not a {prior.kind} prior")
    spacing = float(prior.meta.get("bin_xy", 1)) if use_sds else 1.0
    if use_sds:
        span = int(np.ceil((prior.patch - 1) * spacing + 1))
        extent = {"xz": (depth_iso, x_n), "yz": (depth_iso, y_n), "xy": (y_n, x_n)}
        if min(min(extent[plane]) for plane in cfg.sds_planes) < span:
            raise AxialSRError(
                f"output grid {depth_iso}x{y_n}x{x_n} is smaller than the prior's patch ({span} voxels); "
                "train the prior with a smaller patch"
            )
        prior.to(device)
        if prior.conditional:
            prior.check_acquisition(acquisition)

    torch.manual_seed(rt.seed)
    cubic = interpolate_z(measured, acquisition.factor, "cubic", depth_iso)
    if base is not None and tuple(base.shape) != (depth_iso, y_n, x_n):
        raise AxialSRError(f"base volume {base.shape} does not match the output grid {(depth_iso, y_n, x_n)}")
    field_base = base if base is not None else (cubic if cfg.base == "cubic" else None)
    model = Field((depth_iso, y_n, x_n), cfg.field, field_base).to(device)
    condition = None
    if use_sds and prior.conditional:
        condition = torch.from_numpy(cubic)[None, None].to(device)
    optimizer = torch.optim.Adam(
        [
            {"params": model.encoding_parameters(), "lr": cfg.lr_encoding},
            {"params": model.mlp_parameters(), "lr": cfg.lr_mlp},
        ],
        eps=1e-15,
    )
    base_lrs = [cfg.lr_encoding, cfg.lr_mlp]
    target = torch.from_numpy(measured).to(device)
    sampler = _Sampler(
        depth_iso, measured.shape, taps, crop=cfg.fidelity_crop, device=device, present=acquisition.present(z_lr)
    )
    rng = np.random.default_rng(rt.seed)
    gen = torch.Generator().manual_seed(rt.seed)
    folder = Path(checkpoint_dir) if checkpoint_dir is not None else None
    trainer = Trainer(
        "reconstructing",
        cfg.iters,
        state={"field": model, "optimizer": optimizer},
        identity={"config": identity(cfg), "seed": rt.seed, "shape": list(measured.shape), "base": _fingerprint(base)},
        rng=rng,
        gen=gen,
        runtime=rt,
        checkpoint=None if folder is None else folder / CHECKPOINT_FILE,
        log=None if folder is None else folder / LOSS_FILE,
        unit="iteration",
    )
    if resume:
        trainer.resume(device)
    warmup_iters = int(cfg.warmup * cfg.iters)

    def step(it: int) -> dict:
        frac = it / max(1, cfg.iters - 1)
        for group, lr0 in zip(optimizer.param_groups, base_lrs, strict=True):
            group["lr"] = lr0 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * frac)))
        pts, weights, ks, y0, x0 = sampler.fidelity(rng, cfg.fidelity_batch)
        values = model(pts).view(len(ks), weights.shape[1], sampler.crop_y, sampler.crop_x)
        pred = (values * weights[:, :, None, None]).sum(1)
        tgt = torch.stack(
            [target[k, a : a + sampler.crop_y, b : b + sampler.crop_x] for k, a, b in zip(ks, y0, x0, strict=True)]
        )
        resid = pred - tgt
        fid = (resid**2).mean() if cfg.fidelity_loss == "l2" else resid.abs().mean()
        loss = fid
        record = {"iter": it + 1, "fidelity": fid.item()}
        if use_sds and it >= warmup_iters:
            sds_frac = (it - warmup_iters) / max(1, cfg.iters - warmup_iters - 1)
            t_max = cfg.t_max_start + (cfg.t_max_end - cfg.t_max_start) * sds_frac
            ppts = sampler.patches(rng, cfg.sds_batch, prior.patch, cfg.sds_planes, spacing)
            patches = model(ppts).view(cfg.sds_batch, 1, prior.patch, prior.patch)
            cond = None
            if condition is not None:
                cond = sample_volume(condition, model.normalize(ppts)).view_as(patches)
            sds = sds_loss(
                prior,
                patches,
                cfg.t_min,
                t_max,
                gen,
                weighting=cfg.sds_weighting,
                condition=cond,
                guidance=cfg.guidance,
            )
            loss = loss + cfg.lambda_sds * sds
            record.update(sds=sds.item(), t_max=t_max)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return record

    def postfix(history: list[dict]) -> dict:
        recent = history[-20:]
        shown = {"fid": f"{np.mean([h['fidelity'] for h in recent]):.2e}"}
        if "sds" in history[-1]:
            shown["sds"] = f"{np.mean([h.get('sds', 0.0) for h in recent]):.2e}"
        return shown

    started = time.perf_counter()
    model.train()
    history = trainer.run(step, stop_after, postfix, postfix_every=20)
    model.eval()
    volume = render_volume(model, (depth_iso, y_n, x_n), progress=rt.progress)
    return ReconstructionResult(volume=volume, history=history, seconds=time.perf_counter() - started)


def _fingerprint(volume: np.ndarray | None) -> str | None:
    """A short digest of a base volume, so that a checkpoint resumes only over the same base."""
    if volume is None:
        return None
    import hashlib

    return hashlib.sha256(np.ascontiguousarray(volume, np.float32).tobytes()).hexdigest()[:16]
