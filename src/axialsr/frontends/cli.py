"""Command-line interface: a thin typer layer over `axialsr.api`.

Every command reads its inputs, builds its configs from the options (generated from the config
dataclasses by `axialsr.frontends.options`, so defaults and help live in one place), makes one API call and writes
its outputs. Every user error (bad input, bad option, unwritable output) ends in one line on stderr and
exit code 2.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.frontends.options import OptionGroup, with_options
from axialsr.settings import (
    BlockConfig,
    LateralConfig,
    PriorConfig,
    ReconstructionConfig,
    RefineConfig,
    RestoreConfig,
    Runtime,
    SlicewiseConfig,
)

app = typer.Typer(
    name="axialsr",
    help="Reference-free axial super-resolution of anisotropic 3D microscopy volumes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: typer's rich help shows flags as '--force <bool>'
)


def _print_version(value: bool) -> None:
    if value:
        from axialsr import __version__

        typer.echo(f"axialsr {__version__}")
        raise typer.Exit()


@app.callback()
def _app_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """Reference-free axial super-resolution of anisotropic 3D microscopy volumes."""


INR_PANEL = "INR reconstruction (methods inr, inr-sds, inr-lateral)"
BLOCK_PANEL = "Blockwise (volumes larger than memory)"
PRIOR_PANEL = "Prior training"

# ------------------------------------------------------------------------------------------ shared options

VoxelOpt = Annotated[
    str | None, typer.Option("--voxel-size", help="Voxel size 'Z,Y,X' (e.g. 40,4,4); overrides the file's metadata.")
]
ChannelOpt = Annotated[int | None, typer.Option("--channel", help="Channel index to use when the input is 4D.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite an existing output (even the input).")]
DtypeOpt = Annotated[str | None, typer.Option("--dtype", help="Output dtype (default: the input's).")]
FactorOpt = Annotated[
    float | None, typer.Option("--factor", help="Axial factor s = dz/dx (default: from the voxel size).")
]
ModelOpt = Annotated[str, typer.Option("--model", help="Acquisition model along z: average, gaussian or subsample.")]
FwhmOpt = Annotated[
    float | None,
    typer.Option(
        "--fwhm",
        help="Axial PSF FWHM in output voxels, i.e. FWHM in um divided by the lateral pixel in um (model gaussian; "
        "default s).",
    ),
]
BadSectionsOpt = Annotated[
    str,
    typer.Option(
        "--bad-sections",
        help="Sections that carry no information (lost, blank, saturated, imaged twice): auto (find them), "
        "none, or indices from 0 ('14,27', '14-16'). They are left out of training and restored from their "
        "neighbours.",
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same device: same result).")]
RUNTIME_PANEL = "How it runs (not what it computes)"
PriorsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--prior", help="Prior folder (train-prior); repeat for a method that uses two (lateral + diffusion)."
    ),
]
InputArg = Annotated[str, typer.Argument(metavar="INPUT", help="Anisotropic input volume.")]
OutOpt = Annotated[str, typer.Option("--out", "-o", help="Output isotropic volume.")]
ConsistencyOpt = Annotated[
    bool | None, typer.Option(help="End with the projection onto the measurements (default: the method's choice).")
]
ProjectionOpt = Annotated[
    str,
    typer.Option(
        help="The correction that makes the result reproduce the measurements: h2 (smoothest along z, no "
        "steps at slab boundaries), h1, or l2 (a constant per slab). run also trains the regressor for it."
    ),
]
BlocksOpt = Annotated[
    str | None,
    typer.Option(
        "--blocks",
        help="Restore block by block: core block 'ZxYxX' in input voxels; the output must be .zarr.",
        rich_help_panel=BLOCK_PANEL,
    ),
]

RUNTIME_GROUP = OptionGroup(Runtime, "runtime_options", panel=RUNTIME_PANEL)
RECON_GROUP = OptionGroup(ReconstructionConfig, "recon_options", panel=INR_PANEL)
SLICEWISE_GROUP = OptionGroup(SlicewiseConfig, "slicewise_options", prefix="slicewise-", panel="Slice-wise baseline")
LATERAL_GROUP = OptionGroup(LateralConfig, "lateral_options", prefix="lateral-", panel="Lateral regressor")
REFINE_GROUP = OptionGroup(RefineConfig, "refine_options", prefix="refine-", panel="Diffusion refinement")
BLOCK_GROUP = OptionGroup(BlockConfig, "block_options", skip=("blocks",), panel=BLOCK_PANEL)
RUN_BLOCK_GROUP = OptionGroup(BlockConfig, "block_options", skip=("blocks", "work_dir"), panel=BLOCK_PANEL)
PRIOR_GROUP = OptionGroup(PriorConfig, "prior_options", panel=PRIOR_PANEL)
LATERAL_PRIOR_GROUP = OptionGroup(
    PriorConfig,
    "lateral_prior_options",
    prefix="lateral-prior-",
    skip=("kind", "preset", "projection", "bin_xy", "condition_dropout"),  # the lateral kind's fields only
    fixed={"kind": "lateral"},
    panel=PRIOR_PANEL,
)
DIFFUSION_PRIOR_GROUP = OptionGroup(
    PriorConfig,
    "diffusion_prior_options",
    prefix="diffusion-prior-",
    skip=("preset", "projection", "consistent_loss", "loss", "slab_phase", "start", "section_pairs", "section_bin"),
    # the lateral kind's fields are not its
    defaults={"kind": "conditional"},
    panel=PRIOR_PANEL,
)


def _parse_voxel_size(text: str | None) -> tuple[tuple[float, float, float] | None, str | None]:
    """--voxel-size 'Z,Y,X[unit]' -> (sizes, unit or None when not given)."""
    if text is None:
        return None, None
    size, unit = api.parse_voxel_size(text, default_unit="")
    if not unit and max(size) < 1:
        warnings.warn(
            f"--voxel-size {text} has no unit and is read in the file's unit (nm if it has none); values below 1 "
            "look like micrometres: write e.g. 0.4,0.1,0.1um",
            stacklevel=2,
        )
    return size, unit or None


def _parse_shape(text: str, minimum: int = 4) -> tuple[int, int, int]:
    try:
        shape = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise AxialSRError(f"shape must be 'ZxYxX' integers, got '{text}'") from None
    if len(shape) != 3 or min(shape) < minimum:
        raise AxialSRError(f"shape must be three integers >= {minimum} 'ZxYxX', got '{text}'")
    return shape  # type: ignore[return-value]


def _runtime(values: dict[str, Any]) -> Runtime:
    """The runtime from its options, after one line naming the device the work runs on (which must exist)."""
    runtime = RUNTIME_GROUP.build(values)
    typer.echo(f"device: {api.describe_device(runtime.device)}")
    return runtime


def _say_unused_priors(method: str, priors) -> None:
    """Say when a method runs without an optional prior (e.g. inr-lateral without SDS)."""
    for words in api.get_method(method).unused(priors):
        typer.echo(f"note: {method} runs without a {words} prior (no SDS); add one with --prior to use it")


def _check_dtype(dtype: str | None) -> None:
    """Fail before any work on an unknown or unwritable --dtype."""
    if dtype is not None:
        api.check_dtype(dtype)


def _read(path: str, voxel_size: str | None = None, channel: int | None = None) -> api.Volume:
    size, unit = _parse_voxel_size(voxel_size)
    return api.read_volume(path, size, channel, unit)


def _voxel_text(size, unit: str) -> str:
    return "no voxel size" if size is None else "voxel " + "x".join(f"{v:.4g}" for v in size) + f" {unit}"


UncertaintyOpt = Annotated[
    bool,
    typer.Option(
        "--uncertainty",
        help="Also write a per-voxel uncertainty (one standard deviation, output units) beside the output, as "
        "OUT.uncertainty.EXT (methods lateral and inr-lateral).",
    ),
]


def _restore_config(
    values: dict[str, dict[str, Any]], consistency: bool | None, projection: str, uncertainty: bool = False
) -> RestoreConfig:
    return RestoreConfig(
        recon=RECON_GROUP.build(values["recon_options"]),
        slicewise=SLICEWISE_GROUP.build(values["slicewise_options"]),
        lateral=LATERAL_GROUP.build(values["lateral_options"]),
        refine=REFINE_GROUP.build(values["refine_options"]),
        consistency=consistency,
        projection=projection,
        uncertainty=uncertainty,
    )


def _write_uncertainty(out: str, volume: api.Volume, uncertainty, force: bool, zarr_options: dict) -> str:
    path = api.tagged_sibling(out, "uncertainty")
    api.write_volume(path, uncertainty, volume.voxel_size, volume.unit, force=force, **zarr_options)
    return path


def _zarr_options(block_options: dict) -> dict:
    """The OME-Zarr output settings of the block options (pyramid levels, NGFF version) as `write_volume`
    keywords, checked before any work."""
    checked = BlockConfig(pyramid_levels=block_options["pyramid_levels"], ngff_version=block_options["ngff_version"])
    return {"levels": checked.pyramid_levels, "ngff_version": checked.ngff_version}


def _check_plain_output(path: Path, force: bool) -> None:
    """Fail before any work when a report, table or figure file cannot be written."""
    api.check_output(path, force, any_format=True)


def _check_report_dir(folder: Path, force: bool) -> None:
    """Fail before any work when a report folder already holds a report (without --force) or cannot be made."""
    if (folder / "index.html").exists() and not force:
        raise AxialSRError(f"{folder} already holds a report; pass --force to overwrite it")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise AxialSRError(f"cannot write the report to {folder}: {existing} is not a writable folder")


# ----------------------------------------------------------------------------------------------- commands


@app.command()
def synth(
    out: Annotated[str, typer.Option("--out", "-o", help="Output volume (.tif, .h5[:key], .zarr, .npy).")],
    kind: Annotated[str, typer.Option(help="'em' (neuropil) or 'fluo' (nuclei).")] = "em",
    shape: Annotated[str, typer.Option(help="Shape ZxYxX in isotropic voxels.")] = "64x128x128",
    seed: SeedOpt = 0,
    dtype: Annotated[str, typer.Option(help="Output dtype.")] = "uint8",
    voxel_nm: Annotated[float, typer.Option(help="Isotropic voxel size written to the metadata (nm).")] = 8.0,
    force: ForceOpt = False,
) -> None:
    """Write a synthetic isotropic ground-truth volume (EM-like neuropil or fluorescence nuclei)."""
    api.check_output(out, force)
    _check_dtype(dtype)
    volume = api.synth(kind, _parse_shape(shape), seed, dtype, voxel_nm)
    api.write_volume(out, volume.data, volume.voxel_size, volume.unit, force=force)
    typer.echo(
        f"wrote {out}: {kind} {volume.data.shape} {volume.data.dtype}, {_voxel_text(volume.voxel_size, volume.unit)}"
    )


@app.command()
def simulate(
    gt: Annotated[str, typer.Argument(help="Isotropic ground-truth volume.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output (anisotropic) volume.")],
    factor: Annotated[float, typer.Option(help="Axial factor s >= 1 (non-integer allowed).")],
    model: ModelOpt = "average",
    fwhm: FwhmOpt = None,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
) -> None:
    """Simulate an anisotropic acquisition of an isotropic volume along z."""
    api.check_output(out, force, inputs=(gt,))
    _check_dtype(dtype)
    volume = _read(gt, voxel_size, channel)
    lr = api.simulate_acquisition(volume, api.Acquisition(factor, model, fwhm), dtype)
    api.write_volume(out, lr.data, lr.voxel_size, lr.unit, force=force)
    typer.echo(
        f"wrote {out}: {lr.data.shape} {lr.data.dtype}, {_voxel_text(lr.voxel_size, lr.unit)} ({model}, s={factor:g})"
    )


def _check_restore_outputs(out: str, force: bool, input_spec: str, dtype: str | None, uncertainty: bool) -> None:
    """Before any work: the output (and its uncertainty sibling) may be written, and the dtype exists."""
    api.check_output(out, force, inputs=(input_spec,))
    _check_dtype(dtype)
    if uncertainty:
        api.check_output(api.tagged_sibling(out, "uncertainty"), force, inputs=(input_spec,))


def _say_blockwise(summary, out: str, acquisition: api.Acquisition) -> None:
    if summary.output is None:
        left = summary.blocks_total - summary.blocks_skipped - summary.blocks_run
        typer.echo(f"{summary.blocks_run} blocks restored, {left} left: rerun the same command to continue")
    else:
        typer.echo(
            f"wrote {out}: {summary.blocks_total} blocks ({summary.blocks_skipped} from an earlier run), "
            f"s={acquisition.factor:g}, {summary.seconds:.0f} s, "
            f"peak worker memory {summary.peak_worker_rss_mib:.0f} MiB"
        )


RESTORE_METHOD_HELP = (
    f"One of: {', '.join(api.method_names())}. Default of reconstruct: the method the given priors serve (a "
    f"lateral regressor: lateral; a diffusion prior: inr-sds; both: inr-lateral; none: {api.DEFAULT_METHOD}); "
    "of baseline: cubic."
)


def _restore_command(default_method: str | None, doc: str):
    """The body of `reconstruct` and `baseline`: one API call with the method and its configs (a default
    method of None: the one the given priors serve)."""
    method_help = f"One of: {', '.join(api.method_names())}."
    if default_method is None:
        method_help += (
            " Default: the method the given priors serve (a lateral regressor: lateral; a diffusion prior: "
            f"inr-sds; both: inr-lateral; none: {api.DEFAULT_METHOD})."
        )

    @with_options(RECON_GROUP, SLICEWISE_GROUP, LATERAL_GROUP, REFINE_GROUP, BLOCK_GROUP, RUNTIME_GROUP)
    def command(
        recon_options: dict,
        slicewise_options: dict,
        lateral_options: dict,
        refine_options: dict,
        block_options: dict,
        runtime_options: dict,
        input_spec: InputArg,
        out: OutOpt,
        method: Annotated[str | None, typer.Option(help=RESTORE_METHOD_HELP)] = default_method,
        prior: PriorsOpt = None,
        factor: FactorOpt = None,
        model: ModelOpt = "average",
        fwhm: FwhmOpt = None,
        consistency: ConsistencyOpt = None,
        projection: ProjectionOpt = api.DEFAULT_PROJECTION,
        uncertainty: UncertaintyOpt = False,
        checkpoint_dir: Annotated[str | None, typer.Option(help="Folder for checkpoints and the loss log.")] = None,
        resume: Annotated[bool, typer.Option("--resume", help="Continue from --checkpoint-dir.")] = False,
        voxel_size: VoxelOpt = None,
        channel: ChannelOpt = None,
        dtype: DtypeOpt = None,
        force: ForceOpt = False,
        blocks: BlocksOpt = None,
        bad_sections: BadSectionsOpt = "auto",
    ) -> None:
        _check_restore_outputs(out, force, input_spec, dtype, uncertainty)
        zarr_options = _zarr_options(block_options)
        if resume and checkpoint_dir is None:
            raise AxialSRError("--resume needs --checkpoint-dir")
        values = {"recon_options": recon_options, "slicewise_options": slicewise_options}
        values["lateral_options"] = lateral_options
        values["refine_options"] = refine_options
        config = _restore_config(values, consistency, projection, uncertainty)
        runtime = _runtime(runtime_options)
        priors = api.load_priors(prior, runtime.device)
        if method is None:
            method = api.method_for_priors(priors)
            if priors:
                typer.echo(f"method: {method} (the method the given priors serve; choose another with --method)")
        _say_unused_priors(method, priors)
        if blocks is not None:
            size, unit = _parse_voxel_size(voxel_size)
            source = api.open_source(input_spec, size, channel, unit)
            acquisition = api.acquisition_for(source, factor, model, fwhm, bad_sections)
            block_config = BLOCK_GROUP.build(block_options, blocks=_parse_shape(blocks, minimum=1))
            summary = api.restore_blockwise(
                source, out, method, acquisition, priors, config, block_config, dtype, force, runtime
            )
            _say_blockwise(summary, out, acquisition)
            return
        volume = _read(input_spec, voxel_size, channel)
        acquisition = api.acquisition_for(volume, factor, model, fwhm, bad_sections)
        result, info = api.restore(volume, method, acquisition, priors, config, checkpoint_dir, resume, dtype, runtime)
        api.write_volume(out, result.data, result.voxel_size, result.unit, force=force, **zarr_options)
        if info.uncertainty is not None:
            spread = _write_uncertainty(out, result, info.uncertainty, force, zarr_options)
            typer.echo(f"wrote {spread}: uncertainty (1 sigma)")
        typer.echo(
            f"wrote {out}: {result.data.shape} {result.data.dtype}, {_voxel_text(result.voxel_size, result.unit)} "
            f"({method}, s={acquisition.factor:g}, {info.seconds:.0f} s)"
        )

    command.__doc__ = doc
    return command


app.command("reconstruct")(
    _restore_command(
        None,
        "Restore an isotropic volume with any method and its priors (default: the method the priors serve).",
    )
)
app.command("baseline")(
    _restore_command("cubic", "Restore with a baseline method (interpolation, inr, slicewise) for comparison.")
)


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
    from axialsr.frontends import tables

    if json_out:
        _check_plain_output(Path(json_out), force)
    truth = api.read_volume(gt)
    acquisition = api.Acquisition(factor) if factor is not None else None
    other = api.read_volume(coherence_with) if coherence_with else None
    rows = [
        {"method": Path(path).name, **api.score_row(api.read_volume(path), truth, acquisition, other)} for path in pred
    ]
    columns = [c for c in rows[0] if c != "method" and not (c.startswith("psnr_") and c[5:] in ("xy", "xz", "yz"))]
    tables.print_table(rows, columns, title=f"scores against {gt}")
    if json_out:
        api.write_text_atomic(json_out, json.dumps(rows, indent=2))


@app.command()
def figure(
    volumes: Annotated[list[str], typer.Argument(help="Volumes to show, one row each.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output PNG.")],
    crop: Annotated[int | None, typer.Option(help="Show only the first N pixels laterally.")] = None,
    force: ForceOpt = False,
) -> None:
    """Orthogonal views (XY, XZ, YZ) of volumes side by side, as a PNG."""
    from axialsr.frontends.figures import orthogonal_views

    if not out.lower().endswith(".png"):
        raise AxialSRError(f"--out must be a .png file, got {out}")
    _check_plain_output(Path(out), force)
    data = {Path(v).name: api.read_volume(v).data for v in volumes}
    orthogonal_views(data, out, crop=crop)
    typer.echo(f"wrote {out}")


@app.command("train-prior")
@with_options(PRIOR_GROUP, RUNTIME_GROUP)
def train_prior(
    prior_options: dict,
    runtime_options: dict,
    input_spec: Annotated[str, typer.Argument(metavar="INPUT", help="Input volume; the prior learns its XY slices.")],
    out: Annotated[str, typer.Option("--out", "-o", help="Prior folder to write.")],
    factor: FactorOpt = None,
    model: ModelOpt = "average",
    fwhm: FwhmOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the folder's checkpoint.")] = False,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    force: ForceOpt = False,
    bad_sections: BadSectionsOpt = "auto",
) -> None:
    """Train a prior on the XY slices of the input: a diffusion model, a conditional one, or the lateral
    regressor (the last two learn to undo the acquisition, so they need the factor)."""
    config = PRIOR_GROUP.build(prior_options)
    runtime = _runtime(runtime_options)
    out_path = Path(out)
    if api.is_prior_folder(out_path) and not (force or resume):
        raise AxialSRError(f"{out} already holds a prior; pass --force to retrain or --resume to continue")
    if out_path.exists() and not out_path.is_dir():
        raise AxialSRError(f"{out} exists and is not a folder")
    _check_plain_output(out_path / "prior.json" if out_path.is_dir() else out_path, force=True)
    volume = _read(input_spec, voxel_size, channel)
    if config.kind == "diffusion" and factor is None and volume.anisotropy is None:
        # a diffusion prior needs no factor: the acquisition only says which sections to leave out
        acquisition = api.Acquisition(1.0, **api.sections_of(api.bad_sections_for(volume, bad_sections)))
    else:
        acquisition = api.acquisition_for(volume, factor, model, fwhm, bad_sections)
    prior = api.train_prior(volume, config, out_path, acquisition, resume, runtime)
    blur = f", extra axial blur {prior.axial_blur:.2f} px" if prior.kind != "diffusion" else ""
    typer.echo(f"wrote {prior.kind} prior {out}: {prior.meta['steps_trained']} steps, patch {prior.patch}{blur}")


@app.command("export-model")
def export_model(
    prior_dir: Annotated[str, typer.Argument(help="Lateral prior folder (train-prior --kind lateral).")],
    volume: Annotated[str, typer.Option("--volume", help="The measured volume it was trained on (test tensors).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output bioimage.io model package (.zip).")],
    name: Annotated[str, typer.Option(help="The model's name in the package.")] = "axialsr lateral regressor",
    channel: ChannelOpt = None,
    force: ForceOpt = False,
) -> None:
    """Export a lateral regressor as a bioimage.io model package (spec 0.5: TorchScript and PyTorch
    weights, normalisation as pre/postprocessing, test tensors, cover, README), validated before it is
    written, for deepImageJ (Fiji), ilastik or bioimageio.core on XZ/YZ planes."""
    path = api.export_model(prior_dir, _read(volume, None, channel), out, name=name, force=force)
    typer.echo(f"wrote {path}: bioimage.io model package (validated)")


@app.command("sample-prior")
def sample_prior(
    prior_dir: Annotated[str, typer.Argument(help="Prior folder (diffusion or conditional).")],
    out: Annotated[str, typer.Option("--out", "-o", help="Output PNG grid.")],
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
    _check_plain_output(Path(out), force)
    (prior,) = api.load_priors(prior_dir, device)
    real_data = api.read_volume(real).data if real else None
    if prior.kind != "diffusion" and real_data is None:
        raise AxialSRError(f"a {prior.kind} prior is shown on degraded real patches: pass --real VOLUME")
    prior_samples_figure(prior, out, n=n, steps=steps, seed=seed, real_volume=real_data, guidance=guidance)
    typer.echo(f"wrote {out}")


@app.command()
@with_options(
    RECON_GROUP,
    SLICEWISE_GROUP,
    LATERAL_GROUP,
    REFINE_GROUP,
    LATERAL_PRIOR_GROUP,
    DIFFUSION_PRIOR_GROUP,
    RUN_BLOCK_GROUP,
    RUNTIME_GROUP,
)
def run(
    recon_options: dict,
    slicewise_options: dict,
    lateral_options: dict,
    refine_options: dict,
    lateral_prior_options: dict,
    diffusion_prior_options: dict,
    block_options: dict,
    runtime_options: dict,
    input_spec: InputArg,
    out: OutOpt,
    method: Annotated[str, typer.Option(help=f"One of: {', '.join(api.method_names())}.")] = api.DEFAULT_METHOD,
    factor: FactorOpt = None,
    model: ModelOpt = "average",
    fwhm: FwhmOpt = None,
    work_dir: Annotated[
        str | None,
        typer.Option(help="Folder for the priors, checkpoints and block parts (default: OUT's name + .axialsr)."),
    ] = None,
    prior_preset: Annotated[
        str | None, typer.Option(help="Prior size: tiny, small, base (default: small on CPU, base on GPU).")
    ] = None,
    with_diffusion: Annotated[
        bool, typer.Option(help="Also train a diffusion prior for methods that can use one (inr-lateral: SDS).")
    ] = False,
    consistency: ConsistencyOpt = None,
    projection: ProjectionOpt = api.DEFAULT_PROJECTION,
    uncertainty: UncertaintyOpt = False,
    resume: Annotated[
        bool, typer.Option("--resume", help="Reuse trained priors and continue from checkpoints in work-dir.")
    ] = False,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    dtype: DtypeOpt = None,
    force: ForceOpt = False,
    report: Annotated[str | None, typer.Option(help="Also write an HTML report (index.html) to this folder.")] = None,
    blocks: BlocksOpt = None,
    bad_sections: BadSectionsOpt = "auto",
) -> None:
    """The whole job: train the priors on the input's own XY slices, then restore it (with --blocks, a
    volume larger than memory: priors trained on tiles read across it, restored block by block)."""
    if blocks is not None and report:
        raise AxialSRError("--report needs the whole volume in memory: run without --blocks, or drop --report")
    _check_restore_outputs(out, force, input_spec, dtype, uncertainty)
    zarr_options = _zarr_options(block_options)
    if report:
        _check_report_dir(Path(report), force)
    if blocks is not None:
        size, unit = _parse_voxel_size(voxel_size)
        volume = api.open_source(input_spec, size, channel, unit)
    else:
        volume = _read(input_spec, voxel_size, channel)
    found = api.bad_sections_for(volume, bad_sections)
    acquisition = api.acquisition_for(volume, factor, model, fwhm, found)
    values = {"recon_options": recon_options, "slicewise_options": slicewise_options}
    values["lateral_options"] = lateral_options
    values["refine_options"] = refine_options
    config = api.RunConfig(
        method=method,
        lateral_prior=LATERAL_PRIOR_GROUP.build(lateral_prior_options, preset=prior_preset),
        diffusion_prior=DIFFUSION_PRIOR_GROUP.build(diffusion_prior_options, preset=prior_preset),
        with_diffusion=with_diffusion,
        restore=_restore_config(values, consistency, projection, uncertainty),
    )
    work = Path(work_dir) if work_dir else Path(out).with_name(Path(out).name.split(".")[0] + ".axialsr")
    work.mkdir(parents=True, exist_ok=True)
    runtime = _runtime(runtime_options)
    if blocks is not None:
        shape = _parse_shape(blocks, minimum=1)
        block_config = RUN_BLOCK_GROUP.build(block_options, blocks=shape, work_dir=str(work / "parts"))
        summary, priors, _ = api.run_blockwise(
            volume, out, config, work, acquisition, block_config, resume, dtype, force, runtime
        )
        _say_blockwise(summary, out, acquisition)
        _write_run_json(work, input_spec, out, method, acquisition, found, summary.seconds, None, priors)
        return
    result = api.run(volume, config, work, acquisition, resume, dtype, runtime)
    volume_out = result.volume
    api.write_volume(out, volume_out.data, volume_out.voxel_size, volume_out.unit, force=force, **zarr_options)
    info = result.restoration
    if info.uncertainty is not None:
        spread = _write_uncertainty(out, volume_out, info.uncertainty, force, zarr_options)
        typer.echo(f"wrote {spread}: uncertainty (1 sigma)")
    out_volume = result.volume
    typer.echo(
        f"wrote {out}: {out_volume.data.shape} {out_volume.data.dtype}, "
        f"{_voxel_text(out_volume.voxel_size, out_volume.unit)} ({method}, s={acquisition.factor:g}, "
        f"{info.seconds:.0f} s after training)"
    )
    _write_run_json(
        work, input_spec, out, method, acquisition, found, info.seconds, info.measurement_rms, result.priors
    )
    if report:
        from axialsr.frontends.report import run_report

        page = run_report(report, volume, result, acquisition, config, runtime, input_spec, out)
        typer.echo(f"wrote the report {page}")


def _write_run_json(
    work: Path, source: str, out: str, method: str, acquisition, found, seconds: float, rms: float | None, priors=()
) -> None:
    """`<work-dir>/run.json`: what a run did, for the record (the bad sections with what was wrong, the
    seconds of each stage: each prior's training, as estimated after its first steps and as it took, and
    the restoration)."""
    from dataclasses import asdict

    payload = {
        "input": source,
        "output": out,
        "method": method,
        "acquisition": asdict(acquisition),
        "bad_sections": [asdict(b) | {"left_out": b.excluded} for b in found],
        "training_seconds": {p.kind: p.meta.get("seconds") for p in priors},
        "training_estimated_seconds": {p.kind: p.meta.get("estimated_seconds") for p in priors},
        "restoration_seconds": seconds,
        "measurement_rms": rms,
    }
    api.write_text_atomic(work / "run.json", json.dumps(payload, indent=2))


@app.command()
@with_options(RECON_GROUP, SLICEWISE_GROUP, LATERAL_GROUP, REFINE_GROUP, LATERAL_PRIOR_GROUP, RUNTIME_GROUP)
def validate(
    recon_options: dict,
    slicewise_options: dict,
    lateral_options: dict,
    refine_options: dict,
    lateral_prior_options: dict,
    runtime_options: dict,
    input_spec: InputArg,
    prior: PriorsOpt = None,
    factor: FactorOpt = None,
    model: ModelOpt = "average",
    fwhm: FwhmOpt = None,
    scheme: Annotated[
        str,
        typer.Option(
            help="lateral: degrade Y at the real factor and restore it (the measured XY slices are the truth); "
            "holdout: keep one slice in --holdout K, restore at K times the factor, score the others; "
            "sections (serial sections): average adjacent pairs of sections, restore at twice the factor (the "
            "regressor trained on the pairs), score each restored half against the real section."
        ),
    ] = "lateral",
    holdout: Annotated[int, typer.Option(help="K for --scheme holdout (odd, >= 3).")] = 3,
    methods: Annotated[
        str | None,
        typer.Option(
            help="Comma list of methods (default: linear, cubic and what run does, lateral, its regressor trained "
            "here; with --prior, every method the priors allow; holdout: those, without a regressor)."
        ),
    ] = None,
    axial_blur: Annotated[
        float | None,
        typer.Option(help="Extra axial blur (sigma, px) of the truth; default: estimated from the data (0: off)."),
    ] = None,
    consistency: ConsistencyOpt = None,
    projection: ProjectionOpt = api.DEFAULT_PROJECTION,
    json_out: Annotated[str | None, typer.Option("--json", help="Also write the rows as JSON.")] = None,
    report: Annotated[str | None, typer.Option(help="Write an HTML report (index.html) to this folder.")] = None,
    voxel_size: VoxelOpt = None,
    channel: ChannelOpt = None,
    force: ForceOpt = False,
    bad_sections: BadSectionsOpt = "auto",
) -> None:
    """Score methods on this volume without ground truth, side by side, to pick one and its settings."""
    from axialsr.frontends.tables import print_table
    from axialsr.settings import ValidationConfig

    volume = _read(input_spec, voxel_size, channel)
    runtime = _runtime(runtime_options)
    priors = api.load_priors(prior, runtime.device)
    if methods:
        chosen = tuple(m.strip() for m in methods.split(","))
    elif scheme != "holdout" and not priors:
        chosen = ("linear", "cubic", api.DEFAULT_METHOD)  # what `run` does: its regressor is trained here
    else:
        chosen = api.validation_methods(priors)
    values = {"recon_options": recon_options, "slicewise_options": slicewise_options}
    values["lateral_options"] = lateral_options
    values["refine_options"] = refine_options
    config = ValidationConfig(
        scheme=scheme,
        holdout=holdout,
        methods=chosen,
        restore=_restore_config(values, consistency, projection),
        axial_blur=axial_blur,
        lateral_prior=LATERAL_PRIOR_GROUP.build(lateral_prior_options),
    )
    if json_out:
        _check_plain_output(Path(json_out), force)
    if report:
        _check_report_dir(Path(report), force)
    acquisition = api.acquisition_for(volume, factor, model, fwhm, bad_sections)
    result = api.validate(volume, acquisition, priors, config, runtime)
    s = acquisition.factor
    columns = ("psnr", "ssim", "detail_r2", "seconds") if scheme == "sections" else ("psnr", "ssim", "seconds")
    title = f"axialsr validate ({scheme}), factor {2 * s:g} from pairs" if scheme == "sections" else None
    print_table(result.rows, columns, title=title or f"axialsr validate ({scheme}), factor {s:g}")
    if result.note:
        typer.echo(f"note: {result.note}")
    best = result.ranking()[0]
    typer.echo(f"best by PSNR: {best} (axialsr run {input_spec} --out OUT --method {best})")
    if json_out:
        payload = {"scheme": scheme, "factor": s, "axial_blur": result.axial_blur, "rows": result.rows}
        api.write_text_atomic(json_out, json.dumps(payload, indent=2))
    if report:
        from axialsr.frontends.report import validation_report

        page = validation_report(report, result, volume, acquisition, config, runtime, priors, input_spec, prior or ())
        typer.echo(f"wrote the report {page}")


@app.command()
def demo(
    out_dir: Annotated[str, typer.Option("--out-dir", help="Folder for the demo's files.")] = "axialsr-demo",
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


def _with_option(exc: BaseException) -> str:
    """An error's message with the option that sets what it names (the library speaks of its parameters:
    'set force to overwrite it' -> '... (option --force)')."""
    setting = getattr(exc, "setting", None)
    return f"{exc} (option --{setting.replace('_', '-')})" if setting else str(exc)


def _one_line_warnings(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"axialsr: warning: {message}", file=sys.stderr)


def _usage_exit_code(exc: BaseException) -> int | None:
    """Exit code for a command-line usage exception (click's, or the copy of click that typer vendors),
    after printing it as one line; None for any other exception."""
    module = type(exc).__module__
    if not (module.startswith("click") or module.startswith("typer")):
        return None
    name = type(exc).__name__
    ctx = getattr(exc, "ctx", None)
    if name == "NoArgsIsHelpError" and ctx is not None:
        typer.echo(ctx.get_help())
        return 2
    if name == "Exit":
        return int(getattr(exc, "exit_code", 0))
    if name == "Abort":
        typer.echo("axialsr: interrupted", err=True)
        return 130
    if hasattr(exc, "format_message"):
        where = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = " ".join(str(exc.format_message()).split())
        typer.echo(f"axialsr: error: {message}{where}", err=True)
        return 2
    return None


def main() -> None:
    """Console-script entry point: run the app, turning errors into one line on stderr and exit code 2
    (usage slips and AxialSRError), and an interruption into one line and exit code 130."""
    import warnings

    from axialsr.api import RunInterruptedError

    warnings.showwarning = _one_line_warnings
    try:
        code = app(prog_name="axialsr", standalone_mode=False)
    except AxialSRError as exc:
        typer.echo(f"axialsr: error: {_with_option(exc)}", err=True)
        sys.exit(2)
    except RunInterruptedError as exc:  # Ctrl-C at a step boundary, checkpoint saved
        typer.echo(f"axialsr: {_with_option(exc)}", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.echo("axialsr: interrupted", err=True)
        sys.exit(130)
    except Exception as exc:
        code = _usage_exit_code(exc)
        if code is None:
            raise
        sys.exit(code)
    if isinstance(code, int) and code:  # typer turns a Ctrl-C outside a step loop into a returned 130
        if code == 130:
            typer.echo("axialsr: interrupted", err=True)
        sys.exit(code)


if __name__ == "__main__":
    main()
