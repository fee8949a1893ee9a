"""The documentation is tested: the site builds with --strict, every `axialsr` command in the README and the
docs parses with the command line's own parser (a renamed option fails here, not for a user), the tutorials
run end to end on small stand-ins for their data, and the README's headline is what the results say."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
# what makes a tutorial's commands quick on a stand-in (appended: the tutorial's own options still parse)
FAST = {
    "run": ["--prior-preset", "tiny", "--lateral-prior-steps", "3", "--device", "cpu"],
    "validate": ["--lateral-prior-steps", "3", "--iters", "5", "--device", "cpu"],
}
FAST_BLOCKS = ["--workers", "0"]  # a Dask cluster takes longer to start than these blocks take


def axialsr_commands(text: str) -> list[str]:
    """The `axialsr ...` command lines of a page's bash blocks (comments, `.venv/bin/` and the optional-part
    brackets of the usage lines removed)."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s+#", line)[0]
            for part in line.split("&&"):
                part = re.sub(r"^\.venv/bin/", "", part.strip())
                if part.startswith("axialsr"):
                    found.append(part.replace("[", "").replace("]", ""))
    return found


def parse(command: str) -> None:
    """Parse `command` with the CLI's own (click) parser, without running it; its errors propagate."""
    import typer

    from axialsr.frontends.cli import app

    group = typer.main.get_command(app)
    args = shlex.split(command)[1:]
    root = group.context_class(group, info_name="axialsr")
    if not args:
        return
    if args[0].startswith("-"):  # the app's own options (--version, --help)
        assert args[0] in {p.opts[0] for p in group.params} | {"--help"}, f"no option '{args[0]}': {command}"
        return
    sub = group.get_command(root, args[0])  # type: ignore[attr-defined]
    assert sub is not None, f"no command '{args[0]}': {command}"
    sub.make_context(args[0], args[1:], parent=root)


def test_every_axialsr_command_in_the_docs_parses():
    commands = [(page.relative_to(ROOT), c) for page in PAGES for c in axialsr_commands(page.read_text())]
    assert len(commands) > 30
    for page, command in commands:
        try:
            parse(command)
        except Exception as exc:  # the page and the command, for the one who renamed an option
            pytest.fail(f"{page}: `{command}` no longer parses: {exc}")


def test_a_renamed_option_would_fail_the_parse():
    with pytest.raises(Exception, match="No such option: --bad-section"):
        parse("axialsr run stack.tif --out iso.tif --bad-section 14")


def test_site_builds_with_strict(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    cli_page = (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()
    assert "--bad-sections" in cli_page and "axialsr run" in cli_page  # generated from the app
    api_page = (tmp_path / "site" / "reference" / "api" / "index.html").read_text()
    for name in ("restore", "run", "train_prior", "validate", "acquisition_for", "bad_sections_for"):
        assert f'id="axialsr.api.{name}"' in api_page, name
    assert (tmp_path / "site" / "figures" / "real_em_xz.png").is_file()
    import inspect
    from importlib import import_module

    for page, module in (("settings", "axialsr.settings"), ("methods", "axialsr.methods"), ("io", "axialsr.io")):
        html = (tmp_path / "site" / "reference" / page / "index.html").read_text()
        mod = import_module(module)
        exported = getattr(mod, "__all__", None)
        names = exported or [n for n in vars(mod) if not n.startswith("_")]
        for name in names:
            obj = getattr(mod, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if obj.__module__.startswith(module) if exported else obj.__module__ == module:
                assert f'id="{module}.{name}"' in html, f"{module}.{name} is missing from the reference"


def test_the_api_reference_covers_every_public_name():
    from importlib import import_module

    api, io, methods = (import_module(f"axialsr.{name}") for name in ("api", "io", "methods"))

    text = (ROOT / "docs" / "reference" / "api.md").read_text()
    listed = set(re.findall(r"^\s+- (\w+)$", text, flags=re.MULTILINE))
    elsewhere = {"Acquisition", "BadSection", "Volume", "VolumeSource", "Runtime", "MethodSpec"}
    reexports = set(io.__all__) | set(methods.__all__) | {"CancelledError", "RunInterruptedError", "step_hook"}
    reexports |= {"check_dtype", "DEFAULT_PROJECTION", "PROJECTIONS", "DEFAULT_METHOD"}
    missing = set(api.__all__) - listed - elsewhere - reexports
    assert not missing, f"public names of axialsr.api missing from docs/reference/api.md: {sorted(missing)}"
    assert "::: axialsr.io" in (ROOT / "docs" / "reference" / "io.md").read_text()
    assert "::: axialsr.methods" in (ROOT / "docs" / "reference" / "methods.md").read_text()


def test_readme_is_short_and_its_headline_comes_from_the_results():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from headline import render

    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 150
    assert render() in readme
    assert render() in (ROOT / "docs" / "index.md").read_text()
    for link in re.findall(r"\]\(((?:docs|benchmarks)/[^)#]+)", readme):
        assert (ROOT / link).exists(), link


def _run_commands(cli, page: str, until: str | None = None) -> list[str]:
    """Run the page's `axialsr` commands in order (those before the heading `until`), made quick by `FAST`."""
    text = (ROOT / "docs" / page).read_text()
    ran = []
    for command in axialsr_commands(text.split(until)[0] if until else text):
        args = shlex.split(command)[1:]
        args += FAST.get(args[0], []) + (FAST_BLOCKS if "--blocks" in args else [])
        code, out, err = cli(*args)
        assert code == 0, f"{page}: `{command}` failed: {err}"
        ran.append(args[0])
    return ran


def test_light_microscopy_tutorial_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = _run_commands(cli, "tutorials/light-microscopy.md")
    assert ran[:3] == ["synth", "simulate", "run"] and "validate" in ran
    assert Path("nuclei_iso.tif").is_file() and Path("scores.json").is_file()


def test_large_volumes_tutorial_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ran = _run_commands(cli, "tutorials/large-volumes.md", until="## How it works")
    assert ran == ["synth", "simulate", "run"]
    from axialsr import api

    iso = api.read_volume("iso.ome.zarr")
    assert iso.data.shape == (80, 128, 128) and iso.voxel_size == (8.0, 8.0, 8.0)


def test_real_em_tutorial_runs_on_a_small_stand_in(cli, tmp_path, monkeypatch):
    import tifffile

    from axialsr import api
    from axialsr.evaluation.synthetic import knock_out_sections
    from axialsr.operators.acquisition import Acquisition
    from axialsr.operators.measurement import simulate
    from axialsr.settings import PriorConfig

    monkeypatch.chdir(tmp_path)
    truth = api.synth("em", (50, 128, 128), seed=2, dtype="float32").data
    sections = (simulate(truth, Acquisition(5)) * 255).round().astype(np.uint8)
    tifffile.imwrite("cremi_image.tif", knock_out_sections(sections, {6: "blank"}))  # no voxel size, as CREMI's
    ran = _run_commands(cli, "tutorials/real-em.md")
    assert ran == ["figure", "run", "figure", "validate", "export-model"]
    assert Path("cremi_model.zip").is_file()
    record = Path("cremi_iso.axialsr/run.json").read_text()
    assert '"index": 6' in record and '"kind": "blank"' in record
    # the Python part, with a quick regressor instead of the default's 2400 steps
    quick = PriorConfig(kind="lateral", preset="tiny", steps=3)

    class QuickRunConfig(api.RunConfig):
        def __init__(self, **kwargs):
            super().__init__(**{"lateral_prior": quick, **kwargs})

    monkeypatch.setattr(api, "RunConfig", QuickRunConfig)
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "tutorials" / "real-em.md").read_text(), re.DOTALL)
    assert blocks
    namespace: dict = {}
    with pytest.warns(UserWarning, match="section 6 looks missing"):
        for block in blocks:
            exec(compile(block, "real-em.md", "exec"), namespace)
    assert namespace["acquisition"].missing == (6,)
    assert namespace["iso"].data.shape == (50, 128, 128)


CITED = re.compile(r"(-?\d+(?:\.\d+)?)<!-- ([\w\-]+\.json):(.+?) -->")


def cited_numbers(text: str) -> list[tuple[str, str, str]]:
    """(number as written, results file, key) of each number in `text` followed by its source: a comment
    `<!-- FILE.json:CASE/METHOD/FIELD -->` (rows with a case), `<!-- FILE.json:METHOD/FIELD -->`, or the
    difference of two such keys, `<!-- FILE.json:KEY - KEY -->` (written without its sign)."""
    return CITED.findall(text)


def cited_value(file: str, key: str) -> float:
    """The value of `key` in the results file; `KEY - KEY` is the difference of two values of that file."""
    if " - " in key:
        first, second = key.split(" - ")
        return cited_value(file, first) - cited_value(file, second)
    rows = json.loads((ROOT / "benchmarks" / "results" / file).read_text())["rows"]
    *where, field = key.split("/")
    names = ("case", "method")[-len(where) :] if len(where) < 2 else ("case", "method")
    (row,) = [r for r in rows if all(r.get(n) == w for n, w in zip(names, where, strict=True))]
    return float(row[field])


def test_numbers_quoted_in_prose_match_their_results():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    cited = [(page, *c) for page in pages for c in cited_numbers(page.read_text())]
    assert len(cited) >= 10
    for page, written, file, key in cited:
        decimals = len(written.split(".")[1]) if "." in written else 0
        value = cited_value(file, key)
        actual = f"{abs(value) if ' - ' in key else value:.{decimals}f}"
        assert written == actual, f"{page.name} quotes {written} for {file}:{key}, which now holds {actual}"


def test_a_changed_result_fails_its_quote():
    ((written, file, key),) = cited_numbers("lateral 34.04<!-- quality.json:confocal_x4_average/lateral/psnr_3d -->")
    assert f"{cited_value(file, key):.2f}" == written
    ((written, file, key),) = cited_numbers("CARE 99.99<!-- quality.json:confocal_x4_average/care/psnr_3d -->")
    assert f"{cited_value(file, key):.2f}" != written
    gain = "+0.61<!-- quality.json:confocal_x4_average/lateral/psnr_3d - confocal_x4_average/care/psnr_3d -->"
    ((written, file, key),) = cited_numbers(gain)
    assert f"{cited_value(file, key):.2f}" == written == "0.61"
