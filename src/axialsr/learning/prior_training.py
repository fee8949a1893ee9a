"""Training a prior (any kind, see `axialsr.learning.priors`) on the XY slices of the input itself.

One loop serves every kind; only the batch and the loss differ:

- `diffusion`: random XY patches with the 8 flips/90-degree rotations; epsilon-prediction MSE, noise
  added by the scheduler (`DDPMScheduler.add_noise`).
- `conditional`: lateral pairs (`axialsr.learning.planes.LateralPairs`); the degraded patch is a second input
  channel, replaced by zeros `condition_dropout` of the time.
- `lateral`: lateral pairs; MSE between the regressor's output and the measured patch.

AdamW with a linear warm-up (then constant for `diffusion`, cosine decay for the pair kinds), gradient
clipping and an EMA of the weights, which is what the saved prior holds. The loop is the shared
`trainer.Trainer`: with an output folder, checkpoints (model, EMA, optimiser and RNG states) at the
runtime's cadence and at the end, so `resume` continues to the same result as an uninterrupted run;
`loss.jsonl` holds the curve.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from axialsr.device import autocast, resolve_device, resolve_precision
from axialsr.errors import AxialSRError
from axialsr.learning.loop import Trainer, optimizer_step
from axialsr.learning.networks import make_scheduler, make_unet
from axialsr.learning.planes import LateralPairs, SectionPairs, bin_xy, estimate_axial_blur, is_sparse
from axialsr.learning.pretraining import load_start, network_of, packaged_start
from axialsr.learning.priors import PRIOR_FORMAT, PRIOR_FORMAT_VERSION, Prior, prior_type
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization
from axialsr.operators.measurement import measurement_operator
from axialsr.operators.noise import stack_noise
from axialsr.settings import PAIR_KINDS, PRESETS, PriorConfig, Runtime, identity, uses_slab_phase

CHECKPOINT_FILE = "checkpoint.pt"
LOSS_FILE = "loss.jsonl"


def _library_versions() -> dict[str, str]:
    import diffusers

    return {"torch": torch.__version__, "diffusers": diffusers.__version__, "numpy": np.__version__}


class _XYPatches:
    """Random (P, P) XY patches of a normalised (Z, Y, X) volume with the 8 flips/90-degree rotations."""

    def __init__(self, volume: np.ndarray, patch: int) -> None:
        if volume.shape[1] < patch or volume.shape[2] < patch:
            raise AxialSRError(
                f"XY size {volume.shape[1:]} is smaller than the prior's patch {patch}; use a smaller patch", "patch"
            )
        self.volume = volume
        self.patch = patch

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        z_n, y_n, x_n = self.volume.shape
        zs = rng.integers(0, z_n, n)
        ys = rng.integers(0, y_n - self.patch + 1, n)
        xs = rng.integers(0, x_n - self.patch + 1, n)
        rots = rng.integers(0, 4, n)
        flips = rng.integers(0, 2, n)
        out = np.empty((n, self.patch, self.patch), dtype=np.float32)
        for i in range(n):
            p = self.volume[zs[i], ys[i] : ys[i] + self.patch, xs[i] : xs[i] + self.patch]
            p = np.rot90(p, rots[i])
            out[i] = p[:, ::-1] if flips[i] else p
        return out


def xy_patches(volume: np.ndarray, patch: int, n: int, seed: int = 0, bin_factor: int = 1) -> np.ndarray:
    """`n` random XY patches (n, P, P) of a normalised volume, binned like a prior's training data."""
    return _XYPatches(bin_xy(volume, bin_factor), patch)(np.random.default_rng(seed), n)


def train_prior(
    volume: np.ndarray,
    config: PriorConfig | None = None,
    *,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    pixel_size: float | None = None,
    acquisition: Acquisition | None = None,
    stop_after: int | None = None,
    runtime: Runtime | None = None,
) -> Prior:
    """Train a prior on the XY slices of `volume` (Z, Y, X; any dtype, input units).

    Parameters
    ----------
    volume : ndarray
        The measured (anisotropic) stack; its XY slices are the training data.
    config : PriorConfig, optional
        Kind, size and training settings (default: an unconditional diffusion prior).
    out_dir : path, optional
        Folder for checkpoints, the loss curve and the final prior.
    resume : bool
        Continue from `out_dir`'s checkpoint (same settings and seed required).
    pixel_size : float, optional
        Lateral pixel size, recorded in the prior.
    acquisition : Acquisition, optional
        Required for the pair kinds (`conditional`, `lateral`): how z was measured, applied along y/x.
        Its missing sections are left out of the training data (any kind).
    stop_after : int, optional
        End after this many steps in total (an interruption, for tests).
    runtime : Runtime, optional
        Device, seed, progress bar, checkpoint cadence.

    Returns
    -------
    Prior
        A `DiffusionPrior` or `LateralRegressor` with its EMA weights; `prior.losses` holds the loss per
        step.
    """
    rt = runtime or Runtime()
    device = resolve_device(rt.device)
    cfg = (config or PriorConfig()).resolved(gpu=device.type == "cuda")
    if config is None or config.patch is None:  # the preset's patch: smaller where the slices are
        cfg = patch_within(cfg, tuple(volume.shape), acquisition if cfg.kind in PAIR_KINDS else None)
    pair = cfg.kind in PAIR_KINDS
    if pair and acquisition is None:
        raise AxialSRError(f"a {cfg.kind} prior learns to undo the acquisition: give the acquisition (factor, model)")
    out_path = Path(out_dir) if out_dir is not None else None

    # the acquisition's missing sections are no training data; the axial-blur estimate, which needs
    # sections evenly spaced along z, sees them bridged from their neighbours
    if acquisition is not None:  # sections off in brightness are matched to their neighbours first
        volume = acquisition.correct(volume)
        acquisition = acquisition.as_corrected()
    missing = () if acquisition is None else acquisition.missing
    along_z = acquisition.fill_missing if missing else None  # bridged only where the blur is estimated
    sections = volume
    stack_acquisition = acquisition  # along z, with its missing sections (the section pairs need them)
    if missing:
        sections = np.asarray(volume)[acquisition.present(len(volume))]
        acquisition = acquisition.without_missing()  # from here on applied along y and x: none missing
    normalization = Normalization.fit(sections)
    data = normalization.forward(sections)
    axial_blur = None
    pair_noise = {}
    if pair:
        if cfg.axial_blur is None:
            stack = normalization.forward(along_z(volume)) if along_z else data
            axial_blur = estimate_axial_blur(stack, acquisition)
        else:
            axial_blur = cfg.axial_blur
        pair_noise = _pair_noise(cfg, data, normalization, acquisition)
        if missing:  # the pairs' rows go missing as often as the stack's sections do (`LateralPairs`)
            pair_noise["gaps"] = len(missing) / len(volume)
    phase = cfg.kind == "lateral" and uses_slab_phase(cfg.slab_phase, axial_blur, is_sparse(data))
    if phase and "slab" not in cfg.unet:
        cfg = replace(cfg, unet={**cfg.unet, "slab": float(acquisition.factor)})

    start = _start(cfg, phase)
    if start is not None and cfg.start == "auto" and (config is None or config.steps is None):
        cfg = replace(cfg, steps=PRESETS[cfg.preset]["fine_tune_steps"])

    torch.manual_seed(rt.seed)
    in_channels = 2 if cfg.kind == "conditional" else 1
    unet = make_unet(cfg.unet, cfg.patch, in_channels, cfg.kind).to(device)
    ema = make_unet(cfg.unet, cfg.patch, in_channels, cfg.kind).to(device)
    if start is not None:
        unet.load_state_dict(start["state"])
    ema.load_state_dict(unet.state_dict())
    ema.requires_grad_(False)
    optimizer = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=1e-4)
    rng = np.random.default_rng(rt.seed)
    gen = torch.Generator(device="cpu").manual_seed(rt.seed)
    section_pairs = None
    # on EM-like stacks only (the slab phase on): on fluorescence they moved nothing, and with an axial blur
    # they cost 1.2 dB (benchmarks/results/quality.md, fluoaxial_x4)
    if cfg.kind == "lateral" and cfg.section_pairs > 0 and phase:
        stack = normalization.forward(np.asarray(volume, np.float32))
        noise = pair_noise.get("section_noise", 0.0) * 2.0 / (normalization.high - normalization.low)
        levels = len(cfg.unet.get("block_out_channels") or cfg.unet["channels"])
        try:  # a pair's mean over bin x bin pixels keeps 1 / (2 bin^2) of the noise variance of one pixel
            section_pairs = SectionPairs(
                stack,
                stack_acquisition,
                cfg.patch,
                noise=noise * float(np.sqrt(1 - 0.5 / cfg.section_bin**2)),
                bin=cfg.section_bin,
                multiple=2 ** (levels - 1),
            )
        except AxialSRError:  # too few sections or pixels: lateral pairs alone
            section_pairs = None
    batch_loss = _objective(
        cfg,
        data,
        acquisition=acquisition,
        axial_blur=axial_blur,
        pair_noise=pair_noise,
        unet=unet,
        device=device,
        rng=rng,
        gen=gen,
        precision=rt.precision,
        section_pairs=section_pairs,
    )

    trainer = Trainer(
        f"training {cfg.kind} prior",
        cfg.steps,
        state={"unet": unet, "ema": ema, "optimizer": optimizer},
        identity={"config": identity(cfg), "seed": rt.seed},
        rng=rng,
        gen=gen,
        runtime=rt,
        checkpoint=None if out_path is None else out_path / CHECKPOINT_FILE,
        log=None if out_path is None else out_path / LOSS_FILE,
        where=f"on {device.type} ({'bf16' if resolve_precision(rt.precision, device) == torch.bfloat16 else 'fp32'})",
        quicker=f"fewer steps give a quicker first look ({cfg.kind} prior steps, e.g. {max(1, cfg.steps // 4)})",
    )
    if resume:
        trainer.resume(device)

    def step(index: int) -> dict:
        record = optimizer_step(batch_loss(), index, cfg=cfg, unet=unet, ema=ema, optimizer=optimizer)
        if section_pairs is not None:  # the lateral pairs' part, the error the uncertainty's floor is
            record["pair_loss"] = batch_loss.pair_loss
        return record

    unet.train()
    started = time.perf_counter()
    history = trainer.run(step, stop_after, lambda h: {"loss": f"{np.mean([r['loss'] for r in h[-50:]]):.3g}"})
    losses = [r["loss"] for r in history]
    meta = {
        "format": PRIOR_FORMAT,
        "format_version": PRIOR_FORMAT_VERSION,
        "kind": cfg.kind,
        "unet": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.unet.items()},
        "in_channels": in_channels,
        "patch": cfg.patch,
        "timesteps": cfg.timesteps,
        "beta_schedule": cfg.beta_schedule,
        "prediction_type": "sample" if cfg.kind == "lateral" else "epsilon",
        "pixel_size": None if pixel_size is None else pixel_size * cfg.bin_xy,
        "bin_xy": cfg.bin_xy,
        "normalization": normalization.to_dict(),
        "acquisition": None
        if acquisition is None or not pair
        else {"factor": acquisition.factor, "model": acquisition.model, "fwhm": acquisition.fwhm},
        "axial_blur": axial_blur,
        "bad_sections": list(missing),
        "pair_degradation": pair_noise or None,
        "section_pairs": section_pairs is not None,
        "training": asdict(cfg) | {"seed": rt.seed},
        "libraries": _library_versions(),
        "steps_trained": trainer.step,
        "start": None if start is None else start["meta"].get("file"),
        "seconds": time.perf_counter() - started,
        "estimated_seconds": trainer.estimate_seconds,
    }
    if cfg.kind == "lateral" and losses:
        # RMS error (normalised units) on the training pairs, after the projection with the consistent loss:
        # the floor of the uncertainty, the error no disagreement between views reveals
        meta["pair_rmse"] = float(np.sqrt(np.mean([r.get("pair_loss", r["loss"]) for r in history[-50:]])))
    prior = prior_type(cfg.kind)(ema, meta, device)
    if out_path is not None and trainer.step >= cfg.steps:
        prior.save(out_path)
    prior.losses = losses
    return prior


def _start(cfg: PriorConfig, phase: bool) -> dict | None:
    """The pretrained start the regressor begins from (`PriorConfig.start`), or None (from scratch): for
    `auto`, the packaged start where it applies (a file, phase on, the same network), silently none where
    not; for a file, that start, AxialSRError where it cannot apply."""
    if cfg.kind != "lateral" or cfg.start == "none":
        return None
    path = packaged_start() if cfg.start == "auto" else cfg.start
    if path is None:
        return None
    start = load_start(path)
    ours = network_of(cfg.unet)
    fits = phase and start["meta"]["unet"] == ours
    if cfg.start == "auto":
        return start if fits else None
    if not phase:
        raise AxialSRError(
            "the pretrained start sees the slab phase, which is off for this stack (sparse, or an axial blur): "
            "train from scratch (start none)",
            setting="start",
        )
    if not fits:
        raise AxialSRError(
            f"the pretrained start is a {start['meta']['unet']} network, this prior a {ours} one", "start"
        )
    return start


def patch_within(cfg: PriorConfig, shape: tuple[int, ...], acquisition: Acquisition | None = None) -> PriorConfig:
    """`cfg` (resolved) with its patch cut to what XY slices of a (Z, Y, X) `shape` hold, with a warning:
    the largest size the UNet takes (a multiple of 2^(levels - 1)) within the (binned) slices, or for the
    pair kinds within the rows of their whole slabs. Unchanged where the slices hold the patch.

    Examples
    --------
    >>> import warnings
    >>> cfg = PriorConfig(kind="lateral", preset="small").resolved()
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     patch_within(cfg, (15, 60, 50), Acquisition(4)).patch, patch_within(cfg, (15, 256, 256)).patch
    (48, 64)
    """
    size = min(shape[1], shape[2]) // cfg.bin_xy
    if acquisition is not None:
        size = min(size, acquisition.output_depth(acquisition.measured_depth(size)))
    levels = len(cfg.unet.get("block_out_channels") or cfg.unet["channels"])
    unit = 2 ** (levels - 1)
    patch = size // unit * unit
    if size >= cfg.patch or patch < 2 * unit:  # holds the patch, or too small for any: the error comes later
        return cfg
    warnings.warn(
        f"the XY slices ({shape[1]} x {shape[2]} pixels) are smaller than the {cfg.patch}-pixel training patch: "
        f"training on {patch}-pixel patches",
        stacklevel=3,
    )
    return replace(cfg, patch=patch)


def _pair_noise(cfg: PriorConfig, data: np.ndarray, normalization: Normalization, acquisition: Acquisition) -> dict:
    """What the degraded rows of the pairs get (`LateralPairs`: noise in normalised units, jitter, flicker)
    and the section noise it comes from (input units; estimated when the config leaves it None)."""
    scale = 2.0 / (normalization.high - normalization.low)
    if cfg.section_noise is None:
        noise = stack_noise(data)
        estimated = True
    else:
        noise = cfg.section_noise * scale
        estimated = False
    # a degraded row averages s rows of one image: it keeps 1/s of the noise variance a section has
    added = noise * float(np.sqrt(max(0.0, 1.0 - 1.0 / acquisition.factor)))
    return {
        "section_noise": noise / scale,
        "section_noise_estimated": estimated,
        "noise": added,
        "jitter": cfg.jitter,
        "flicker": cfg.flicker,
    }


def _objective(
    cfg: PriorConfig,
    data: np.ndarray,
    *,
    acquisition: Acquisition | None,
    axial_blur: float | None,
    pair_noise: dict,
    unet: torch.nn.Module,
    device: torch.device,
    rng: np.random.Generator,
    gen: torch.Generator,
    precision: str = "fp32",
    section_pairs: SectionPairs | None = None,
) -> Callable[[], torch.Tensor]:
    """The loss of one training batch for the prior's kind (see the module docstring), drawing from `rng`
    (patches) and `gen` (noise, timesteps, condition dropout); the network's forward pass in `precision`
    (`device.autocast`; the loss itself in fp32)."""
    if cfg.kind == "lateral":
        # a regressor that does not see the slab phase does not learn it from where its patches start either
        pairs = _pairs(data, acquisition, cfg.patch, axial_blur, pair_noise, aligned=bool(cfg.unet.get("slab")))
        null_space = None
        if cfg.consistent_loss:  # (I - P A) along rows: the part of the error the projection leaves
            operator = measurement_operator(acquisition, cfg.patch, projection=cfg.projection).error_operator()
            null_space = torch.from_numpy(operator.astype(np.float32)).to(device)

        axial = round(cfg.batch * cfg.section_pairs) if section_pairs is not None else 0
        lateral = cfg.batch - axial
        if axial:
            sections_of = torch.from_numpy(section_pairs.matrix()).to(device)

        def error(residual: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
            values = residual.abs() if cfg.loss == "l1" else residual**2
            if weights is None:
                return values.mean()
            return (values * weights).sum() / (weights.sum().clamp_min(1.0) * residual.shape[-1])

        def regression_loss() -> torch.Tensor:
            degraded, target = pairs(rng, lateral)
            x = torch.from_numpy(degraded).unsqueeze(1).to(device)
            with autocast(device, precision):
                restored = unet(x).float()
            residual = restored - torch.from_numpy(target).unsqueeze(1).to(device)
            if null_space is not None:
                residual = torch.einsum("rk,bckl->bcrl", null_space, residual)
            loss = error(residual)
            regression_loss.pair_loss = loss.item()
            if not axial:
                return loss
            # the sections each restored patch measures, against the real ones; the mean of each pair is
            # what the coarse input already knows (and the projection restores), its difference is the detail
            coarse, measured, valid = section_pairs(rng, axial)
            with autocast(device, precision):
                planes = unet(torch.from_numpy(coarse).unsqueeze(1).to(device)).float()
            shown = torch.einsum("sr,bcrl->bcsl", sections_of, planes)
            detail = shown - torch.from_numpy(measured).unsqueeze(1).to(device)
            detail = detail - detail.unflatten(2, (-1, 2)).mean(dim=3).repeat_interleave(2, dim=2)
            weights = torch.from_numpy(valid.astype(np.float32))[:, None, :, None].to(device)
            return (1 - cfg.section_pairs) * loss + cfg.section_pairs * error(detail, weights)

        return regression_loss

    scheduler = make_scheduler(cfg.timesteps, cfg.beta_schedule)
    if cfg.kind == "conditional":
        pairs = _pairs(data, acquisition, cfg.patch, axial_blur, pair_noise)
    else:
        patches = _XYPatches(bin_xy(data, cfg.bin_xy), cfg.patch)

    def denoising_loss() -> torch.Tensor:
        cond = None
        if cfg.kind == "diffusion":
            x0 = torch.from_numpy(patches(rng, cfg.batch)).unsqueeze(1).to(device)
        else:
            degraded, target = pairs(rng, cfg.batch)
            cond = torch.from_numpy(degraded).unsqueeze(1).to(device)
            x0 = torch.from_numpy(target).unsqueeze(1).to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, cfg.timesteps, (cfg.batch,), generator=gen).to(device)
        x_t = scheduler.add_noise(x0, noise, t)
        if cond is not None:
            keep = (torch.rand(cfg.batch, generator=gen) >= cfg.condition_dropout).to(device, x0.dtype)
            x_t = torch.cat([x_t, cond * keep.view(-1, 1, 1, 1)], 1)
        with autocast(device, precision):
            predicted = unet(x_t, t).sample
        return torch.nn.functional.mse_loss(predicted.float(), noise)

    return denoising_loss


def _pairs(
    data, acquisition, patch: int, axial_blur: float | None, pair_noise: dict, *, aligned: bool = True
) -> LateralPairs:
    degradation = {k: pair_noise.get(k, 0.0) for k in ("noise", "jitter", "flicker", "gaps")}
    return LateralPairs(data, acquisition, patch, axial_blur=axial_blur or 0.0, aligned=aligned, **degradation)


def loss_trend(losses: list[float], window: int = 10) -> tuple[float, float]:
    """(mean of the first `window` losses, mean of the last `window`): a quick check that training learns."""
    w = min(window, max(1, len(losses) // 2))
    return float(np.mean(losses[:w])), float(np.mean(losses[-w:]))
