"""validate: its ranking of methods agrees with the ranking against ground truth; the HTML reports of
validate and run render in headless Chromium with every image loaded."""

import json
import re
import subprocess

import numpy as np
import pytest
from conftest import CHROMIUM, needs_chromium
from scipy import ndimage

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.methods.inr import ReconstructionConfig
from axialsr.operators.acquisition import Acquisition
from axialsr.pipeline.validate import ranking, validate
from axialsr.settings import RestoreConfig, Runtime, ValidationConfig

QUIET = Runtime(device="cpu", progress=False)

S2 = Acquisition(2.0)
IMAGE_CHECK = (
    '<script>window.addEventListener("load", () => { document.body.setAttribute("data-images", '
    '[...document.images].map(i => (i.complete && i.naturalWidth > 0) ? 1 : 0).join("")); });</script>'
)


@pytest.fixture(scope="module")
def em_case():
    gt = api.synth("em", (48, 64, 64), seed=1, dtype="float32")
    return gt, api.simulate_acquisition(gt, S2)


def test_lateral_validation_ranks_interpolations_as_the_ground_truth_does(em_case):
    gt, lr = em_case
    methods = ("nearest", "linear", "cubic")
    truth = [
        {"method": m, "psnr": api.evaluate(api.restore(lr, m, acquisition=S2)[0], gt)["3d"]["psnr"]} for m in methods
    ]
    result = validate(lr.data, S2, None, ValidationConfig(methods=methods, axial_blur=0), runtime=QUIET)
    assert ranking(result.rows) == ranking(truth) == ["cubic", "linear", "nearest"]
    assert result.truth.shape == result.restored["cubic"].shape == (24, 64, 64)


def test_holdout_scores_the_held_out_slices(em_case):
    _, lr = em_case
    cfg = ValidationConfig(scheme="holdout", holdout=3, methods=("nearest", "cubic"))
    result = validate(lr.data, S2, None, cfg, runtime=QUIET)
    assert result.truth.shape == (16, 64, 64)  # 8 groups of 3, two held out per group
    assert all(10 < r["psnr"] < 60 for r in result.rows)
    with pytest.raises(AxialSRError, match="odd"):
        validate(lr.data, S2, None, ValidationConfig(scheme="holdout", holdout=4), runtime=QUIET)
    with pytest.raises(AxialSRError, match="needs a diffusion or conditional prior"):
        validate(lr.data, S2, None, ValidationConfig(methods=("cubic", "inr-sds")), runtime=QUIET)


def test_inr_is_validated_with_its_loss_history(em_case):
    _, lr = em_case
    cfg = ValidationConfig(
        methods=("cubic", "inr"), restore=RestoreConfig(methods={"recon": ReconstructionConfig(iters=30)})
    )
    result = validate(lr.data, S2, None, cfg, runtime=QUIET)
    assert len(result.histories["inr"]) == 30 and "fidelity" in result.histories["inr"][0]
    assert np.isfinite(result.restored["inr"]).all()


def render_images(page) -> str:
    """Load `page` in headless Chromium; returns one '1' per image that loaded, '0' per one that did not."""
    check = page.with_name("render_check.html")
    check.write_text(page.read_text().replace("</body>", IMAGE_CHECK + "</body>"))
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=5000",
            "--dump-dom",
            check.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "Uncaught" not in done.stderr
    found = re.search(r'data-images="([01]*)"', done.stdout)
    assert found, done.stdout[-500:] + done.stderr[-500:]
    return found.group(1)


@pytest.fixture(scope="module")
def measured_file(tmp_path_factory, em_case):
    from axialsr.io import write_volume

    _, lr = em_case
    path = tmp_path_factory.mktemp("validate") / "lr.tif"
    write_volume(path, lr.data, lr.voxel_size)
    return path


def test_cli_validate_writes_json_and_a_report(cli, tmp_path, measured_file):
    prior = tmp_path / "prior"
    code, _, err = cli(
        "train-prior",
        measured_file,
        "--out",
        prior,
        "--preset",
        "tiny",
        "--steps",
        "30",
        "--device",
        "cpu",
    )
    assert code == 0, err
    code, out, err = cli(
        "validate",
        measured_file,
        "--prior",
        prior,
        "--iters",
        "20",
        "--device",
        "cpu",
        "--json",
        tmp_path / "v.json",
        "--report",
        tmp_path / "report",
    )
    assert code == 0, err
    assert "best by PSNR" in out
    page = tmp_path / "report" / "index.html"
    text = page.read_text()
    for image in ("views.png", "loss_curves.png", "prior_diffusion.png", "prior_diffusion_loss.png"):
        assert f'src="{image}"' in text and (tmp_path / "report" / image).stat().st_size > 1000
    assert "inr-sds" in text and "torch" in text  # the table and the library versions


@needs_chromium
def test_validate_report_renders_every_image(cli, tmp_path, measured_file):
    code, _, err = cli(
        "validate",
        measured_file,
        "--methods",
        "cubic,inr",
        "--iters",
        "10",
        "--device",
        "cpu",
        "--report",
        tmp_path / "report",
    )
    assert code == 0, err
    assert render_images(tmp_path / "report" / "index.html") == "11"


def test_cli_run_writes_the_output_and_a_report(cli, tmp_path, measured_file):
    report = tmp_path / "report"
    code, out, err = cli(
        "run",
        measured_file,
        "--out",
        tmp_path / "iso.tif",
        "--prior-preset",
        "tiny",
        "--lateral-prior-steps",
        "5",
        "--device",
        "cpu",
        "--uncertainty",
        "--report",
        report,
    )
    assert code == 0, err
    assert "lateral" in out and (tmp_path / "iso.axialsr" / "lateral" / "prior.json").is_file()
    page = report / "index.html"
    assert page.is_file() and (tmp_path / "iso.tif").is_file() and (tmp_path / "iso.uncertainty.tif").is_file()
    text = page.read_text()
    for image in ("views.png", "uncertainty.png", "prior_lateral.png", "prior_lateral_loss.png"):
        assert f'src="{image}"' in text


@needs_chromium
def test_run_report_renders_every_image(cli, tmp_path, measured_file):
    code, _, err = cli(
        "run",
        measured_file,
        "--out",
        tmp_path / "iso.tif",
        "--method",
        "inr",
        "--iters",
        "10",
        "--device",
        "cpu",
        "--report",
        tmp_path / "report",
    )
    assert code == 0, err
    assert render_images(tmp_path / "report" / "index.html") == "11"


def test_validate_sees_and_corrects_an_axial_blur(em_case):
    """On data blurrier along z than along y, the lateral scheme says so and blurs its truth to match."""
    gt, _ = em_case
    acq = Acquisition(2.0)
    blurred = api.Volume(ndimage.gaussian_filter1d(gt.data, 3.0, axis=0), gt.voxel_size)
    lr = api.simulate_acquisition(blurred, acq)
    result = validate(lr.data, acq, None, ValidationConfig(methods=("cubic",)), runtime=QUIET)
    assert result.axial_blur > 1.5 and "blurrier along z" in result.note
    sharp = validate(
        api.simulate_acquisition(gt, acq).data, acq, None, ValidationConfig(methods=("cubic",)), runtime=QUIET
    )
    assert sharp.axial_blur == 0.0 and sharp.note == ""


def test_cli_validate_never_overwrites_without_force(cli, tmp_path, measured_file):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("an earlier report")
    (tmp_path / "v.json").write_text("earlier scores")
    base = ["validate", measured_file, "--methods", "cubic"]
    code, _, err = cli(*base, "--report", tmp_path / "report")
    assert code == 2 and "--force" in err and "Traceback" not in err
    code, _, err = cli(*base, "--json", tmp_path / "v.json")
    assert code == 2 and "--force" in err
    assert (tmp_path / "v.json").read_text() == "earlier scores"
    assert (tmp_path / "report" / "index.html").read_text() == "an earlier report"
    code, _, err = cli(*base, "--json", tmp_path / "v.json", "--force")
    assert code == 0, err
    assert json.loads((tmp_path / "v.json").read_text())["rows"][0]["method"] == "cubic"


def test_validate_scores_what_run_does_by_default(em_case):
    from axialsr.settings import PriorConfig

    _, lr = em_case
    quick = PriorConfig(kind="lateral", preset="tiny", steps=3)
    result = validate(lr.data, S2, None, ValidationConfig(lateral_prior=quick), runtime=QUIET)
    assert [r["method"] for r in result.rows] == ["linear", "cubic", "lateral"]
    assert "trained here" in result.note and "optimistic" in result.note
    with pytest.raises(AxialSRError, match="holdout scheme restores at 3 x the factor"):
        validate(lr.data, S2, None, ValidationConfig(scheme="holdout", lateral_prior=quick), runtime=QUIET)
