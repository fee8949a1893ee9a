"""A self-contained HTML report a user can keep with a lab notebook: tables, figures (PNG files beside
the page), loss curves, and every parameter with the library versions."""

from __future__ import annotations

import html
import json
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from axialsr.frontends.tables import format_value, header
from axialsr.io import write_text_atomic

REPORT_FILE = "index.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.8em 0; } th, td { padding: 0.3em 0.8em; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
tr.best td { font-weight: bold; } img { max-width: 100%; border: 1px solid #ddd; margin: 0.5em 0; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""


@dataclass
class Section:
    """One part of the report: a title, a paragraph, an optional table (rows and their columns; the first
    row whose `best_key` is highest is set in bold), images (file names in the report folder) and a
    parameters dictionary shown as JSON."""

    title: str
    text: str = ""
    rows: Sequence[dict] = ()
    columns: Sequence[str] = ()
    best_key: str | None = None
    images: Sequence[str] = ()
    params: dict | None = None


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries axialsr's numbers depend on."""
    import importlib.metadata as md

    versions = {"python": platform.python_version(), "platform": platform.platform()}
    for name in ("axialsr", "torch", "diffusers", "numpy", "scipy", "scikit-image", "tifffile", "zarr", "dask"):
        try:
            versions[name] = md.version(name)
        except md.PackageNotFoundError:
            continue
    return versions


def _table(section: Section) -> str:
    best = None
    if section.best_key and section.rows:
        best = max(range(len(section.rows)), key=lambda i: section.rows[i].get(section.best_key, float("-inf")))
    head = "".join(f"<th>{html.escape(c if c == 'method' else header(c))}</th>" for c in section.columns)
    body = []
    for i, row in enumerate(section.rows):
        cells = "".join(f"<td>{html.escape(format_value(row.get(c, float('nan'))))}</td>" for c in section.columns)
        attrs = ' class="best"' if i == best else ""
        body.append(f"<tr{attrs}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def write_report(folder: str | os.PathLike, title: str, sections: Sequence[Section]) -> Path:
    """Write `folder`/index.html (atomically) from `sections`, plus a section with the library versions.
    Images named by the sections must already be in `folder`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>Written by axialsr on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.</p>",
    ]
    for section in [*sections, Section("Library versions", params=library_versions())]:
        parts.append(f"<section><h2>{html.escape(section.title)}</h2>")
        if section.text:
            parts.append(f"<p>{html.escape(section.text)}</p>")
        if section.rows:
            parts.append(_table(section))
        for image in section.images:
            if not (folder / image).is_file():
                raise FileNotFoundError(f"report image {image} is missing from {folder}")
            parts.append(f'<figure><img src="{html.escape(image)}" alt="{html.escape(image)}"></figure>')
        if section.params is not None:
            text = json.dumps(section.params, indent=2, default=str, ensure_ascii=False)
            parts.append(f"<pre>{html.escape(text)}</pre>")
        parts.append("</section>")
    parts.append("</body></html>\n")
    return write_text_atomic(folder / REPORT_FILE, "\n".join(parts))


def _prior_section(prior, folder: Path, real_volume, seed: int, prior_dir=None) -> Section:
    from axialsr.frontends.figures import loss_curves, prior_samples_figure

    images = []
    name = f"prior_{prior.kind}.png"
    prior_samples_figure(
        prior, folder / name, n=16 if prior.kind == "diffusion" else 8, steps=25, seed=seed, real_volume=real_volume
    )
    images.append(name)
    log = None if prior_dir is None else Path(prior_dir) / "loss.jsonl"
    curve = [json.loads(line) for line in log.read_text().splitlines() if line] if log and log.is_file() else []
    if curve:
        loss_curves(
            {f"{prior.kind} prior training": curve},
            folder / f"prior_{prior.kind}_loss.png",
            x_key="step",
            keys=("loss",),
        )
        images.append(f"prior_{prior.kind}_loss.png")
    text = {
        "diffusion": "DDIM samples of the prior (top) beside real XY patches of the input (bottom): the prior "
        "should produce patches a microscopist would take for real ones.",
        "conditional": "Degraded XY patches (top), the prior's samples given them (middle) and the measured "
        "patches (bottom): samples should look like the measured ones.",
        "lateral": "Degraded XY patches (top), the lateral regressor's restorations (middle) and the measured "
        "patches (bottom).",
    }[prior.kind]
    return Section(f"Prior ({prior.kind})", text, images=images, params=dict(prior.meta))


def validation_report(
    folder: str | os.PathLike,
    result,
    *,
    volume,
    acquisition,
    config,
    runtime,
    priors=(),
    source: str = "",
    prior_dirs=(),
) -> Path:
    """The report of `axialsr validate`: the table, orthogonal views of the truth and every method's
    restoration, the INR loss curves, the priors' samples, and every parameter."""
    from dataclasses import asdict

    from axialsr.frontends.figures import loss_curves, orthogonal_views

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    orthogonal_views({"truth": result.truth, **result.restored}, folder / "views.png")
    what = (
        "Y was degraded at the real factor and restored; XY views compare the restored planes with the measured ones."
        if result.scheme == "lateral"
        else "One measured slice in K was kept; views show the restorations at the K-times coarser factor."
    )
    intro = (
        "Scores against a truth the measured volume itself provides (no isotropic ground truth needed); "
        "PSNR in dB and SSIM. Pick the method (and settings) with the best score for this volume."
    )
    if result.note:
        intro += " Note: " + result.note + "."
    sections = [
        Section(
            f"Validation ({result.scheme} scheme), factor {acquisition.factor:g}",
            intro,
            rows=result.rows,
            columns=("method", "psnr", "ssim", "seconds"),
            best_key="psnr",
        ),
        Section("Orthogonal views", what, images=["views.png"]),
    ]
    if result.histories:
        loss_curves(result.histories, folder / "loss_curves.png")
        sections.append(Section("Reconstruction loss curves", images=["loss_curves.png"]))
    dirs = list(prior_dirs) + [None] * len(priors)
    for prior, prior_dir in zip(priors, dirs, strict=False):
        sections.append(_prior_section(prior, folder, volume.data, runtime.seed, prior_dir))
    params = {
        "input": source,
        "shape": list(volume.data.shape),
        "voxel_size": volume.voxel_size,
        "acquisition": asdict(acquisition),
        "extra_axial_blur_px": result.axial_blur,
    }
    params.update(json.loads(json.dumps(asdict(config), default=str)))
    params["runtime"] = asdict(runtime)
    sections.append(Section("Parameters", params=params))
    return write_report(folder, "axialsr validation report", sections)


def run_report(
    folder: str | os.PathLike, volume, run_result, *, acquisition, config, runtime, source: str, output: str
) -> Path:
    """The report of `axialsr run`: input and result side by side (with cubic interpolation for reference),
    the reconstruction's loss curves (INR methods), each prior's samples and every parameter."""
    from dataclasses import asdict

    from axialsr.frontends.figures import loss_curves, orthogonal_views
    from axialsr.pipeline.restore import restore_array

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    info = run_result.restoration
    cubic = restore_array(volume.data, "cubic", acquisition, runtime=runtime.quiet()).volume
    orthogonal_views(
        {"cubic interpolation": cubic, f"axialsr ({info.method})": run_result.volume.data}, folder / "views.png"
    )
    sections = [
        Section(
            "Result",
            f"{source} {volume.data.shape} -> {output} {run_result.volume.data.shape}, factor {acquisition.factor:g}, "
            f"method {info.method}, restoration {info.seconds:.0f} s; the result reproduces the measured slices "
            f"to {info.measurement_rms:.3g} (rms, input units).",
            images=["views.png"],
        )
    ]
    if acquisition.missing:
        names = ", ".join(str(k) for k in acquisition.missing)
        sections.append(
            Section(
                "Missing and damaged sections",
                f"Sections {names} (from 0) carry no information: they were left out of the training and of the "
                "projection onto the measurements, and restored from their neighbours.",
            )
        )
    if info.uncertainty is not None:
        spread = np.asarray(info.uncertainty, np.float32)
        orthogonal_views(
            {"uncertainty (1 sigma)": spread},
            folder / "uncertainty.png",
            intensity_range=(0.0, float(np.percentile(spread, 99.5)) or 1.0),
        )
        sections.append(
            Section(
                "Uncertainty",
                f"One standard deviation of the error per voxel, in input units (median {np.median(spread):.3g}, "
                f"99th percentile {np.percentile(spread, 99):.3g}): the calibrated spread of the restoration's "
                "views. Bright where they disagree; it does not see errors all views share.",
                images=["uncertainty.png"],
            )
        )
    if info.history:
        loss_curves({"reconstruction": info.history}, folder / "loss_curves.png")
        sections.append(Section("Reconstruction loss curves", images=["loss_curves.png"]))
    for prior, prior_dir in zip(run_result.priors, run_result.prior_dirs, strict=False):
        sections.append(_prior_section(prior, folder, volume.data, runtime.seed, prior_dir))
    params = {
        "input": source,
        "output": output,
        "voxel_size_in": volume.voxel_size,
        "voxel_size_out": run_result.volume.voxel_size,
        "acquisition": asdict(acquisition),
        "run": json.loads(json.dumps(asdict(config), default=str)),
        "runtime": asdict(runtime),
    }
    sections.append(Section("Parameters", params=params))
    return write_report(folder, "axialsr run report", sections)
