"""`axialsr validate`: score methods on the volume itself, without ground truth (made by a function, so
that its options come from the settings sections registered when the command line is built)."""

import json
from pathlib import Path
from typing import Annotated

import typer

from axialsr import api
from axialsr.frontends.cli.shared import (
    ACQUISITION_GROUP,
    IO_PANEL,
    LATERAL_PRIOR_GROUP,
    METHOD_PANEL,
    RUNTIME_GROUP,
    ChannelOpt,
    ConsistencyOpt,
    ForceOpt,
    InputArg,
    PriorsOpt,
    ProjectionOpt,
    VoxelOpt,
    acquisition_from,
    check_plain_output,
    check_report_dir,
    method_groups,
    read,
    restore_config,
    runtime_from,
)
from axialsr.frontends.options import with_options

SCHEME_HELP = (
    "lateral: degrade Y at the real factor and restore it (the measured XY slices are the truth); holdout: keep "
    "one slice in --holdout K, restore at K times the factor, score the others; sections (serial sections): "
    "average adjacent pairs of sections, restore at twice the factor (the regressor trained on the pairs), score "
    "each restored half against the real section."
)


def validate_command():
    """`axialsr validate`."""

    @with_options(ACQUISITION_GROUP, *method_groups(), LATERAL_PRIOR_GROUP, RUNTIME_GROUP, gather="method_settings")
    def validate(
        acquisition_options: dict,
        method_settings: dict,
        lateral_prior_options: dict,
        runtime_options: dict,
        input_spec: InputArg,
        scheme: Annotated[str, typer.Option(help=SCHEME_HELP, rich_help_panel=METHOD_PANEL)] = "lateral",
        holdout: Annotated[
            int, typer.Option(help="K for --scheme holdout (odd, >= 3).", rich_help_panel=METHOD_PANEL)
        ] = 3,
        methods: Annotated[
            str | None,
            typer.Option(
                help="Comma list of methods (default: linear, cubic and what run does, lateral, its regressor "
                "trained here; with --prior, every method the priors allow; holdout: those, without a regressor).",
                rich_help_panel=METHOD_PANEL,
            ),
        ] = None,
        prior: PriorsOpt = None,
        axial_blur: Annotated[
            float | None,
            typer.Option(
                help="Extra axial blur (sigma, px) of the truth; default: estimated from the data (0: off).",
                rich_help_panel=METHOD_PANEL,
            ),
        ] = None,
        consistency: ConsistencyOpt = None,
        projection: ProjectionOpt = api.DEFAULT_PROJECTION,
        json_out: Annotated[
            str | None, typer.Option("--json", help="Also write the rows as JSON.", rich_help_panel=IO_PANEL)
        ] = None,
        report: Annotated[
            str | None,
            typer.Option(help="Write an HTML report (index.html) to this folder.", rich_help_panel=IO_PANEL),
        ] = None,
        voxel_size: VoxelOpt = None,
        channel: ChannelOpt = None,
        force: ForceOpt = False,
    ) -> None:
        """Score methods on this volume without ground truth, side by side, to pick one and its settings."""
        from axialsr.frontends.tables import print_table
        from axialsr.settings import ValidationConfig

        volume = read(input_spec, voxel_size, channel)
        runtime = runtime_from(runtime_options)
        priors = api.load_priors(prior, runtime.device)
        if methods:
            chosen = tuple(m.strip() for m in methods.split(","))
        elif scheme != "holdout" and not priors:
            chosen = ("linear", "cubic", api.DEFAULT_METHOD)  # what `run` does: its regressor is trained here
        else:
            chosen = api.validation_methods(priors)
        config = ValidationConfig(
            scheme=scheme,
            holdout=holdout,
            methods=chosen,
            restore=restore_config(method_settings, consistency=consistency, projection=projection),
            axial_blur=axial_blur,
            lateral_prior=LATERAL_PRIOR_GROUP.build(lateral_prior_options),
        )
        if json_out:
            check_plain_output(Path(json_out), force)
        if report:
            check_report_dir(Path(report), force)
        acquisition = acquisition_from(volume, acquisition_options)
        result = api.validate(volume, acquisition=acquisition, priors=priors, config=config, runtime=runtime)
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

            page = validation_report(
                report,
                result,
                volume=volume,
                acquisition=acquisition,
                config=config,
                runtime=runtime,
                priors=priors,
                source=input_spec,
                prior_dirs=prior or (),
            )
            typer.echo(f"wrote the report {page}")

    return validate
