"""Command-line interface: a thin typer layer over `axialsr.api`.

Every user error (bad input, bad option, unwritable output) ends in one line on stderr and exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.io import Volume, check_output, read_volume, temp_sibling, write_volume

app = typer.Typer(
    name="axialsr",
    help="Reference-free axial super-resolution of anisotropic 3D microscopy volumes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

VoxelOpt = Annotated[
    str | None, typer.Option("--voxel-size", help="Voxel size 'Z,Y,X' (e.g. 40,4,4); overrides the file's metadata.")
]
ChannelOpt = Annotated[int | None, typer.Option("--channel", help="Channel index to use when the input is 4D.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output (even the input).")]
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="Output dtype (default: the input's).")]
FactorOpt = Annotated[
    float | None, typer.Option("--factor", help="Axial factor s = dz/dx (default: from the voxel size).")
]


BlocksOpt = Annotated[
    str | None,
    typer.Option(
        "--blocks",
        help="Restore block by block (volumes larger than memory): core block 'ZxYxX' in input voxels; "
        "output must be .zarr.",
    ),
]
OverlapOpt = Annotated[int, typer.Option(help="Block overlap on each side, in output voxels (with --blocks).")]
WorkersOpt = Annotated[
    int, typer.Option(help="Dask LocalCluster worker processes (with --blocks; 0: in this process).")
]
ThreadsOpt = Annotated[int, typer.Option(help="Torch threads per worker (with --blocks).")]
MemoryOpt = Annotated[str, typer.Option(help="Memory limit per worker, e.g. 4GiB (with --blocks).")]
SchedulerOpt = Annotated[
    str | None, typer.Option(help="Address of an existing Dask scheduler, tcp://host:port (with --blocks).")
]
BlockDirOpt = Annotated[
    str | None, typer.Option(help="Folder for finished blocks (with --blocks; default OUT.parts); reruns resume.")
]
MaxBlocksOpt = Annotated[
    int | None, typer.Option(help="Stop after this many blocks; rerun to continue (with --blocks).")
]


def _run_blockwise(lr, out, method, prior, factor, recon, block_options: tuple, voxel_size, **kwargs) -> None:
    """`--blocks` path shared by `baseline` and `reconstruct`: build the BlockConfig from the block options
    (blocks, overlap, workers, threads, memory, scheduler, block_dir, max_blocks), run, and say what was done."""
    from axialsr.blocks import BlockConfig

    blocks, overlap, workers, threads, memory, scheduler, block_dir, max_blocks = block_options
    config = BlockConfig(
        blocks=_parse_shape(blocks, minimum=1),
        overlap=overlap,
        workers=workers,
        threads_per_worker=threads,
        memory_limit=memory,
        scheduler=scheduler,
        work_dir=block_dir,
        max_blocks=max_blocks,
    )
    summary = api.reconstruct_blockwise(
        lr, out, method, prior, factor, recon, config, voxel_size=_parse_voxel_size(voxel_size), **kwargs
    )
    if summary.output is None:
        left = summary.blocks_total - summary.blocks_skipped - summary.blocks_run
        typer.echo(f"{summary.blocks_run} blocks restored, {left} left: rerun the same command to continue")
    else:
        typer.echo(
            f"wrote {out}: {summary.blocks_total} blocks ({summary.blocks_skipped} from an earlier run), "
            f"{summary.seconds:.0f} s, peak worker memory {summary.peak_worker_rss_mib:.0f} MiB"
        )


def _parse_voxel_size(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise AxialSRError(f"--voxel-size must be 'Z,Y,X' numbers, got '{text}'") from None
    if len(values) != 3 or min(values) <= 0:
        raise AxialSRError(f"--voxel-size must be three positive numbers 'Z,Y,X', got '{text}'")
    return values  # type: ignore[return-value]


def _parse_shape(text: str, minimum: int = 4) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise AxialSRError(f"shape must be 'ZxYxX' integers, got '{text}'") from None
    if len(shape) != 3 or min(shape) < minimum:
        raise AxialSRError(f"shape must be three integers >= {minimum} 'ZxYxX', got '{text}'")
    return shape  # type: ignore[return-value]


def _read(path: str, voxel_size: str | None = None, channel: int | None = None) -> Volume:
    return read_volume(path, _parse_voxel_size(voxel_size), channel)


@app.command()
def synth(
    out: Annotated[str, typer.Option("--out", "-o", help="Output volume (.tif, .h5[:key], .zarr, .npy).")],
    kind: Annotated[str, typer.Option(help="'em' (neuropil) or 'fluo' (nuclei).")] = "em",
    shape: Annotated[str, typer.Option(help="Shape ZxYxX in isotropic voxels.")] = "64x128x128",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    dtype: Annotated[str, typer.Option(help="Output dtype.")] = "uint8",
    voxel_nm: Annotated[float, typer.Option(help="Isotropic voxel size written to the metadata (nm).")] = 8.0,
    force: ForceOpt = False,
) -> None:
    """Write a synthetic isotropic ground-truth volume (EM-like neuropil or fluorescence nuclei)."""
    check_output(out, force)
    volume = api.synth(kind, _parse_shape(shape), seed, dtype, voxel_nm)
    write_volume(out, volume.data, volume.voxel_size, volume.unit, force=force)
    typer.echo(f"wrote {out}: {kind} {volume.data.shape} {volume.data.dtype}, voxel {volume.voxel_size} nm")


@app.command()
def simulate(
    gt: Annotated[str, typer.Argument(help="Isotropic ground-truth volume.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output (anisotropic) volume.")],
    factor: Annotated[float, typer.Option(help="Axial factor s >= 1 (non-integer allowed).")],
    model: Annotated[str, typer.Option(help="Acquisition model: average, gaussian or subsample.")] = "average",
    fwhm: Annotated[float | None, typer.Option(help="Gaussian PSF FWHM in isotropic voxels (default s).")] = None,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
) -> None:
    """Simulate an anisotropic acquisition of an isotropic volume along z."""
    check_output(out, force, inputs=(gt,))
    volume = _read(gt, voxel_size, channel)
    lr = api.simulate_acquisition(volume, factor, model, fwhm, dtype)
    write_volume(out, lr.data, lr.voxel_size, lr.unit, force=force)
    typer.echo(f"wrote {out}: {lr.data.shape} {lr.data.dtype}, voxel {lr.voxel_size} ({model}, s={factor:g})")


@app.command()
def baseline(
    lr: Annotated[str, typer.Argument(help="Anisotropic input volume.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output isotropic volume.")],
    method: Annotated[
        str,
        typer.Option(
            help="nearest, linear, cubic (interpolation along z), inr (INR, fidelity only) or slicewise "
            "(each XZ/YZ slice restored by the 2D prior, needs --prior)."
        ),
    ] = "cubic",
    factor: FactorOpt = None,
    prior: Annotated[str | None, typer.Option("--prior", help="Prior folder (method slicewise).")] = None,
    axis: Annotated[str, typer.Option(help="Slices to restore one by one: xz or yz (method slicewise).")] = "xz",
    steps: Annotated[int, typer.Option(help="DDIM steps (method slicewise).")] = 25,
    iters: Annotated[int, typer.Option(help="INR iterations (method inr).")] = 1500,
    model: Annotated[str, typer.Option(help="Acquisition model for the INR's fidelity term.")] = "average",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda (method inr).")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed (method inr).")] = 0,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    blocks: BlocksOpt = None,
    overlap: OverlapOpt = 16,
    workers: WorkersOpt = 1,
    threads_per_worker: ThreadsOpt = 1,
    memory_limit: MemoryOpt = "4GiB",
    scheduler: SchedulerOpt = None,
    block_dir: BlockDirOpt = None,
    max_blocks: MaxBlocksOpt = None,
) -> None:
    """Upsample along z with a baseline method onto the reconstruction grid."""
    check_output(out, force, inputs=(lr,))
    if blocks is not None:
        if method == "slicewise":
            raise AxialSRError("--blocks supports nearest, linear, cubic and inr; run slicewise on the whole volume")
        recon = None
        if method == "inr":
            from axialsr.reconstruct import ReconstructionConfig

            recon = ReconstructionConfig(iters=iters, lambda_sds=0.0, device=device, seed=seed)
        block_options = (blocks, overlap, workers, threads_per_worker, memory_limit, scheduler, block_dir, max_blocks)
        _run_blockwise(
            lr,
            out,
            method,
            None,
            factor,
            recon,
            block_options,
            voxel_size,
            model=model,
            channel=channel,
            dtype=dtype,
            force=force,
        )
        return
    volume = _read(lr, voxel_size, channel)
    if method == "inr":
        from axialsr.reconstruct import ReconstructionConfig

        cfg = ReconstructionConfig(iters=iters, lambda_sds=0.0, device=device, seed=seed)
        result, _ = api.reconstruct(volume, None, factor, cfg, model=model, dtype=dtype)
    elif method == "slicewise":
        from axialsr.slicewise import SlicewiseConfig

        cfg = SlicewiseConfig(steps=steps, axis=axis, seed=seed)
        result = api.slicewise_baseline(volume, prior, factor, cfg, model=model, dtype=dtype)
    else:
        result = api.interpolation_baseline(volume, method, factor, dtype)
    write_volume(out, result.data, result.voxel_size, result.unit, force=force)
    typer.echo(f"wrote {out}: {result.data.shape} {result.data.dtype} ({method})")


@app.command()
def evaluate(
    pred: Annotated[list[str], typer.Argument(help="Reconstruction(s) to score.")],
    gt: Annotated[str, typer.Option("--gt", help="Isotropic ground truth.")],
    factor: Annotated[
        float | None, typer.Option(help="Axial factor, to score measured and unmeasured depths separately.")
    ] = None,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the scores as JSON.")] = None,
    coherence_with: Annotated[
        str | None,
        typer.Option("--coherence-with", help="Another restoration (e.g. the YZ-wise one) to measure agreement with."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Score reconstructions against a ground truth: PSNR/SSIM per plane family (XY, XZ, YZ) and 3D."""
    from axialsr import metrics, report

    if json_out:
        _check_plain_output(Path(json_out), force)
    truth = read_volume(gt)
    rows = []
    for path in pred:
        pred_volume = read_volume(path)
        scores = api.evaluate(pred_volume, truth, factor)
        row = {"method": Path(path).name, **metrics.flatten(scores)}
        if coherence_with:
            other = read_volume(coherence_with).data
            agreement = metrics.coherence(pred_volume.data, other, float(truth.data.max() - truth.data.min()))
            row.update({f"coherence_{k}": v for k, v in agreement.items()})
        rows.append(row)
    columns = [c for c in rows[0] if c != "method" and not (c.startswith("psnr_") and c[5:] in ("xy", "xz", "yz"))]
    report.print_table(rows, columns, title=f"scores against {gt}")
    if json_out:
        _write_text_atomic(Path(json_out), json.dumps(rows, indent=2))


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = temp_sibling(path)
    tmp.write_text(text)
    tmp.replace(path)


@app.command()
def figure(
    volumes: Annotated[list[str], typer.Argument(help="Volumes to show, one row each.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output PNG.")],
    crop: Annotated[int | None, typer.Option(help="Show only the first N pixels laterally.")] = None,
    force: ForceOpt = False,
) -> None:
    """Orthogonal views (XY, XZ, YZ) of volumes side by side, as a PNG."""
    from axialsr.figures import orthogonal_views

    if not out.lower().endswith(".png"):
        raise AxialSRError(f"--out must be a .png file, got {out}")
    _check_plain_output(Path(out), force)
    data = {Path(v).name: read_volume(v).data for v in volumes}
    orthogonal_views(data, out, crop=crop)
    typer.echo(f"wrote {out}")


def _check_plain_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise AxialSRError(f"output {path} exists; pass --force to overwrite it")
    parent = path.parent
    if not parent.is_dir():
        raise AxialSRError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise AxialSRError(f"cannot write {path}: folder {parent} is not writable")


def _check_report_dir(folder: Path, force: bool) -> None:
    """Fail before any work when a report folder already holds a report (without --force) or cannot be made."""
    if (folder / "index.html").exists() and not force:
        raise AxialSRError(f"{folder} already holds a report; pass --force to overwrite it")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise AxialSRError(f"cannot write the report to {folder}: {existing} is not a writable folder")


@app.command("train-prior")
def train_prior(
    lr: Annotated[str, typer.Argument(help="Input volume; the prior learns its XY slices.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Prior folder to write.")],
    preset: Annotated[str, typer.Option(help="tiny (tests), small (CPU), base (GPU).")] = "small",
    steps: Annotated[int | None, typer.Option(help="Training steps (default: the preset's).")] = None,
    patch: Annotated[int | None, typer.Option(help="Patch size in pixels (default: the preset's).")] = None,
    batch: Annotated[int | None, typer.Option(help="Batch size (default: the preset's).")] = None,
    bin_xy: Annotated[int, typer.Option("--bin", help="Average-pool XY by this factor before training.")] = 1,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the folder's checkpoint.")] = False,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    force: ForceOpt = False,
) -> None:
    """Train the 2D diffusion prior (DDPM UNet) on the XY slices of the input."""
    from axialsr.prior import CONFIG_FILE, PriorConfig

    out_path = Path(out)
    if (out_path / CONFIG_FILE).exists() and not (force or resume):
        raise AxialSRError(f"{out} already holds a prior; pass --force to retrain or --resume to continue")
    if out_path.exists() and not out_path.is_dir():
        raise AxialSRError(f"{out} exists and is not a folder")
    _check_plain_output(out_path / CONFIG_FILE if out_path.is_dir() else out_path, force=True)
    volume = _read(lr, voxel_size, channel)
    config = PriorConfig(preset=preset, steps=steps, patch=patch, batch=batch, bin_xy=bin_xy, device=device, seed=seed)
    prior = api.train_prior(volume, config, out_path, resume=resume)
    typer.echo(f"wrote prior {out}: {prior.meta['steps_trained']} steps, patch {prior.patch}")


@app.command("sample-prior")
def sample_prior(
    prior_dir: Annotated[str, typer.Argument(help="Prior folder.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output PNG grid.")],
    n: Annotated[int, typer.Option("--n", help="Number of samples.")] = 16,
    steps: Annotated[int, typer.Option(help="DDIM steps.")] = 50,
    real: Annotated[str | None, typer.Option(help="Volume to show real XY patches from, beside the samples.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    force: ForceOpt = False,
) -> None:
    """Sample patches from a prior (DDIM) into a PNG grid, optionally beside real XY patches."""
    from axialsr.figures import prior_samples_figure
    from axialsr.prior import Prior

    if not out.lower().endswith(".png"):
        raise AxialSRError(f"--out must be a .png file, got {out}")
    _check_plain_output(Path(out), force)
    prior = Prior.load(prior_dir, device)
    real_data = read_volume(real).data if real else None
    prior_samples_figure(prior, out, n=n, steps=steps, seed=seed, real_volume=real_data)
    typer.echo(f"wrote {out}")


def _reconstruction_config(iters, encoding, lambda_sds, device, seed, **extra):
    from axialsr.field import FieldConfig
    from axialsr.reconstruct import ReconstructionConfig

    if lambda_sds is not None:
        extra["lambda_sds"] = lambda_sds
    return ReconstructionConfig(iters=iters, field=FieldConfig(encoding=encoding), device=device, seed=seed, **extra)


@app.command()
def reconstruct(
    lr: Annotated[str, typer.Argument(help="Anisotropic input volume.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output isotropic volume.")],
    prior: Annotated[
        str | None, typer.Option("--prior", help="Prior folder (train-prior); none: fidelity only.")
    ] = None,
    factor: FactorOpt = None,
    iters: Annotated[int, typer.Option(help="Optimisation iterations.")] = 1500,
    encoding: Annotated[str, typer.Option(help="dense, hash or fourier.")] = "dense",
    lambda_sds: Annotated[
        float | None, typer.Option("--lambda-sds", help="Weight of the SDS loss (default 1.0).")
    ] = None,
    model: Annotated[str, typer.Option(help="Acquisition model: average, gaussian, subsample.")] = "average",
    fwhm: Annotated[float | None, typer.Option(help="Gaussian FWHM in output voxels (default s).")] = None,
    checkpoint_dir: Annotated[str | None, typer.Option(help="Folder for checkpoints and the loss log.")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from --checkpoint-dir.")] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    blocks: BlocksOpt = None,
    overlap: OverlapOpt = 16,
    workers: WorkersOpt = 1,
    threads_per_worker: ThreadsOpt = 1,
    memory_limit: MemoryOpt = "4GiB",
    scheduler: SchedulerOpt = None,
    block_dir: BlockDirOpt = None,
    max_blocks: MaxBlocksOpt = None,
) -> None:
    """Reconstruct an isotropic volume: INR optimised with fidelity + SDS under the diffusion prior."""
    check_output(out, force, inputs=(lr,))
    if resume and checkpoint_dir is None:
        raise AxialSRError("--resume needs --checkpoint-dir")
    cfg = _reconstruction_config(iters, encoding, lambda_sds, device, seed)
    if blocks is not None:
        block_options = (blocks, overlap, workers, threads_per_worker, memory_limit, scheduler, block_dir, max_blocks)
        _run_blockwise(
            lr,
            out,
            "inr-sds" if prior is not None else "inr",
            prior,
            factor,
            cfg,
            block_options,
            voxel_size,
            model=model,
            fwhm=fwhm,
            channel=channel,
            dtype=dtype,
            force=force,
        )
        return
    volume = _read(lr, voxel_size, channel)
    result, info = api.reconstruct(
        volume, prior, factor, cfg, model=model, fwhm=fwhm, checkpoint_dir=checkpoint_dir, resume=resume, dtype=dtype
    )
    write_volume(out, result.data, result.voxel_size, result.unit, force=force)
    typer.echo(
        f"wrote {out}: {result.data.shape} {result.data.dtype}, voxel {result.voxel_size} ({info.seconds:.0f} s)"
    )


@app.command()
def run(
    lr: Annotated[str, typer.Argument(help="Anisotropic input volume.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output isotropic volume.")],
    factor: FactorOpt = None,
    work_dir: Annotated[
        str | None, typer.Option(help="Folder for the prior and checkpoints (default: OUT's name + .axialsr).")
    ] = None,
    prior_preset: Annotated[str | None, typer.Option(help="Prior preset (default: small on CPU, base on GPU).")] = None,
    prior_steps: Annotated[int | None, typer.Option(help="Prior training steps (default: the preset's).")] = None,
    iters: Annotated[int, typer.Option(help="Reconstruction iterations.")] = 1500,
    lambda_sds: Annotated[
        float | None, typer.Option("--lambda-sds", help="Weight of the SDS loss (default 1.0).")
    ] = None,
    model: Annotated[str, typer.Option(help="Acquisition model: average, gaussian, subsample.")] = "average",
    resume: Annotated[
        bool, typer.Option("--resume", help="Reuse a trained prior and checkpoints in work-dir.")
    ] = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    report: Annotated[str | None, typer.Option(help="Also write an HTML report (index.html) to this folder.")] = None,
) -> None:
    """The whole job: train the prior on the input's XY slices, then reconstruct with fidelity + SDS."""
    from axialsr.prior import CONFIG_FILE, Prior, PriorConfig
    from axialsr.runtime import resolve_device

    check_output(out, force, inputs=(lr,))
    if report:
        _check_report_dir(Path(report), force)
    volume = _read(lr, voxel_size, channel)
    api.resolve_factor(volume, factor)  # fail now, not after training, when no factor is known
    work = Path(work_dir) if work_dir else Path(out).with_name(Path(out).name.split(".")[0] + ".axialsr")
    prior_dir = work / "prior"
    preset = prior_preset or ("base" if resolve_device(device).type == "cuda" else "small")
    if resume and (prior_dir / CONFIG_FILE).exists():
        prior = Prior.load(prior_dir, device)
        typer.echo(f"reusing the prior in {prior_dir}")
    else:
        work.mkdir(parents=True, exist_ok=True)
        config = PriorConfig(preset=preset, steps=prior_steps, device=device, seed=seed)
        prior = api.train_prior(volume, config, prior_dir, resume=resume)
    cfg = _reconstruction_config(iters, "dense", lambda_sds, device, seed)
    result, info = api.reconstruct(
        volume, prior, factor, cfg, model=model, checkpoint_dir=work, resume=resume, dtype=dtype
    )
    write_volume(out, result.data, result.voxel_size, result.unit, force=force)
    typer.echo(f"wrote {out}: {result.data.shape} {result.data.dtype}, voxel {result.voxel_size}")
    if report:
        from axialsr.html_report import run_report

        s = api.resolve_factor(volume, factor)
        page = run_report(report, volume, result, info, s, cfg, prior, lr, out, prior_dir=prior_dir)
        typer.echo(f"wrote the report {page}")


@app.command()
def validate(
    lr: Annotated[str, typer.Argument(help="Anisotropic input volume.")],
    prior: Annotated[str | None, typer.Option("--prior", help="Prior folder (needed for inr-sds).")] = None,
    factor: FactorOpt = None,
    scheme: Annotated[
        str,
        typer.Option(
            help="lateral: degrade Y at the real factor and restore it (the measured XY slices are the truth); "
            "holdout: keep one slice in --holdout K, restore at K times the factor, score the others."
        ),
    ] = "lateral",
    holdout: Annotated[int, typer.Option(help="K for --scheme holdout (odd, >= 3).")] = 3,
    methods: Annotated[
        str | None, typer.Option(help="Comma list of nearest,linear,cubic,inr,inr-sds (default: all that apply).")
    ] = None,
    iters: Annotated[int, typer.Option(help="INR iterations.")] = 1500,
    lambda_sds: Annotated[
        float | None, typer.Option("--lambda-sds", help="Weight of the SDS loss (default 1.0).")
    ] = None,
    model: Annotated[str, typer.Option(help="Acquisition model: average, gaussian, subsample.")] = "average",
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the rows as JSON.")] = None,
    report: Annotated[str | None, typer.Option(help="Write an HTML report (index.html) to this folder.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    force: ForceOpt = False,
) -> None:
    """Score methods on this volume without ground truth, side by side, to pick one and its settings."""
    from axialsr.report import print_table
    from axialsr.validate import VALIDATION_METHODS, ValidationConfig, ranking

    volume = _read(lr, voxel_size, channel)
    chosen = (
        tuple(m.strip() for m in methods.split(","))
        if methods
        else tuple(m for m in VALIDATION_METHODS if m != "inr-sds" or prior is not None)
    )
    cfg = ValidationConfig(
        scheme=scheme,
        holdout=holdout,
        methods=chosen,
        recon=_reconstruction_config(iters, "dense", lambda_sds, device, seed),
        model=model,
    )
    cfg.validate(prior is not None)
    loaded_prior = None
    if prior:
        from axialsr.prior import Prior

        loaded_prior = Prior.load(prior)
    if json_out:
        _check_plain_output(Path(json_out), force)
    if report:
        _check_report_dir(Path(report), force)
    result = api.validate(volume, loaded_prior, factor, cfg)
    s = api.resolve_factor(volume, factor)
    print_table(result.rows, ("psnr", "ssim", "seconds"), title=f"axialsr validate ({scheme}), factor {s:g}")
    typer.echo(f"best by PSNR: {ranking(result.rows)[0]}")
    if json_out:
        _write_text_atomic(Path(json_out), json.dumps({"scheme": scheme, "factor": s, "rows": result.rows}, indent=2))
    if report:
        from axialsr.html_report import validation_report

        page = validation_report(report, result, volume, s, cfg, loaded_prior, source=lr, prior_dir=prior)
        typer.echo(f"wrote the report {page}")


@app.command()
def demo(
    out_dir: Annotated[str, typer.Option("--out-dir", help="Folder for the demo's files.")] = "axialsr-demo",
    quick: Annotated[bool, typer.Option("--quick", help="Smaller budget (about 2.5 minutes).")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """End-to-end demo on the embedded synthetic EM volume: simulate, reconstruct, score, figure."""
    from axialsr.demo import run_demo

    run_demo(Path(out_dir), quick=quick, seed=seed, device=device)


def main() -> None:
    """Console-script entry point: run the app, turning AxialSRError into one line and exit code 2."""
    try:
        app(standalone_mode=False)
    except AxialSRError as exc:
        typer.echo(f"axialsr: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("axialsr: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main()
