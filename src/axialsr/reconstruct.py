"""Reconstruction: optimise the field so that A(field) reproduces the measured slices (fidelity) and its
XZ/YZ (optionally XY) patches look like the prior's XY patches (SDS).

Everything happens in normalised intensities on the output grid of `acquisition` (isotropic voxels).
Checkpoints (field, optimiser, RNG states, loss history) make a run resumable to the same result.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.acquisition import Acquisition
from axialsr.baselines import interpolate_z
from axialsr.errors import AxialSRError
from axialsr.field import Field, FieldConfig, render_volume
from axialsr.runtime import resolve_device
from axialsr.sds import SDS_WEIGHTINGS, sds_loss

CHECKPOINT_FILE = "reconstruction.pt"
LOSS_FILE = "reconstruction_loss.jsonl"


@dataclass
class ReconstructionConfig:
    """Settings of one reconstruction. Sizes in output voxels; t values as fractions of the prior's
    timesteps; `warmup` as a fraction of `iters` run with fidelity alone."""

    iters: int = 1500
    field: FieldConfig = field(default_factory=FieldConfig)
    base: str = "cubic"
    lr_encoding: float = 1e-2
    lr_mlp: float = 2e-3
    fidelity_batch: int = 4
    fidelity_crop: int = 48
    fidelity_loss: str = "l2"
    lambda_sds: float = 1.0
    sds_batch: int = 32
    sds_planes: tuple[str, ...] = ("xz", "yz")
    sds_weighting: str = "x0"
    t_min: float = 0.02
    t_max_start: float = 0.3
    t_max_end: float = 0.1
    warmup: float = 0.3
    seed: int = 0
    device: str = "auto"
    checkpoint_every: int = 250

    def validate(self) -> None:
        if self.iters < 1:
            raise AxialSRError(f"--iters must be >= 1, got {self.iters}")
        if self.base not in ("cubic", "none"):
            raise AxialSRError(f"base must be 'cubic' or 'none', got '{self.base}'")
        if self.fidelity_loss not in ("l1", "l2"):
            raise AxialSRError(f"fidelity loss must be 'l1' or 'l2', got '{self.fidelity_loss}'")
        if self.sds_weighting not in SDS_WEIGHTINGS:
            raise AxialSRError(f"SDS weighting must be one of {SDS_WEIGHTINGS}")
        if self.lambda_sds < 0:
            raise AxialSRError(f"--lambda-sds must be >= 0, got {self.lambda_sds}")
        bad = set(self.sds_planes) - {"xz", "yz", "xy"}
        if bad or not self.sds_planes:
            raise AxialSRError(f"SDS planes must be among xz, yz, xy; got {self.sds_planes}")
        if not 0 <= self.t_min < self.t_max_end <= 1 or not self.t_min < self.t_max_start <= 1:
            raise AxialSRError("need 0 <= t_min < t_max_end, t_max_start <= 1")


@dataclass
class ReconstructionResult:
    volume: np.ndarray  # normalised intensities on the output grid (Z_hr, Y, X)
    history: list[dict]
    seconds: float


def _config_dict(cfg: ReconstructionConfig) -> dict:
    d = asdict(cfg)
    d["sds_planes"] = list(cfg.sds_planes)
    return d


class _Sampler:
    """Positions of fidelity crops and SDS patches, drawn from a numpy Generator (for resumability)."""

    def __init__(
        self,
        depth_iso: int,
        shape_lr: tuple[int, int, int],
        taps: tuple[np.ndarray, np.ndarray],
        crop: int,
        device: torch.device,
    ) -> None:
        self.depth_iso = depth_iso
        self.z_lr, self.y_n, self.x_n = shape_lr
        self.crop_y, self.crop_x = min(crop, self.y_n), min(crop, self.x_n)
        self.tap_idx = torch.from_numpy(taps[0]).to(device)
        self.tap_w = torch.from_numpy(taps[1]).to(device, torch.float32)
        self.device = device

    def fidelity(
        self, rng: np.random.Generator, batch: int
    ) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray, np.ndarray]:
        ks = rng.integers(0, self.z_lr, batch)
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
    prior=None,
    config: ReconstructionConfig | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> ReconstructionResult:
    """Reconstruct the isotropic volume from normalised measured slices (Z_lr, Y, X).

    Without a prior (or with lambda_sds 0) this is the fidelity-only INR. Returns normalised
    intensities on the output grid (round(Z_lr * s), Y, X). `stop_after` ends after that many
    iterations in total (an interruption, for tests); `resume` continues from `checkpoint_dir`."""
    cfg = config or ReconstructionConfig()
    cfg.validate()
    device = resolve_device(cfg.device)
    measured = np.asarray(measured, dtype=np.float32)
    z_lr, y_n, x_n = measured.shape
    depth_iso = acquisition.output_depth(z_lr)
    taps = acquisition.taps(depth_iso, z_lr)
    use_sds = prior is not None and cfg.lambda_sds > 0
    spacing = float(prior.meta.get("bin_xy", 1)) if use_sds else 1.0
    if use_sds:
        span = int(np.ceil((prior.patch - 1) * spacing + 1))
        extent = {"xz": (depth_iso, x_n), "yz": (depth_iso, y_n), "xy": (y_n, x_n)}
        if min(min(extent[plane]) for plane in cfg.sds_planes) < span:
            raise AxialSRError(
                f"output grid {depth_iso}x{y_n}x{x_n} is smaller than the prior's patch ({span} voxels); "
                "train the prior with a smaller --patch"
            )
        prior.to(device)

    torch.manual_seed(cfg.seed)
    base = interpolate_z(measured, acquisition.factor, "cubic", depth_iso) if cfg.base == "cubic" else None
    model = Field((depth_iso, y_n, x_n), cfg.field, base).to(device)
    optimizer = torch.optim.Adam(
        [
            {"params": model.encoding_parameters(), "lr": cfg.lr_encoding},
            {"params": model.mlp_parameters(), "lr": cfg.lr_mlp},
        ],
        eps=1e-15,
    )
    base_lrs = [cfg.lr_encoding, cfg.lr_mlp]
    target = torch.from_numpy(measured).to(device)
    sampler = _Sampler(depth_iso, measured.shape, taps, cfg.fidelity_crop, device)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    start_iter = 0
    ckpt = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir is not None else None
    if resume and ckpt is not None and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        if state["config"] != _config_dict(cfg) or tuple(state["shape"]) != measured.shape:
            raise AxialSRError(f"{ckpt} was written with other settings or input; start afresh without --resume")
        model.load_state_dict(state["field"])
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        gen.set_state(state["torch_rng"])
        start_iter = state["iter"]
        history = state["history"]

    def save(iteration: int) -> None:
        if ckpt is None:
            return
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        tmp = ckpt.with_suffix(".tmp")
        torch.save(
            {
                "config": _config_dict(cfg),
                "shape": measured.shape,
                "iter": iteration,
                "field": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "numpy_rng": rng.bit_generator.state,
                "torch_rng": gen.get_state(),
                "history": history,
            },
            tmp,
        )
        os.replace(tmp, ckpt)
        log = ckpt.parent / LOSS_FILE
        log.with_suffix(".tmp").write_text("".join(json.dumps(h) + "\n" for h in history))
        os.replace(log.with_suffix(".tmp"), log)

    warmup_iters = int(cfg.warmup * cfg.iters)
    end = cfg.iters if stop_after is None else min(cfg.iters, stop_after)
    started = time.perf_counter()
    bar = tqdm(
        total=cfg.iters, initial=start_iter, desc="reconstructing", disable=not progress, unit="it", mininterval=2.0
    )
    model.train()
    for it in range(start_iter, end):
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
            sds = sds_loss(prior, patches, cfg.t_min, t_max, gen, cfg.sds_weighting)
            loss = loss + cfg.lambda_sds * sds
            record.update(sds=sds.item(), t_max=t_max)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.append(record)
        bar.update(1)
        if (it + 1) % 20 == 0:
            recent = history[-20:]
            post = {"fid": f"{np.mean([h['fidelity'] for h in recent]):.2e}"}
            if "sds" in record:
                post["sds"] = f"{np.mean([h.get('sds', 0.0) for h in recent]):.2e}"
            bar.set_postfix(post, refresh=False)
        if (it + 1) % cfg.checkpoint_every == 0 or it + 1 == end:
            save(it + 1)
    bar.close()
    model.eval()
    volume = render_volume(model, (depth_iso, y_n, x_n), progress=progress)
    return ReconstructionResult(volume=volume, history=history, seconds=time.perf_counter() - started)
