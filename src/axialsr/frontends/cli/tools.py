"""The commands around a restoration: synthetic data and simulated acquisitions (`synth`, `simulate`),
scores and figures (`evaluate`, `figure`), priors (`train-prior`, `export-model`, `sample-prior`) and the
`demo`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.frontends.cli.shared import (
    ACQUISITION_GROUP,
    IO_PANEL,
    PRIOR_GROUP,
    RUNTIME_GROUP,
    ChannelOpt,
    DeviceOpt,
    DtypeOpt,
    ForceOpt,
    SeedOpt,
    VoxelOpt,
    acquisition_from,
    check_dtype,
    check_plain_output,
    parse_shape,
    read,
    runtime_from,
    voxel_text,
)
from axialsr.frontends.options import OptionGroup, with_options
from axialsr.settings import Runtime

OutPng = Annotated[str, typer.Option("--out", "-o", help="Output PNG.", rich_help_panel=IO_PANEL)]
# simulate takes the factor it applies (required) and no bad sections
SIMULATE_GROUP = OptionGroup(
    ACQUISITION_GROUP.cls, "acquisition_options", skip=("factor", "bad_sections"), panel=ACQUISITION_GROUP.panel
)


def synth(
    out: Annotated[
        str, typer.Option("--out", "-o", help="Output volume (.tif, .h5[:key], .zarr, .npy).", rich_help_panel=IO_PANEL)
    ],
    kind: Annotated[str, typer.Option(help="'em' (neuropil) or 'fluo' (nuclei).")] = "em",
    shape: Annotated[str, typer.Option(help="Shape ZxYxX in isotropic voxels.")] = "64x128x128",
    seed: SeedOpt = 0,
    dtype: Annotated[str, typer.Option(help="Output dtype.", rich_help_panel=IO_PANEL)] = "uint8",
    voxel_nm: Annotated[float, typer.Option(help="Isotropic voxel size written to the metadata (nm).")] = 8.0,
    force: ForceOpt = False,
) -> None:
    """Write a synthetic isotropic ground-truth volume (EM-like neuropil or fluorescence nuclei)."""
    api.check_output(out, force)
    check_dtype(dtype)
    volume = api.synth(kind, parse_shape(shape), seed=seed, dtype=dtype, voxel_nm=voxel_nm)
    api.write_volume(out, volume.data, volume.voxel_size, volume.unit, force=force)
    typer.echo(
        f"wrote {out}: {kind} {volume.data.shape} {volume.data.dtype}, {voxel_text(volume.voxel_size, volume.unit)}"
    )


@with_options(SIMULATE_GROUP)
def simulate(
    acquisition_options: dict,
    gt: Annotated[str, typer.Argument(help="Isotropic ground-truth volume.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output (anisotropic) volume.", rich_help_panel=IO_PANEL)],
    factor: Annotated[
        float, typer.Option(help="Axial factor s >= 1 (non-integer allowed).", rich_help_panel=ACQUISITION_GROUP.panel)
    ],
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
) -> None:
    """Simulate an anisotropic acquisition of an isotropic volume along z."""
    api.check_output(out, force, inputs=(gt,))
    check_dtype(dtype)
    volume = read(gt, voxel_size, channel)
    options = SIMULATE_GROUP.build(acquisition_options, factor=factor)
    lr = api.simulate_acquisition(volume, api.Acquisition(factor, options.model, options.fwhm), dtype=dtype)
    api.write_volume(out, lr.data, lr.voxel_size, lr.unit, force=force)
    typer.echo(
        f"wrote {out}: {lr.data.shape} {lr.data.dtype}, {voxel_text(lr.voxel_size, lr.unit)} "
        f"({options.model}, s={factor:g})"
    )


def evaluate(
    pred: Annotated[list[str], typer.Argument(help="Reconstruction(s) to score.")],
    gt: Annotated[str, typer.Option("--gt", help="Isotropic ground truth.")],
    factor: Annotated[
        float | None, typer.Option(help="Axial factor, to score measured and unmeasured depths separately.")
    ] = None,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Also write the scores as JSON.", rich_help_panel=IO_PANEL)
    ] = None,
    coherence_with: Annotated[
        str | None,
        typer.Option("--coherence-with", help="Another restoration (e.g. the YZ-wise one) to measure agreement with."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Score reconstructions against a ground truth: PSNR/SSIM per plane family (XY, XZ, YZ) and 3D."""
    from axialsr.frontends import tables

    if json_out:
        check_plain_output(Path(json_out), force)
    truth = api.read_volume(gt)
    acquisition = api.Acquisition(factor) if factor is not None else None
    other = api.read_volume(coherence_with) if coherence_with else None
    rows = [
        {"method": Path(path).name, **api.score_row(api.read_volume(path), truth, acquisition=acquisition, other=other)}
        for path in pred
    ]
    columns = [c for c in rows[0] if c != "method" and not (c.startswith("psnr_") and c[5:] in ("xy", "xz", "yz"))]
    tables.print_table(rows, columns, title=f"scores against {gt}")
    if json_out:
        api.write_text_atomic(json_out, json.dumps(rows, indent=2))


def figure(
    volumes: Annotated[list[str], typer.Argument(help="Volumes to show, one row each.")],
    out: OutPng,
    crop: Annotated[int | None, typer.Option(help="Show only the first N pixels laterally.")] = None,
    force: ForceOpt = False,
) -> None:
    """Orthogonal views (XY, XZ, YZ) of volumes side by side, as a PNG."""
    from axialsr.frontends.figures import orthogonal_views

    if not out.lower().endswith(".png"):
        raise AxialSRError(f"--out must be a .png file, got {out}")
    check_plain_output(Path(out), force)
    data = {Path(v).name: api.read_volume(v).data for v in volumes}
    orthogonal_views(data, out, crop=crop)
    typer.echo(f"wrote {out}")


@with_options(ACQUISITION_GROUP, PRIOR_GROUP, RUNTIME_GROUP)
def train_prior(
    acquisition_options: dict,
    prior_options: dict,
    runtime_options: dict,
    input_spec: Annotated[str, typer.Argument(metavar="INPUT", help="Input volume; the prior learns its XY slices.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Prior folder to write.", rich_help_panel=IO_PANEL)],
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the folder's checkpoint.", rich_help_panel=IO_PANEL)
    ] = False,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    force: ForceOpt = False,
) -> None:
    """Train a prior on the XY slices of the input: a diffusion model, a conditional one, or the lateral
    regressor (the last two learn to undo the acquisition, so they need the factor)."""
    config = PRIOR_GROUP.build(prior_options)
    runtime = runtime_from(runtime_options)
    out_path = Path(out)
    if api.is_prior_folder(out_path) and not (force or resume):
        raise AxialSRError(f"{out} already holds a prior; pass --force to retrain or --resume to continue")
    if out_path.exists() and not out_path.is_dir():
        raise AxialSRError(f"{out} exists and is not a folder")
    check_plain_output(out_path / "prior.json" if out_path.is_dir() else out_path, force=True)
    volume = read(input_spec, voxel_size, channel)
    if config.kind == "diffusion" and acquisition_options["factor"] is None and volume.anisotropy is None:
        # a diffusion prior needs no factor: the acquisition only says which sections to leave out
        acquisition_options = {**acquisition_options, "factor": 1.0}
    acquisition = acquisition_from(volume, acquisition_options)
    prior = api.train_prior(
        volume, config=config, out_dir=out_path, acquisition=acquisition, resume=resume, runtime=runtime
    )
    blur = f", extra axial blur {prior.axial_blur:.2f} px" if prior.kind != "diffusion" else ""
    typer.echo(f"wrote {prior.kind} prior {out}: {prior.meta['steps_trained']} steps, patch {prior.patch}{blur}")


def export_model(
    prior_dir: Annotated[str, typer.Argument(help="Lateral prior folder (train-prior --kind lateral).")],
    volume: Annotated[str, typer.Option("--volume", help="The measured volume it was trained on (test tensors).")],
    out: Annotated[
        str, typer.Option("--out", "-o", help="Output bioimage.io model package (.zip).", rich_help_panel=IO_PANEL)
    ],
    name: Annotated[str, typer.Option(help="The model's name in the package.")] = "axialsr lateral regressor",
    channel: ChannelOpt = None,
    force: ForceOpt = False,
) -> None:
    """Export a lateral regressor as a bioimage.io model package (spec 0.5: TorchScript and PyTorch
    weights, normalisation as pre/postprocessing, test tensors, cover, README), validated before it is
    written, for deepImageJ (Fiji), ilastik or bioimageio.core on XZ/YZ planes."""
    path = api.export_model(prior_dir, read(volume, None, channel), out, name=name, force=force)
    typer.echo(f"wrote {path}: bioimage.io model package (validated)")


def sample_prior(
    prior_dir: Annotated[str, typer.Argument(help="Prior folder (diffusion or conditional).")],
    out: OutPng,
    n: Annotated[int, typer.Option("--n", help="Number of samples.")] = 16,
    steps: Annotated[int, typer.Option(help="DDIM steps.")] = 50,
    real: Annotated[
        str | None,
        typer.Option(help="Volume to show real XY patches from (a conditional prior: its degraded patches, too)."),
    ] = None,
    guidance: Annotated[float, typer.Option(help="Classifier-free guidance scale (conditional prior).")] = 1.0,
    device: DeviceOpt = "auto",
    seed: SeedOpt = 0,
    force: ForceOpt = False,
) -> None:
    """Sample patches from a prior (DDIM) into a PNG grid, beside real XY patches; a conditional prior
    samples from degraded real patches, shown beside them and the truth."""
    from axialsr.frontends.figures import prior_samples_figure

    if not out.lower().endswith(".png"):
        raise AxialSRError(f"--out must be a .png file, got {out}")
    check_plain_output(Path(out), force)
    (prior,) = api.load_priors(prior_dir, device)
    real_data = api.read_volume(real).data if real else None
    if prior.kind != "diffusion" and real_data is None:
        raise AxialSRError(f"a {prior.kind} prior is shown on degraded real patches: pass --real VOLUME")
    prior_samples_figure(prior, out, n=n, steps=steps, seed=seed, real_volume=real_data, guidance=guidance)
    typer.echo(f"wrote {out}")


def demo(
    out_dir: Annotated[
        str, typer.Option("--out-dir", help="Folder for the demo's files.", rich_help_panel=IO_PANEL)
    ] = "axialsr-demo",
    quick: Annotated[
        bool, typer.Option("--quick", help="Smaller volume and budget (2-7 min on 2 CPU cores: 2 with native bf16).")
    ] = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
    force: ForceOpt = False,
) -> None:
    """End-to-end demo on the embedded synthetic EM volume: simulate, restore with every method, score, draw."""
    from axialsr.frontends.demo import run_demo

    runtime = Runtime(device=device, seed=seed)
    typer.echo(f"device: {api.describe_device(device)}")
    run_demo(Path(out_dir), quick=quick, runtime=runtime, force=force)
