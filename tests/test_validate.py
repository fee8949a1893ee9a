"""validate: its ranking of methods agrees with the ranking against ground truth; the HTML reports of
validate and run render in headless Chromium with every image loaded."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from test_cli import run_cli

from axialsr import api
from axialsr.errors import AxialSRError
from axialsr.reconstruct import ReconstructionConfig
from axialsr.validate import ValidationConfig, ranking, validate

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
IMAGE_CHECK = (
    '<script>window.addEventListener("load", () => { document.body.setAttribute("data-images", '
    '[...document.images].map(i => (i.complete && i.naturalWidth > 0) ? 1 : 0).join("")); });</script>'
)


@pytest.fixture(scope="module")
def em_case():
    gt = api.synth("em", (48, 64, 64), seed=1, dtype="float32")
    return gt, api.simulate_acquisition(gt, 2.0)


def test_lateral_validation_ranks_interpolations_as_the_ground_truth_does(em_case):
    gt, lr = em_case
    methods = ("nearest", "linear", "cubic")
    truth = [
        {"method": m, "psnr": api.evaluate(api.interpolation_baseline(lr, m, 2.0), gt)["3d"]["psnr"]} for m in methods
    ]
    result = validate(lr, 2.0, None, ValidationConfig(methods=methods), progress=False)
    assert ranking(result.rows) == ranking(truth) == ["cubic", "linear", "nearest"]
    assert result.truth.shape == result.restored["cubic"].shape == (24, 64, 64)


def test_holdout_scores_the_held_out_slices(em_case):
    _, lr = em_case
    cfg = ValidationConfig(scheme="holdout", holdout=3, methods=("nearest", "cubic"))
    result = validate(lr, 2.0, None, cfg, progress=False)
    assert result.truth.shape == (16, 64, 64)  # 8 groups of 3, two held out per group
    assert all(10 < r["psnr"] < 60 for r in result.rows)
    with pytest.raises(AxialSRError, match="odd"):
        validate(lr, 2.0, None, ValidationConfig(scheme="holdout", holdout=4), progress=False)
    with pytest.raises(AxialSRError, match="needs --prior"):
        validate(lr, 2.0, None, ValidationConfig(methods=("cubic", "inr-sds")), progress=False)


def test_inr_is_validated_with_its_loss_history(em_case):
    _, lr = em_case
    cfg = ValidationConfig(methods=("cubic", "inr"), recon=ReconstructionConfig(iters=30, device="cpu"))
    result = validate(lr, 2.0, None, cfg, progress=False)
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


def test_cli_validate_writes_json_and_a_report(monkeypatch, capsys, tmp_path, measured_file):
    prior = tmp_path / "prior"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
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
    code, out, err = run_cli(
        monkeypatch,
        capsys,
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
    for image in ("views.png", "loss_curves.png", "prior_samples.png", "prior_loss.png"):
        assert f'src="{image}"' in text and (tmp_path / "report" / image).stat().st_size > 1000
    assert "inr-sds" in text and "torch" in text  # the table and the library versions
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it): the report was not rendered")
    assert render_images(page) == "1111"


def test_cli_run_report_renders(monkeypatch, capsys, tmp_path, measured_file):
    report = tmp_path / "report"
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "run",
        measured_file,
        "--out",
        tmp_path / "iso.tif",
        "--prior-preset",
        "tiny",
        "--prior-steps",
        "20",
        "--iters",
        "20",
        "--device",
        "cpu",
        "--report",
        report,
    )
    assert code == 0, err
    page = report / "index.html"
    assert page.is_file() and (tmp_path / "iso.tif").is_file()
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (.ci/run installs it): the report was not rendered")
    assert render_images(page) == "1111"


def test_cli_validate_never_overwrites_without_force(monkeypatch, capsys, tmp_path, measured_file):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("an earlier report")
    (tmp_path / "v.json").write_text("earlier scores")
    base = ["validate", measured_file, "--methods", "cubic"]
    code, _, err = run_cli(monkeypatch, capsys, *base, "--report", tmp_path / "report")
    assert code == 2 and "--force" in err and "Traceback" not in err
    code, _, err = run_cli(monkeypatch, capsys, *base, "--json", tmp_path / "v.json")
    assert code == 2 and "--force" in err
    assert (tmp_path / "v.json").read_text() == "earlier scores"
    assert (tmp_path / "report" / "index.html").read_text() == "an earlier report"
    code, _, err = run_cli(monkeypatch, capsys, *base, "--json", tmp_path / "v.json", "--force")
    assert code == 0, err
    assert json.loads((tmp_path / "v.json").read_text())["rows"][0]["method"] == "cubic"
