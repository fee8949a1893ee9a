"""PNG figures: orthogonal views (XY, XZ, YZ) of several volumes side by side, and XZ crops at a zoom
where slab stripes (or their absence) show at a glance."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from axialsr.io import atomic_write


def save_figure(fig, out: str | os.PathLike, dpi: int = 90) -> Path:
    """Save a matplotlib figure as PNG atomically (temporary file, then rename) and close it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    try:
        with atomic_write(out) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return Path(out)


def orthogonal_views(
    volumes: dict[str, np.ndarray],
    out: str | os.PathLike,
    center: tuple[int, int, int] | None = None,
    crop: int | None = None,
    intensity_range: tuple[float, float] | None = None,
) -> Path:
    """Write a PNG with one row per volume and columns XY (at z), XZ (at y), YZ (at x).

    All volumes share one grey range (0.5/99.5 percentiles of the first unless `intensity_range`).
    Volumes of different depth are shown at the same relative positions. Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(volumes)
    first = np.asarray(volumes[names[0]], dtype=np.float32)
    lo, hi = intensity_range or tuple(np.percentile(first, (0.5, 99.5)))
    rel = None if center is None else np.asarray(center) / np.asarray(first.shape)
    fig, axes = plt.subplots(
        len(names),
        3,
        figsize=(11, 3.2 * len(names)),
        squeeze=False,
        gridspec_kw={"width_ratios": [1, 1, 1]},
    )
    for row, name in enumerate(names):
        vol = np.asarray(volumes[name], dtype=np.float32)
        z, y, x = (np.asarray(vol.shape) * (rel if rel is not None else 0.5)).astype(int)
        views = {"XY": vol[z], "XZ": vol[:, y, :], "YZ": vol[:, :, x]}
        for col, (plane, image) in enumerate(views.items()):
            if crop:
                image = image[:crop, :crop] if plane == "XY" else image[:, :crop]
            ax = axes[row, col]
            ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest", aspect="equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(plane)
            if col == 0:
                ax.set_ylabel(f"{name}\n{vol.shape[0]}x{vol.shape[1]}x{vol.shape[2]}")
    return save_figure(fig, out)


def xz_crops(
    volumes: dict[str, np.ndarray],
    out: str | os.PathLike,
    *,
    size: int = 64,
    zoom: int = 2,
    y: int | None = None,
    ncols: int = 4,
    intensity_range: tuple[float, float] | None = None,
    pixel: tuple[float, str] | None = None,
    title_size: float = 11,
) -> Path:
    """Write a PNG of one XZ crop (`size` x `size` voxels from the plane's top-left, at row `y`, default
    the middle) per volume, each voxel drawn as `zoom` x `zoom` pixels (no smoothing), in a grid of
    `ncols`; z runs down (an arrow on the first panel says so). All share one grey range (0.5/99.5
    percentiles of the first). With `pixel` (size, unit) of the isotropic output voxel, the first panel gets
    a scale bar of a round length near a quarter of its width. Titles in `title_size` points (larger for a
    figure that a page shows shrunk). Written atomically.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> v = np.random.default_rng(0).random((32, 8, 32)).astype(np.float32)
    >>> path = xz_crops({"a": v, "b": v}, pathlib.Path(tempfile.mkdtemp()) / "crops.png", size=16)
    >>> path.stat().st_size > 0
    True
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(volumes)
    first = np.asarray(volumes[names[0]], dtype=np.float32)
    lo, hi = intensity_range or tuple(np.percentile(first, (0.5, 99.5)))
    ncols = min(ncols, len(names))
    nrows = int(np.ceil(len(names) / ncols))
    dpi = 100
    panel = size * zoom / dpi  # inches: one voxel = `zoom` pixels
    head = 0.3 * title_size / 11  # inches above each row for its titles
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * panel, nrows * (panel + head)), squeeze=False, dpi=dpi)
    for ax in axes.ravel():
        ax.axis("off")
    for i, name in enumerate(names):
        vol = np.asarray(volumes[name], dtype=np.float32)
        row = vol.shape[1] // 2 if y is None else y
        image = np.repeat(np.repeat(vol[:size, row, :size], zoom, axis=0), zoom, axis=1)
        ax = axes.ravel()[i]
        ax.imshow(image, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax.set_title(name, fontsize=title_size)
        if i == 0:
            _orientation(ax, image.shape, zoom, pixel, title_size)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - head / (nrows * (panel + head)), wspace=0.02, hspace=0.15)
    try:  # not save_figure: tight_layout would rescale the panels and break the exact zoom
        with atomic_write(out) as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    finally:
        plt.close(fig)
    return Path(out)


def _orientation(ax, shape: tuple[int, ...], zoom: int, pixel: tuple[float, str] | None, points: float = 11) -> None:
    """A 'z' arrow pointing down at the panel's left edge and, with `pixel` (size, unit), a scale bar."""
    height, width = shape[:2]
    box = {"facecolor": "black", "alpha": 0.6, "pad": 1.5, "edgecolor": "none"}
    ax.annotate(
        "",
        xy=(0.05 * width, 0.35 * height),
        xytext=(0.05 * width, 0.08 * height),
        arrowprops={"arrowstyle": "->", "color": "yellow", "lw": 2},
    )
    ax.text(0.09 * width, 0.2 * height, "z", color="yellow", fontsize=points, va="center", bbox=box)
    if pixel is None:
        return
    size, unit = pixel
    target = width / zoom * size / 4
    length = min((m * 10**e for e in range(-3, 7) for m in (1, 2, 5)), key=lambda v: abs(v - target))
    bar = length / size * zoom
    x0, y0 = 0.05 * width, 0.93 * height  # bottom left, the label above the bar, both inside the panel
    ax.plot([x0, x0 + bar], [y0, y0], color="yellow", lw=3)
    ax.text(x0, y0 - 0.05 * height, f"{length:g} {unit}", color="yellow", fontsize=points, ha="left", bbox=box)


def image_grid(images: np.ndarray, out: str | os.PathLike, titles: list[str] | None = None, ncols: int = 8) -> Path:
    """Write a PNG grid of 2D images (N, H, W), each shown in its own [-1, 1] grey range."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.6 * nrows + (0.4 if titles else 0)), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i], cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
    if titles:
        fig.suptitle(" | ".join(titles))
    return save_figure(fig, out)


def prior_samples_figure(
    prior,
    out: str | os.PathLike,
    *,
    n: int = 16,
    steps: int = 50,
    seed: int = 0,
    real_volume: np.ndarray | None = None,
    guidance: float = 1.0,
) -> Path:
    """PNG grid of what a prior makes, beside real data normalised as its training data was.

    A diffusion prior: `n` DDIM samples (top rows) and, given `real_volume`, n real XY patches of it. A
    conditional prior: n lateral pairs of `real_volume` (required): the degraded patches, the prior's
    conditional samples from them, and the measured patches (the truth). A lateral prior: the degraded
    patches, its restorations, and the truth."""
    import torch

    from axialsr.learning.planes import LateralPairs
    from axialsr.learning.prior_training import xy_patches
    from axialsr.operators.intensity import Normalization

    if prior.kind == "diffusion":
        images = [prior.sample(n, steps=steps, seed=seed, progress=False)]
        title = [f"{n} prior samples ({steps} DDIM steps)"]
        if real_volume is not None:
            data = Normalization.fit(real_volume).forward(real_volume)
            images.append(xy_patches(data, prior.patch, n, seed, int(prior.meta.get("bin_xy", 1))))
            title.append(f"{n} real XY patches")
        return image_grid(np.concatenate(images), out, titles=title, ncols=min(8, n))
    if real_volume is None:
        raise ValueError(f"a {prior.kind} prior is shown on lateral pairs of a real volume")
    pairs = LateralPairs(
        prior.normalization.forward(real_volume), prior.acquisition, prior.patch, axial_blur=prior.axial_blur
    )
    degraded, truth = pairs(np.random.default_rng(seed), n)
    if prior.kind == "conditional":
        made = prior.sample(n, steps=steps, seed=seed, progress=False, condition=degraded, guidance=guidance)
        name = f"conditional samples ({steps} DDIM steps)"
    else:
        with torch.no_grad():
            made = prior.regress(torch.from_numpy(degraded)[:, None].to(prior.device))[:, 0].cpu().numpy()
        name = "lateral restorations"
    images = np.concatenate([degraded, made, truth])
    titles = [f"{n} degraded XY patches (rows degraded like z)", name, "measured patches (truth)"]
    return image_grid(images, out, titles=titles, ncols=min(8, n))


def loss_curves(
    curves: dict[str, list[dict]],
    out: str | os.PathLike,
    x_key: str = "iter",
    keys: tuple[str, ...] = ("fidelity", "sds"),
) -> Path:
    """PNG of loss curves: one panel per run in `curves` (name -> JSON-lines records), each `keys` entry
    present in its records drawn against `x_key` (log scale, smoothed over 2% of the run). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(curves)
    fig, axes = plt.subplots(1, max(1, len(names)), figsize=(4.2 * max(1, len(names)), 3.2), squeeze=False)
    for ax, name in zip(axes[0], names, strict=False):
        records = curves[name]
        for key in keys:
            points = [(r[x_key], r[key]) for r in records if key in r and x_key in r]
            if not points:
                continue
            x, y = np.asarray(points, dtype=np.float64).T
            width = max(1, len(y) // 50)
            smooth = np.convolve(y, np.ones(width) / width, mode="valid")
            ax.plot(x[width - 1 :], np.abs(smooth) + 1e-12, label=key)
        ax.set_yscale("log")
        ax.set_title(name)
        ax.set_xlabel(x_key)
        ax.legend()
    return save_figure(fig, out)
