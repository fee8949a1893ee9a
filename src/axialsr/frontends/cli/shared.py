"""What the commands share: the option groups (generated from the config dataclasses and from the settings
sections the methods register), the help headings they appear under, and small helpers that read inputs
and check outputs before any work."""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.frontends.options import OptionGroup
from axialsr.methods import settings_sections
from axialsr.pipeline.blocks import BlockConfig
from axialsr.settings import PriorConfig, RestoreConfig, Runtime

# the help headings, in the order `--help` shows them (the methods' sections go after METHOD)
IO_PANEL = "Input and output"
ACQUISITION_PANEL = "Acquisition (how z was measured)"
METHOD_PANEL = "Method"
PRIOR_PANEL = "Prior training"
BLOCK_PANEL = "Blockwise (volumes larger than memory)"
RUNTIME_PANEL = "How it runs (not what it computes)"


def panel_order() -> list[str]:
    """Every help heading in the order shown: input/output, acquisition, method, each settings section,
    priors, blockwise, runtime."""
    sections = [s.title for s in settings_sections().values()]
    return [IO_PANEL, ACQUISITION_PANEL, METHOD_PANEL, *sections, PRIOR_PANEL, BLOCK_PANEL, RUNTIME_PANEL]


@dataclass
class AcquisitionOptions:
    """How z was measured, as every command that reads a measured stack asks it (defined once)."""

    factor: float | None = field(
        default=None, metadata={"help": "Axial factor s = dz/dx (default: from the voxel size)."}
    )
    model: str = field(
        default="average", metadata={"help": "Acquisition model along z: average, gaussian or subsample."}
    )
    fwhm: float | None = field(
        default=None,
        metadata={
            "help": "Axial PSF FWHM in output voxels, i.e. FWHM in um divided by the lateral pixel in um (model "
            "gaussian; default s)."
        },
    )
    bad_sections: str = field(
        default="auto",
        metadata={
            "help": "Sections that carry no information (lost, blank, saturated, imaged twice): auto (find them), "
            "none, or indices from 0 ('14,27', '14-16'). They are left out of training and restored from their "
            "neighbours."
        },
    )


ACQUISITION_GROUP = OptionGroup(AcquisitionOptions, "acquisition_options", panel=ACQUISITION_PANEL)
RUNTIME_GROUP = OptionGroup(Runtime, "runtime_options", panel=RUNTIME_PANEL)
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
    defaults={"kind": "conditional"},
    panel=PRIOR_PANEL,
)


def method_groups() -> list[OptionGroup]:
    """One option group per registered settings section (built-in methods' and plug-ins' alike), under
    the section's title, with its prefix."""
    return [
        OptionGroup(s.cls, f"{s.key}_settings", prefix=s.prefix, panel=s.title) for s in settings_sections().values()
    ]


def restore_config(
    settings: dict[str, dict[str, Any]], *, consistency: bool | None, projection: str, uncertainty: bool = False
) -> RestoreConfig:
    """The RestoreConfig from the parsed options of every settings section (`settings`: group key -> values)."""
    groups = {g.key: g for g in method_groups()}  # a section registered after the app was built has no options
    sections = {key.removesuffix("_settings"): groups[key].build(values) for key, values in settings.items()}
    return RestoreConfig(consistency=consistency, projection=projection, uncertainty=uncertainty, methods=sections)


VoxelOpt = Annotated[
    str | None,
    typer.Option(
        "--voxel-size",
        help="Voxel size 'Z,Y,X' (e.g. 40,4,4); overrides the file's metadata.",
        rich_help_panel=IO_PANEL,
    ),
]
ChannelOpt = Annotated[
    int | None, typer.Option("--channel", help="Channel index to use when the input is 4D.", rich_help_panel=IO_PANEL)
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Overwrite an existing output (even the input).", rich_help_panel=IO_PANEL)
]
DtypeOpt = Annotated[
    str | None, typer.Option("--dtype", help="Output dtype (default: the input's).", rich_help_panel=IO_PANEL)
]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.", rich_help_panel=RUNTIME_PANEL)]
SeedOpt = Annotated[
    int,
    typer.Option("--seed", help="Random seed (same seed, same device: same result).", rich_help_panel=RUNTIME_PANEL),
]
PriorsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--prior",
        help="Prior folder (train-prior); repeat for a method that uses two (lateral + diffusion).",
        rich_help_panel=METHOD_PANEL,
    ),
]
InputArg = Annotated[str, typer.Argument(metavar="INPUT", help="Anisotropic input volume.")]
OutOpt = Annotated[str, typer.Option("--out", "-o", help="Output isotropic volume.", rich_help_panel=IO_PANEL)]
ConsistencyOpt = Annotated[
    bool | None,
    typer.Option(
        help="End with the projection onto the measurements (default: the method's choice).",
        rich_help_panel=METHOD_PANEL,
    ),
]
ProjectionOpt = Annotated[
    str,
    typer.Option(
        help="The correction that makes the result reproduce the measurements: h2 (smoothest along z, no "
        "steps at slab boundaries), h1, or l2 (a constant per slab). run also trains the regressor for it.",
        rich_help_panel=METHOD_PANEL,
    ),
]
UncertaintyOpt = Annotated[
    bool,
    typer.Option(
        "--uncertainty",
        help="Also write a per-voxel uncertainty (one standard deviation, output units) beside the output, as "
        "OUT.uncertainty.EXT (methods lateral and inr-lateral).",
        rich_help_panel=METHOD_PANEL,
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


def parse_voxel_size(text: str | None) -> tuple[tuple[float, float, float] | None, str | None]:
    """--voxel-size as (size, unit or None), with a warning for unit-less values that look like um."""
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


def parse_shape(text: str, minimum: int = 4) -> tuple[int, int, int]:
    """'ZxYxX' as three integers >= `minimum`."""
    try:
        shape = tuple(int(v) for v in text.lower().replace(",", "x").split("x"))
    except ValueError:
        raise AxialSRError(f"shape must be 'ZxYxX' integers, got '{text}'") from None
    if len(shape) != 3 or min(shape) < minimum:
        raise AxialSRError(f"shape must be three integers >= {minimum} 'ZxYxX', got '{text}'")
    return shape  # type: ignore[return-value]


def runtime_from(values: dict[str, Any]) -> Runtime:
    """The runtime from its options, after one line naming the device the work runs on (which must exist)."""
    runtime = RUNTIME_GROUP.build(values)
    typer.echo(f"device: {api.describe_device(runtime.device)}")
    return runtime


def acquisition_from(volume, values: dict[str, Any], found=None) -> api.Acquisition:
    """The acquisition of `volume` from the acquisition options (`found`: bad sections already looked for)."""
    options = ACQUISITION_GROUP.build(values)
    bad = options.bad_sections if found is None else found
    return api.acquisition_for(volume, factor=options.factor, model=options.model, fwhm=options.fwhm, bad_sections=bad)


def say_unused_priors(method: str, priors) -> None:
    """Say when a method runs without an optional prior (e.g. inr-lateral without SDS)."""
    for words in api.get_method(method).unused(priors):
        typer.echo(f"note: {method} runs without a {words} prior (no SDS); add one with --prior to use it")


def check_dtype(dtype: str | None) -> None:
    """Fail before any work on an unknown or unwritable --dtype."""
    if dtype is not None:
        api.check_dtype(dtype)


def read(path: str, voxel_size: str | None = None, channel: int | None = None) -> api.Volume:
    """The volume at `path`, with --voxel-size and --channel applied."""
    size, unit = parse_voxel_size(voxel_size)
    return api.read_volume(path, size, channel, unit)


def voxel_text(size, unit: str) -> str:
    return "no voxel size" if size is None else "voxel " + "x".join(f"{v:.4g}" for v in size) + f" {unit}"


def write_uncertainty(out: str, volume: api.Volume, uncertainty, force: bool, zarr_options: dict) -> str:
    path = api.tagged_sibling(out, "uncertainty")
    api.write_volume(path, uncertainty, volume.voxel_size, volume.unit, force=force, **zarr_options)
    return path


def zarr_options(block_options: dict) -> dict:
    """The OME-Zarr output settings of the block options (pyramid levels, NGFF version) as `write_volume`
    keywords, checked before any work."""
    checked = BlockConfig(pyramid_levels=block_options["pyramid_levels"], ngff_version=block_options["ngff_version"])
    return {"levels": checked.pyramid_levels, "ngff_version": checked.ngff_version}


def check_plain_output(path: Path, force: bool) -> None:
    """Fail before any work when a report, table or figure file cannot be written."""
    api.check_output(path, force, any_format=True)


def check_report_dir(folder: Path, force: bool) -> None:
    """Fail before any work when a report folder already holds a report (without --force) or cannot be made."""
    if (folder / "index.html").exists() and not force:
        raise AxialSRError(f"{folder} already holds a report; pass --force to overwrite it")
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise AxialSRError(f"cannot write the report to {folder}: {existing} is not a writable folder")


def check_restore_outputs(out: str, force: bool, input_spec: str, dtype: str | None, uncertainty: bool) -> None:
    """Before any work: the output (and its uncertainty sibling) may be written, and the dtype exists."""
    api.check_output(out, force, inputs=(input_spec,))
    check_dtype(dtype)
    if uncertainty:
        api.check_output(api.tagged_sibling(out, "uncertainty"), force, inputs=(input_spec,))


def say_blockwise(summary, out: str, acquisition: api.Acquisition) -> None:
    if summary.output is None:
        left = summary.blocks_total - summary.blocks_skipped - summary.blocks_run
        typer.echo(f"{summary.blocks_run} blocks restored, {left} left: rerun the same command to continue")
    else:
        typer.echo(
            f"wrote {out}: {summary.blocks_total} blocks ({summary.blocks_skipped} from an earlier run), "
            f"s={acquisition.factor:g}, {summary.seconds:.0f} s, "
            f"peak worker memory {summary.peak_worker_rss_mib:.0f} MiB"
        )
