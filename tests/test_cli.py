"""The command line: every command's help, a pipeline through the commands, clean errors, and options
for every config field."""

import json
from dataclasses import fields

import numpy as np
import pytest

from axialsr.io import read_volume, write_volume

COMMANDS = [
    "synth",
    "simulate",
    "baseline",
    "evaluate",
    "figure",
    "train-prior",
    "sample-prior",
    "export-model",
    "reconstruct",
    "run",
    "validate",
    "demo",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_that_names_its_options(cli, command):
    code, out, _ = cli(command, "--help")
    assert code == 0 and f"Usage: axialsr {command}" in out
    assert "--help" in out and ("--out" in out or command in ("evaluate", "demo", "validate"))
    assert "Annotated[" not in out  # options are rendered with their types, not their declarations


def _options_of(command: str) -> set[str]:
    import typer.main

    from axialsr.frontends.cli import app

    group = typer.main.get_command(app)
    return {name for param in group.commands[command].params for name in param.opts + param.secondary_opts}


def test_every_user_facing_config_field_has_an_option():
    """Options come from the config dataclasses: a field is settable on the command line unless its
    metadata marks it internal (or the command sets it from a shared option such as --seed)."""
    from axialsr.methods.inr import FieldConfig, ReconstructionConfig
    from axialsr.methods.lateral import LateralConfig
    from axialsr.methods.lateral_diffusion import RefineConfig
    from axialsr.methods.slicewise import SlicewiseConfig
    from axialsr.settings import PriorConfig, Runtime

    reconstruct, train = _options_of("reconstruct"), _options_of("train-prior")
    for cls, options, prefix in (
        (ReconstructionConfig, reconstruct, ""),
        (FieldConfig, reconstruct, ""),
        (SlicewiseConfig, reconstruct, "slicewise-"),
        (LateralConfig, reconstruct, "lateral-"),
        (RefineConfig, reconstruct, "refine-"),
        (RefineConfig, _options_of("run"), "refine-"),
        (Runtime, reconstruct, ""),
        (Runtime, train, ""),
        (Runtime, _options_of("validate"), ""),
        (PriorConfig, train, ""),
        (PriorConfig, _options_of("run"), "lateral-prior-"),
        (PriorConfig, _options_of("run"), "diffusion-prior-"),
    ):
        for f in fields(cls):
            assert f.metadata.get("help"), f"{cls.__name__}.{f.name} has no help text"
            if f.metadata.get("internal") or f.metadata.get("nested"):
                continue
            if prefix and f.name in ("kind", "preset", "projection"):  # run: --prior-preset, --projection
                continue
            # run's prior options are those of their kind: no --lateral-prior-bin, no --diffusion-prior-loss
            if prefix == "lateral-prior-" and f.name in ("bin_xy", "condition_dropout"):
                assert (
                    "--lateral-prior-" + f.name.replace("_", "-") not in options
                    and "--lateral-prior-bin" not in options
                )
                continue
            if prefix == "diffusion-prior-" and f.name in (
                "consistent_loss",
                "loss",
                "slab_phase",
                "start",
                "section_pairs",
            ):
                assert "--diffusion-prior-" + f.name.replace("_", "-") not in options
                continue
            flag = f.metadata.get("flag") or f.name
            flag = flag if flag.startswith("--") else "--" + prefix + flag.replace("_", "-")
            assert flag in options, f"{cls.__name__}.{f.name} has no option {flag}"
    assert {"--seed", "--device", "--prior", "--method", "--blocks", "--consistency", "--projection"} <= reconstruct
    assert "--realism" in reconstruct and "--refine-realism" not in reconstruct
    assert {"--projection", "--prior-preset"} <= _options_of("run")


def test_simulate_baseline_evaluate_pipeline(cli, tmp_path):
    gt, lr = tmp_path / "gt.tif", tmp_path / "lr.h5"
    assert cli("synth", "--out", gt, "--shape", "32x48x48")[0] == 0
    assert cli("simulate", gt, "--out", lr, "--factor", "4")[0] == 0
    low = read_volume(lr)
    assert low.data.shape == (8, 48, 48) and low.voxel_size == (32.0, 8.0, 8.0)
    # the factor comes from the voxel size when not given
    for method in ("cubic", "nearest"):
        assert cli("baseline", lr, "--out", tmp_path / f"{method}.zarr", "--method", method)[0] == 0
    cubic = read_volume(tmp_path / "cubic.zarr")
    assert cubic.data.shape == (32, 48, 48) and cubic.data.dtype == np.uint8
    assert cubic.voxel_size == pytest.approx((8.0, 8.0, 8.0))
    code, out, _ = cli(
        "evaluate",
        tmp_path / "cubic.zarr",
        tmp_path / "nearest.zarr",
        "--gt",
        gt,
        "--factor",
        "4",
        "--json",
        tmp_path / "s.json",
    )
    assert code == 0 and "SSIM xz" in out
    rows = json.loads((tmp_path / "s.json").read_text())
    assert rows[0]["ssim_xz"] > rows[1]["ssim_xz"] and rows[0]["ssim_yz"] > rows[1]["ssim_yz"]
    code, _, _ = cli("evaluate", gt, "--gt", gt, "--json", tmp_path / "self.json")
    self_scores = json.loads((tmp_path / "self.json").read_text())[0]
    assert self_scores["psnr_3d"] == 100.0 and self_scores["ssim_3d"] == pytest.approx(1.0)
    assert cli("figure", gt, tmp_path / "cubic.zarr", "--out", tmp_path / "v.png")[0] == 0
    assert (tmp_path / "v.png").read_bytes()[:4] == b"\x89PNG"


def test_non_integer_factor(cli, tmp_path):
    write_volume(tmp_path / "gt.npy", np.random.default_rng(0).random((25, 8, 8)).astype(np.float32))
    assert cli("simulate", tmp_path / "gt.npy", "--out", tmp_path / "lr.npy", "--factor", "2.5")[0] == 0
    assert read_volume(tmp_path / "lr.npy").data.shape == (10, 8, 8)
    assert cli("baseline", tmp_path / "lr.npy", "--out", tmp_path / "up.tif", "--factor", "2.5")[0] == 0
    assert read_volume(tmp_path / "up.tif").data.shape == (25, 8, 8)


@pytest.fixture
def lr_file(tmp_path):
    path = tmp_path / "lr.tif"
    write_volume(path, (np.random.default_rng(0).random((6, 16, 16)) * 255).astype(np.uint8), (40.0, 10.0, 10.0))
    return path


def _assert_clean_error(code, err, pattern):
    assert code == 2
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith("axialsr: error:") and pattern in lines[0], err


def test_bad_inputs_give_one_line_and_exit_2(cli, tmp_path, lr_file):
    out = tmp_path / "o.tif"
    cases = [
        (("baseline", tmp_path / "missing.tif", "--out", out), "not found"),
        (("simulate", lr_file, "--out", out, "--factor", "0.5"), "factor"),
        (("baseline", lr_file, "--out", lr_file), "overwrite the input"),
        (("baseline", lr_file, "--out", tmp_path / "nodir" / "o.tif"), "does not exist"),
        (("baseline", str(lr_file.with_suffix(".h5")) + ":nope", "--out", out), "not found"),
        (("baseline", lr_file, "--out", out, "--factor", "0.9"), "factor"),
        (("reconstruct", lr_file, "--out", out, "--prior", tmp_path), "not a prior folder"),
        (("reconstruct", lr_file, "--out", out, "--method", "magic"), "unknown method"),
        (("reconstruct", lr_file, "--out", out), "needs a lateral prior"),
        (("reconstruct", lr_file, "--out", out, "--method", "inr", "--iters", "0"), "iters must be >= 1"),
        (("baseline", lr_file, "--out", tmp_path / "o.xyz"), "unknown file format"),
    ]
    for args, pattern in cases:
        code, _, err = cli(*args)
        _assert_clean_error(code, err, pattern)
    assert not out.exists()


def test_2d_nan_and_missing_key_inputs(cli, tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros((16, 16), np.uint8))
    nan = np.zeros((4, 8, 8), np.float32)
    nan[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    write_volume(str(tmp_path / "d.h5") + ":volumes/raw", np.zeros((4, 8, 8), np.uint8))
    for src, pattern in [
        (tmp_path / "flat.npy", "3D"),
        (tmp_path / "nan.npy", "NaN"),
        (str(tmp_path / "d.h5") + ":volumes/nope", "no dataset 'volumes/nope'"),
    ]:
        code, _, err = cli("baseline", src, "--out", tmp_path / "o.tif", "--factor", "2")
        _assert_clean_error(code, err, pattern)


def test_existing_output_needs_force(cli, tmp_path, lr_file):
    out = tmp_path / "o.tif"
    assert cli("baseline", lr_file, "--out", out)[0] == 0
    code, _, err = cli("baseline", lr_file, "--out", out)
    _assert_clean_error(code, err, "--force")
    assert cli("baseline", lr_file, "--out", out, "--force")[0] == 0


def test_train_prior_and_reconstruct_from_the_cli(cli, tmp_path, lr_file):
    prior = tmp_path / "prior"
    code, _, err = cli("train-prior", lr_file, "--out", prior, "--preset", "tiny", "--steps", "3", "--device", "cpu")
    assert code == 0, err
    code, out, err = cli(  # no --method: a diffusion prior serves inr-sds
        "reconstruct",
        lr_file,
        "--out",
        tmp_path / "iso.tif",
        "--prior",
        prior,
        "--iters",
        "4",
        "--sds-planes",
        "xz",
        "--device",
        "cpu",
    )
    assert code == 0 and "method: inr-sds" in out, err
    iso = read_volume(tmp_path / "iso.tif")
    assert iso.data.shape == (24, 16, 16) and iso.data.dtype == np.uint8
    assert iso.voxel_size == pytest.approx((10.0, 10.0, 10.0))
    code, _, err = cli(
        "sample-prior",
        prior,
        "--out",
        tmp_path / "s.png",
        "--n",
        "2",
        "--steps",
        "2",
        "--real",
        lr_file,
        "--device",
        "cpu",
    )
    assert code == 0 and (tmp_path / "s.png").exists()


def test_lateral_prior_from_the_cli(cli, tmp_path, lr_file):
    prior = tmp_path / "lateral"
    args = ("train-prior", lr_file, "--out", prior, "--kind", "lateral", "--preset", "tiny", "--steps", "3")
    code, out, err = cli(*args, "--device", "cpu")
    assert code == 0 and "lateral prior" in out and "axial blur" in out, err
    code, out, err = cli("reconstruct", lr_file, "--out", tmp_path / "iso.tif", "--prior", prior, "--device", "cpu")
    assert code == 0 and "method: lateral" in out, err
    code, _, err = cli("reconstruct", lr_file, "--out", tmp_path / "x.tif", "--prior", prior, "--factor", "2")
    assert code == 2 and "trained for factor 4" in err
    code, _, err = cli("sample-prior", prior, "--out", tmp_path / "l.png", "--real", lr_file, "--device", "cpu")
    assert code == 0 and (tmp_path / "l.png").stat().st_size > 1000, err


def test_demo_runs_end_to_end_on_a_tiny_budget(tmp_path):
    from axialsr.frontends.demo import DemoBudget, run_demo
    from axialsr.methods import methods as registered
    from axialsr.settings import Runtime

    rows = run_demo(
        tmp_path, runtime=Runtime(device="cpu", progress=False), budget=DemoBudget((32, 64, 64), 20, 20, 10, 3)
    )
    methods = [r["method"] for r in rows]
    assert methods == ["nearest", "linear", "cubic", "inr", "lateral", "slicewise", "inr-sds"]
    assert set(methods) <= set(registered())  # every row is a registered method, under its registry name
    scores = {r["method"]: r["psnr_3d"] for r in rows}
    assert scores["cubic"] > scores["nearest"]
    for name in ("views.png", "prior_lateral.png", "prior_diffusion.png", "scores.json", "inr-sds.tif"):
        assert (tmp_path / name).stat().st_size > 0


def test_version_is_printed(cli):
    from axialsr import __version__

    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"axialsr {__version__}"


def test_help_groups_options_under_headings_and_every_help_is_true_for_its_option(cli):
    """`run --help` reads as sections (input and output first, how it runs last), and a prior option's help
    speaks of its own prior's kind, never of the other's."""
    code, out, _ = cli("run", "--help")
    headings = [line.rstrip(":") for line in out.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert code == 0 and len(headings) >= 6, headings
    assert headings[0] == "Input and output" and headings[-2:] == [
        "How it runs (not what it computes)",
        "Other options",
    ]
    assert {"Acquisition (how z was measured)", "Method", "Prior training"} <= set(headings)
    options = _options_help("run")
    lateral = {o: h for o, h in options.items() if o.startswith("--lateral-prior-")}
    diffusion = {o: h for o, h in options.items() if o.startswith("--diffusion-prior-")}
    assert lateral and diffusion
    assert not [o for o, h in lateral.items() if "diffusion kind" in h or "conditional kind" in h]
    assert not [o for o, h in diffusion.items() if "Lateral kind" in h or "Pair kinds" in h and "conditional" in h]
    code, out, _ = cli("--help")
    commands = [line.split()[0] for line in out.split("Commands:")[1].splitlines() if line.strip()]
    assert commands[:2] == ["run", "validate"]


def _options_help(command: str) -> dict[str, str]:
    import typer.main

    from axialsr.frontends.cli import app

    group = typer.main.get_command(app)
    return {p.opts[0]: p.help or "" for p in group.commands[command].params if p.opts[0].startswith("--")}
