"""`reconstruct` and `baseline` (restore with given priors) and `run` (the whole job: train, then restore).
Each is made by a function, so that its options come from the settings sections registered when the
command line is built (plug-ins' included)."""

import json
from pathlib import Path
from typing import Annotated

import typer

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.frontends.cli.shared import (
    ACQUISITION_GROUP,
    BLOCK_GROUP,
    DIFFUSION_PRIOR_GROUP,
    IO_PANEL,
    LATERAL_PRIOR_GROUP,
    METHOD_PANEL,
    PRIOR_PANEL,
    RUN_BLOCK_GROUP,
    RUNTIME_GROUP,
    BlocksOpt,
    ChannelOpt,
    ConsistencyOpt,
    DtypeOpt,
    ForceOpt,
    InputArg,
    OutOpt,
    PriorsOpt,
    ProjectionOpt,
    UncertaintyOpt,
    VoxelOpt,
    acquisition_from,
    check_report_dir,
    check_restore_outputs,
    method_groups,
    parse_shape,
    parse_voxel_size,
    read,
    restore_config,
    runtime_from,
    say_blockwise,
    say_unused_priors,
    voxel_text,
    write_uncertainty,
    zarr_options,
)
from axialsr.frontends.options import with_options


def restore_command(default_method: str | None, doc: str):
    """The body of `reconstruct` and `baseline`: one API call with the method and its configs (a default
    method of None: the one the given priors serve)."""
    method_help = f"One of: {', '.join(api.method_names())}."
    if default_method is None:
        method_help += (
            " Default: the method the given priors serve (a lateral regressor: lateral; a diffusion prior: "
            f"inr-sds; both: inr-lateral; none: {api.DEFAULT_METHOD})."
        )

    @with_options(ACQUISITION_GROUP, *method_groups(), BLOCK_GROUP, RUNTIME_GROUP, gather="method_settings")
    def command(
        acquisition_options: dict,
        method_settings: dict,
        block_options: dict,
        runtime_options: dict,
        input_spec: InputArg,
        out: OutOpt,
        method: Annotated[str | None, typer.Option(help=method_help, rich_help_panel=METHOD_PANEL)] = default_method,
        prior: PriorsOpt = None,
        consistency: ConsistencyOpt = None,
        projection: ProjectionOpt = api.DEFAULT_PROJECTION,
        uncertainty: UncertaintyOpt = False,
        checkpoint_dir: Annotated[
            str | None, typer.Option(help="Folder for checkpoints and the loss log.", rich_help_panel=IO_PANEL)
        ] = None,
        resume: Annotated[
            bool, typer.Option("--resume", help="Continue from --checkpoint-dir.", rich_help_panel=IO_PANEL)
        ] = False,
        voxel_size: VoxelOpt = None,
        channel: ChannelOpt = None,
        dtype: DtypeOpt = None,
        force: ForceOpt = False,
        blocks: BlocksOpt = None,
    ) -> None:
        check_restore_outputs(out, force, input_spec, dtype, uncertainty)
        zarr = zarr_options(block_options)
        if resume and checkpoint_dir is None:
            raise AxialSRError("--resume needs --checkpoint-dir")
        config = restore_config(
            method_settings, consistency=consistency, projection=projection, uncertainty=uncertainty
        )
        runtime = runtime_from(runtime_options)
        priors = api.load_priors(prior, runtime.device)
        if method is None:
            method = api.method_for_priors(priors)
            if priors:
                typer.echo(f"method: {method} (the method the given priors serve; choose another with --method)")
        say_unused_priors(method, priors)
        volume = open_input(input_spec, voxel_size, channel, whole=blocks is None)
        acquisition = acquisition_from(volume, acquisition_options)
        block_config = (
            None if blocks is None else BLOCK_GROUP.build(block_options, blocks=parse_shape(blocks, minimum=1))
        )
        restored = api.restore(
            volume,
            method=method,
            acquisition=acquisition,
            priors=priors,
            config=config,
            checkpoint_dir=checkpoint_dir,
            resume=resume,
            dtype=dtype,
            runtime=runtime,
            blocks=block_config,
            out=out,
            force=force,
        )
        if block_config is not None:
            say_blockwise(restored, out, acquisition)
        else:
            write_restored(out, *restored, zarr=zarr, force=force, said=f"{method}, s={acquisition.factor:g}")

    command.__doc__ = doc
    return command


def run_command():
    """`axialsr run`: the whole job."""

    @with_options(
        ACQUISITION_GROUP,
        *method_groups(),
        LATERAL_PRIOR_GROUP,
        DIFFUSION_PRIOR_GROUP,
        RUN_BLOCK_GROUP,
        RUNTIME_GROUP,
        gather="method_settings",
    )
    def run(
        acquisition_options: dict,
        method_settings: dict,
        lateral_prior_options: dict,
        diffusion_prior_options: dict,
        block_options: dict,
        runtime_options: dict,
        input_spec: InputArg,
        out: OutOpt,
        method: Annotated[
            str, typer.Option(help=f"One of: {', '.join(api.method_names())}.", rich_help_panel=METHOD_PANEL)
        ] = api.DEFAULT_METHOD,
        consistency: ConsistencyOpt = None,
        projection: ProjectionOpt = api.DEFAULT_PROJECTION,
        uncertainty: UncertaintyOpt = False,
        work_dir: Annotated[
            str | None,
            typer.Option(
                help="Folder for the priors, checkpoints and block parts (default: OUT's name + .axialsr).",
                rich_help_panel=IO_PANEL,
            ),
        ] = None,
        prior_preset: Annotated[
            str | None,
            typer.Option(
                help="Prior size: tiny, small, base (default: small on CPU, base on GPU).", rich_help_panel=PRIOR_PANEL
            ),
        ] = None,
        with_diffusion: Annotated[
            bool,
            typer.Option(
                help="Also train a diffusion prior for methods that can use one (inr-lateral: SDS).",
                rich_help_panel=PRIOR_PANEL,
            ),
        ] = False,
        resume: Annotated[
            bool,
            typer.Option(
                "--resume",
                help="Reuse trained priors and continue from checkpoints in work-dir.",
                rich_help_panel=IO_PANEL,
            ),
        ] = False,
        voxel_size: VoxelOpt = None,
        channel: ChannelOpt = None,
        dtype: DtypeOpt = None,
        force: ForceOpt = False,
        report: Annotated[
            str | None,
            typer.Option(help="Also write an HTML report (index.html) to this folder.", rich_help_panel=IO_PANEL),
        ] = None,
        blocks: BlocksOpt = None,
    ) -> None:
        """The whole job: train the priors on the input's own XY slices, then restore it (with --blocks, a
        volume larger than memory: priors trained on tiles read across it, restored block by block)."""
        if blocks is not None and report:
            raise AxialSRError("--report needs the whole volume in memory: run without --blocks, or drop --report")
        check_restore_outputs(out, force, input_spec, dtype, uncertainty)
        zarr = zarr_options(block_options)
        if report:
            check_report_dir(Path(report), force)
        volume = open_input(input_spec, voxel_size, channel, whole=blocks is None)
        found = api.bad_sections_for(volume, acquisition_options["bad_sections"])
        acquisition = acquisition_from(volume, acquisition_options, found)
        config = api.RunConfig(
            method=method,
            lateral_prior=LATERAL_PRIOR_GROUP.build(lateral_prior_options, preset=prior_preset),
            diffusion_prior=DIFFUSION_PRIOR_GROUP.build(diffusion_prior_options, preset=prior_preset),
            with_diffusion=with_diffusion,
            restore=restore_config(
                method_settings, consistency=consistency, projection=projection, uncertainty=uncertainty
            ),
        )
        work = Path(work_dir) if work_dir else Path(out).with_name(Path(out).name.split(".")[0] + ".axialsr")
        work.mkdir(parents=True, exist_ok=True)
        runtime = runtime_from(runtime_options)
        record = {"work": work, "source": input_spec, "out": out, "method": method, "acquisition": acquisition}
        block_config = None
        if blocks is not None:
            shape = parse_shape(blocks, minimum=1)
            block_config = RUN_BLOCK_GROUP.build(block_options, blocks=shape, work_dir=str(work / "parts"))
        result = api.run(
            volume,
            config=config,
            work_dir=work,
            acquisition=acquisition,
            resume=resume,
            dtype=dtype,
            runtime=runtime,
            blocks=block_config,
            out=out,
            force=force,
        )
        if result.blocks is not None:
            say_blockwise(result.blocks, out, acquisition)
            write_run_json(**record, found=found, seconds=result.blocks.seconds, rms=None, priors=result.priors)
            return
        info = result.restoration
        said = f"{method}, s={acquisition.factor:g}"
        write_restored(out, result.volume, info, zarr=zarr, force=force, said=said, after=" after training")
        write_run_json(**record, found=found, seconds=info.seconds, rms=info.measurement_rms, priors=result.priors)
        if report:
            from axialsr.frontends.report import run_report

            page = run_report(
                report,
                volume,
                result,
                acquisition=acquisition,
                config=config,
                runtime=runtime,
                source=input_spec,
                output=out,
            )
            typer.echo(f"wrote the report {page}")

    return run


def open_input(input_spec: str, voxel_size: str | None, channel: int | None, *, whole: bool):
    """The input: read whole, or (`whole` False: a blockwise job) opened to be read region by region."""
    if whole:
        return read(input_spec, voxel_size, channel)
    size, unit = parse_voxel_size(voxel_size)
    return api.open_source(input_spec, size, channel, unit)


def write_restored(out: str, volume: api.Volume, info, *, zarr: dict, force: bool, said: str, after: str = "") -> None:
    """Write a restoration (and its uncertainty beside it, when it has one), with one line each."""
    api.write_volume(out, volume.data, volume.voxel_size, volume.unit, force=force, **zarr)
    if info.uncertainty is not None:
        spread = write_uncertainty(out, volume, info.uncertainty, force, zarr)
        typer.echo(f"wrote {spread}: uncertainty (1 sigma)")
    typer.echo(
        f"wrote {out}: {volume.data.shape} {volume.data.dtype}, {voxel_text(volume.voxel_size, volume.unit)} "
        f"({said}, {info.seconds:.0f} s{after})"
    )


def write_run_json(
    *, work: Path, source: str, out: str, method: str, acquisition, found, seconds: float, rms: float | None, priors=()
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
