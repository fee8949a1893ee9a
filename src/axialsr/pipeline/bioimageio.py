"""The lateral regressor as a bioimage.io model package (spec 0.5), for Fiji/deepImageJ, ilastik or a notebook.

The package holds the network as TorchScript and as a PyTorch state dict (with `axialsr/networks.py` as its
architecture), one 2D input and output (batch, channel, y, x) whose rows are the axis to restore (z of an
XZ or YZ plane of the volume interpolated along z), the regressor's intensity normalisation as a linear
preprocessing (input units -> the network's [-1, 1]) and its inverse as postprocessing, a test input
(an XZ plane of the training volume's cubic interpolation) with the output the package must reproduce, a
cover image, the citations and a README. What the tools that run it do not do, axialsr does: restoring
both plane families with flips, averaging the views and projecting onto the measurements.

Needs the optional dependency `bioimageio.spec` (`pip install axialsr[export]`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from axialsr.errors import AxialSRError
from axialsr.io.atomic import atomic_write
from axialsr.learning.networks import size_multiple
from axialsr.learning.priors import LateralRegressor
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.interpolation import interpolate_z

CITATIONS = (
    (
        "Lee K, Jeong W-K. Reference-free axial super-resolution of 3D microscopy images using implicit neural "
        "representation with a 2D diffusion prior. MICCAI 2024.",
        "https://conferences.miccai.org/2024/",
    ),
    (
        "Weigert M, et al. Content-aware image restoration: pushing the limits of fluorescence microscopy. "
        "Nature Methods 15, 1090-1097 (2018).",
        "https://doi.org/10.1038/s41592-018-0216-7",
    ),
)


def test_plane(prior: LateralRegressor, measured: np.ndarray, acquisition: Acquisition) -> np.ndarray:
    """A test input in input units: the middle XZ plane (rows z, columns x) of the measured volume's cubic
    interpolation along z, cropped to sides the network accepts (multiples of its size step)."""
    cubic = interpolate_z(np.asarray(measured, np.float32), acquisition.factor, "cubic")
    plane = cubic[:, cubic.shape[1] // 2, :]
    step = size_multiple(prior.meta)
    rows, cols = (plane.shape[0] // step) * step, (plane.shape[1] // step) * step
    if rows < step or cols < step:
        raise AxialSRError(f"the volume is too small for a test plane (needs {step} x {step} pixels)")
    return np.ascontiguousarray(plane[:rows, :cols], np.float32)


def scaling(prior: LateralRegressor) -> tuple[float, float]:
    """(gain, offset) of the regressor's normalisation: input units -> the network's units."""
    norm = prior.meta.get("normalization")
    if not norm:
        raise AxialSRError("this prior records no intensity normalisation; retrain it with axialsr >= 0.2")
    low, high = float(norm["low"]), float(norm["high"])
    return 2.0 / (high - low), -(high + low) / (high - low)


def apply_package_model(module: torch.nn.Module, plane: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """What a bioimage.io consumer computes on a (rows, cols) plane in input units: preprocessing, the
    network, postprocessing (the inverse scaling)."""
    with torch.no_grad():
        x = torch.from_numpy(plane * gain + offset)[None, None].float()
        y = module(x)[0, 0].numpy()
    return ((y - offset) / gain).astype(np.float32)


def readme_text(prior: LateralRegressor, acquisition: Acquisition, name: str) -> str:
    psf = f", FWHM {acquisition.fwhm:g}" if acquisition.fwhm else ""
    return f"""# {name}

A lateral regressor trained by axialsr on the XY slices of one volume (lateral self-supervision, the
CARE-isotropic idea): it restores the axial resolution of an anisotropic stack measured at factor
{acquisition.factor:g} (`{acquisition.model}` acquisition model{psf}).

## How to apply it

- Interpolate the stack along z onto the isotropic grid (cubic interpolation, factor {acquisition.factor:g}:
  `round(Z x {acquisition.factor:g})` slices), then take its XZ planes (and/or YZ planes) as 2D images whose
  **rows are z**. Sides must be multiples of {size_multiple(prior.meta)} pixels. Each plane starts at the top
  of the interpolated stack (at an integer factor, of any measured slice): the model knows where each row
  lies in its slab from its row index.
- Run the model on each plane (deepImageJ in Fiji, ilastik's neural-network workflow, or `bioimageio.core`
  in Python). The intensity normalisation is part of the package (a fixed linear scaling from the
  training volume); inputs and outputs are in the data's own units.
- Stack the restored planes back into a volume.

## What these tools do not do

axialsr restores both plane families, each also upside down, averages the four views and projects the result
onto the measurements so that it reproduces every measured slice exactly (`axialsr reconstruct in.tif
--prior PRIOR_DIR`). A single pass of this package over XZ planes is close to, not equal to, that result.

## Validation

The package's test output was computed by axialsr from its test input (an XZ plane of the training volume's
cubic interpolation) and is reproduced by its TorchScript weights outside axialsr to float precision. How
well the method restores volumes is measured in axialsr's benchmarks (`benchmarks/results/quality.md`).

Trained on: pixel size {prior.meta.get("pixel_size", "unknown")}, {prior.meta.get("training", {}).get("steps", "?")}
steps; extra axial blur given to the targets: {prior.axial_blur:.2f} px.
"""


def export_bioimageio(
    prior: LateralRegressor,
    measured: np.ndarray,
    out: str | os.PathLike,
    name: str = "axialsr lateral regressor",
) -> Path:
    """Write the lateral regressor as a bioimage.io model package (zip) at `out`, with test tensors made
    from `measured` (the volume it was trained on, input units), validated before it is written.

    Returns the path written. AxialSRError on a prior that is not a lateral regressor, or when the
    package does not validate (the message gives the first errors)."""
    try:
        from bioimageio.spec import save_bioimageio_package
        from bioimageio.spec.model import v0_5 as bmz
    except ImportError as error:
        raise AxialSRError("exporting needs bioimageio.spec: pip install 'axialsr[export]'") from error
    if not isinstance(prior, LateralRegressor):
        raise AxialSRError(f"only a lateral regressor can be exported, not a {prior.kind} prior")
    out = Path(out)  # written atomically; the caller (`api.export_model`) checks that it may be
    acquisition = prior.acquisition
    gain, offset = scaling(prior)
    module = prior.unet.cpu().eval()
    plane = test_plane(prior, measured, acquisition)
    expected = apply_package_model(module, plane, gain, offset)
    step = size_multiple(prior.meta)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        np.save(tmp / "test_input.npy", plane[None, None])
        np.save(tmp / "test_output.npy", expected[None, None])
        import tifffile

        tifffile.imwrite(tmp / "sample_input.tif", plane)
        tifffile.imwrite(tmp / "sample_output.tif", expected)
        traced = torch.jit.trace(module, torch.from_numpy(plane * gain + offset)[None, None])
        traced.save(str(tmp / "weights_torchscript.pt"))
        torch.save(module.state_dict(), tmp / "weights.pt")
        (tmp / "README.md").write_text(readme_text(prior, acquisition, name))
        cover(plane, expected, tmp / "cover.png")
        from axialsr.learning import networks

        torch_version = torch.__version__.split("+")[0]
        axes_in = [
            bmz.BatchAxis(),
            bmz.ChannelAxis(channel_names=[bmz.Identifier("intensity")]),
            bmz.SpaceInputAxis(id=bmz.AxisId("y"), size=bmz.ParameterizedSize(min=step, step=step)),
            bmz.SpaceInputAxis(id=bmz.AxisId("x"), size=bmz.ParameterizedSize(min=step, step=step)),
        ]
        input_id = bmz.TensorId("plane")
        axes_out = [
            bmz.BatchAxis(),
            bmz.ChannelAxis(channel_names=[bmz.Identifier("intensity")]),
            bmz.SpaceOutputAxis(
                id=bmz.AxisId("y"), size=bmz.SizeReference(tensor_id=input_id, axis_id=bmz.AxisId("y"))
            ),
            bmz.SpaceOutputAxis(
                id=bmz.AxisId("x"), size=bmz.SizeReference(tensor_id=input_id, axis_id=bmz.AxisId("x"))
            ),
        ]
        architecture = bmz.ArchitectureFromFileDescr(
            source=Path(networks.__file__),
            callable=bmz.Identifier("LateralUNet"),
            kwargs={k: list(v) if isinstance(v, tuple) else v for k, v in prior.meta["unet"].items()},
        )
        descr = _checked(
            bmz.ModelDescr,
            name=name,
            description=(
                f"Restores the axial resolution of XZ/YZ planes of a stack measured at factor {acquisition.factor:g} "
                f"({acquisition.model} model); trained by axialsr on the stack's own XY slices."
            ),
            authors=[bmz.Author(name="axialsr")],
            cite=[bmz.CiteEntry(text=text, url=url) for text, url in CITATIONS],
            license=bmz.LicenseId("BSD-3-Clause"),
            documentation=bmz.FileDescr(source=tmp / "README.md"),
            covers=[bmz.FileDescr(source=tmp / "cover.png")],
            tags=["axial super-resolution", "isotropic", "3d", "electron-microscopy", "fluorescence", "axialsr"],
            inputs=[
                bmz.InputTensorDescr(
                    id=input_id,
                    description="an XZ or YZ plane of the stack interpolated along z (rows: z), in input units",
                    axes=axes_in,
                    test_tensor=bmz.FileDescr(source=tmp / "test_input.npy"),
                    sample_tensor=bmz.FileDescr(source=tmp / "sample_input.tif"),
                    preprocessing=[bmz.ScaleLinearDescr(kwargs=bmz.ScaleLinearKwargs(gain=gain, offset=offset))],
                )
            ],
            outputs=[
                bmz.OutputTensorDescr(
                    id=bmz.TensorId("restored"),
                    description="the plane with its axial resolution restored, in input units",
                    axes=axes_out,
                    test_tensor=bmz.FileDescr(source=tmp / "test_output.npy"),
                    sample_tensor=bmz.FileDescr(source=tmp / "sample_output.tif"),
                    postprocessing=[
                        bmz.ScaleLinearDescr(kwargs=bmz.ScaleLinearKwargs(gain=1.0 / gain, offset=-offset / gain))
                    ],
                )
            ],
            weights=bmz.WeightsDescr(
                torchscript=bmz.TorchscriptWeightsDescr(
                    source=tmp / "weights_torchscript.pt",
                    pytorch_version=bmz.Version(torch_version),
                    parent="pytorch_state_dict",
                ),
                pytorch_state_dict=bmz.PytorchStateDictWeightsDescr(
                    source=tmp / "weights.pt", architecture=architecture, pytorch_version=bmz.Version(torch_version)
                ),
            ),
            config={"axialsr": {"acquisition": prior.meta.get("acquisition"), "axial_blur": prior.axial_blur}},
        )
        package = _checked(save_bioimageio_package, descr, output_path=tmp / "package.zip")
        with atomic_write(out) as partial:
            shutil.copyfile(package, partial)
    return out


def _checked(build, *args, **kwargs):
    """`build(*args, **kwargs)`, its validation errors as one AxialSRError line."""
    from pydantic import ValidationError

    try:
        return build(*args, **kwargs)
    except (ValidationError, ValueError) as error:
        details = " ".join(str(error).split())[:300]
        raise AxialSRError(f"the bioimage.io package does not validate: {details}") from error


def cover(plane: np.ndarray, restored: np.ndarray, path: Path) -> None:
    """A cover image: the test input beside the restored output."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lo, hi = np.percentile(plane, (0.5, 99.5))
    fig, axes = plt.subplots(1, 2, figsize=(6, 3 * plane.shape[0] / plane.shape[1] + 0.5))
    for ax, image, title in zip(axes, (plane, restored), ("input (XZ plane)", "restored"), strict=True):
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def check_package(path: str | os.PathLike) -> dict:
    """Validate a package with bioimageio.spec and reproduce its test output from its TorchScript weights
    outside axialsr's code; returns {'status', 'max_abs_diff'}."""
    import zipfile

    from bioimageio.spec import load_model_description

    descr = load_model_description(path, perform_io_checks=True)
    status = getattr(getattr(descr, "validation_summary", None), "status", "failed")
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as archive:
        archive.extractall(tmp)
        module = torch.jit.load(str(Path(tmp) / "weights_torchscript.pt"))
        plane = np.load(Path(tmp) / "test_input.npy")[0, 0]
        expected = np.load(Path(tmp) / "test_output.npy")[0, 0]
        pre = next(step for step in descr.inputs[0].preprocessing if step.id == "scale_linear").kwargs
        got = apply_package_model(module, plane, float(pre.gain), float(pre.offset))
    return {"status": status, "max_abs_diff": float(np.abs(got - expected).max())}
