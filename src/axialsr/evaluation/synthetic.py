"""Deterministic isotropic ground-truth volumes for demos, tests and benchmarks.

- `em_neuropil`: EM-like neuropil. Neurites are tubes of varying calibre along random 3D lines that fill
  space (an additively weighted Voronoi partition of the lines, on warped coordinates so that membranes
  wiggle); dark membranes at the cell boundaries, mitochondria (dark capsules with cristae) and clusters
  of vesicles (small dark rings) in some neurites, cytoplasm texture, a slight blur and noise.
  `em_neuropil_with_labels` also returns the cells as labels (the truth a segmentation is scored on).
- `fluorescence_nuclei`: fluorescence-like nuclei: textured ellipsoids (chromatin) on a dark
  background, blurred by a small isotropic PSF, with shot noise.

Both return float32 in [0, 1] and depend only on their shape and seed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from axialsr.operators.noise import stack_noise


def _grids(shape: tuple[int, int, int]) -> np.ndarray:
    return np.stack(np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij"))


def _smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    return field / (field.std() + 1e-8)


def _random_unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def em_neuropil(shape: tuple[int, int, int] = (64, 128, 128), seed: int = 0) -> np.ndarray:
    """EM-like neuropil volume, float32 in [0, 1], isotropic voxels (think 8 nm), dark membranes."""
    return em_neuropil_with_labels(shape, seed)[0]


def em_neuropil_with_labels(
    shape: tuple[int, int, int] = (64, 128, 128), seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """`em_neuropil` and its cells: (image float32 in [0, 1], labels int32 >= 1), the same image as
    `em_neuropil(shape, seed)`. Each label is one connected neurite (the part of a tube's Voronoi cell
    that is connected; a cell cut in two by the volume's faces gives two labels); the dark membranes lie
    on the label boundaries.

    Examples
    --------
    >>> image, labels = em_neuropil_with_labels((16, 24, 24), seed=0)
    >>> image.shape == labels.shape, bool(labels.min() >= 1)
    (True, True)
    """
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    extent = np.asarray(shape, dtype=np.float32)
    coords = _grids(shape)
    warp = 2.5 * np.stack([_smooth_noise(rng, shape, 7.0) for _ in range(3)])
    pos = coords + warp

    volume_px = float(np.prod(extent))
    n_tubes = max(12, int(volume_px / 9000))
    centers = rng.uniform(0, 1, (n_tubes, 3)).astype(np.float32) * extent
    dirs = _random_unit_vectors(rng, n_tubes)
    radii = rng.uniform(3.5, 11.0, n_tubes).astype(np.float32)
    wobble_freq = rng.uniform(0.05, 0.15, n_tubes).astype(np.float32)
    wobble_phase = rng.uniform(0, 2 * np.pi, n_tubes).astype(np.float32)

    best = np.full(shape, np.inf, dtype=np.float32)
    second = np.full(shape, np.inf, dtype=np.float32)
    label = np.zeros(shape, dtype=np.int32)
    along_best = np.zeros(shape, dtype=np.float32)
    radial_best = np.zeros(shape, dtype=np.float32)
    for j in range(n_tubes):
        rel = pos - centers[j][:, None, None, None]
        along = np.tensordot(dirs[j], rel, axes=(0, 0))
        radial = np.sqrt(np.maximum((rel**2).sum(0) - along**2, 0.0))
        radius = radii[j] * (1.0 + 0.3 * np.sin(wobble_freq[j] * along + wobble_phase[j]))
        score = radial - radius
        closer = score < best
        second = np.where(closer, best, np.minimum(second, score))
        best = np.where(closer, score, best)
        label = np.where(closer, j, label)
        along_best = np.where(closer, along, along_best)
        radial_best = np.where(closer, radial / radius, radial_best)
    gap = second - best  # ~ twice the distance to the nearest cell boundary, in voxels

    cyto_level = rng.uniform(0.58, 0.78, n_tubes).astype(np.float32)
    image = cyto_level[label] + 0.05 * _smooth_noise(rng, shape, 2.0) + 0.03 * _smooth_noise(rng, shape, 0.8)

    # Mitochondria: capsules along the axis of ~1/4 of the neurites, with cristae stripes.
    has_mito = rng.uniform(size=n_tubes) < 0.28
    mito_start = rng.uniform(-40, 20, n_tubes).astype(np.float32)
    mito_len = rng.uniform(15, 45, n_tubes).astype(np.float32)
    inside_len = (along_best > mito_start[label]) & (along_best < mito_start[label] + mito_len[label])
    mito = has_mito[label] & inside_len & (radial_best < 0.55)
    mito_edge = has_mito[label] & inside_len & (radial_best >= 0.55) & (radial_best < 0.72)
    cristae = 0.5 + 0.5 * np.sin(along_best * 1.6 + 3.0 * radial_best)
    image = np.where(mito, 0.38 + 0.12 * cristae, image)
    image = np.where(mito_edge, 0.25, image)

    # Vesicle clusters: small dark rings (r ~ 2 px) in a few boutons.
    ring = np.zeros(shape, dtype=np.float32)
    n_clusters = max(2, n_tubes // 12)
    for _ in range(n_clusters):
        c = rng.uniform(0, 1, 3) * extent
        for _ in range(int(rng.integers(15, 35))):
            v = c + rng.normal(0, 5.0, 3)
            lo = np.maximum(np.floor(v - 4).astype(int), 0)
            hi = np.minimum(np.ceil(v + 5).astype(int), shape)
            if np.any(hi <= lo):
                continue
            sl = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
            d = np.sqrt(sum((coords[i][sl] - v[i]) ** 2 for i in range(3)))
            ring[sl] = np.maximum(ring[sl], np.exp(-((d - 2.0) ** 2) / 0.5))
    image = image * (1 - 0.55 * ring)

    membrane = np.exp(-((gap / 1.6) ** 2))
    image = image * (1 - 0.72 * membrane)
    image = ndimage.gaussian_filter(image, 0.6)
    image = image + 0.025 * rng.standard_normal(shape).astype(np.float32)
    return np.clip(image, 0.0, 1.0).astype(np.float32), _connected_labels(label)


def _connected_labels(label: np.ndarray) -> np.ndarray:
    """Relabel so that every connected region (6-connectivity) of one value has its own label, from 1."""
    out = np.zeros(label.shape, np.int32)
    count = 0
    for value in np.unique(label):
        parts, n = ndimage.label(label == value)
        out[parts > 0] = parts[parts > 0] + count
        count += n
    return out


def fluorescence_nuclei(shape: tuple[int, int, int] = (64, 128, 128), seed: int = 0) -> np.ndarray:
    """Fluorescence-like nuclei volume, float32 in [0, 1]: bright textured ellipsoids, dark background."""
    rng = np.random.default_rng(seed)
    shape = tuple(int(s) for s in shape)
    extent = np.asarray(shape, dtype=np.float32)
    coords = _grids(shape)
    image = np.zeros(shape, dtype=np.float32)
    chromatin = _smooth_noise(rng, shape, 1.5)
    n_nuclei = max(4, int(np.prod(extent) / 30000))
    placed: list[tuple[np.ndarray, float]] = []
    for _ in range(n_nuclei * 20):
        if len(placed) >= n_nuclei:
            break
        radius = float(rng.uniform(9, 16))
        center = rng.uniform(0, 1, 3) * extent
        if any(np.linalg.norm(center - c) < (radius + r) * 0.9 for c, r in placed):
            continue
        placed.append((center, radius))
        axes = radius * rng.uniform(0.75, 1.25, 3)
        rot = np.linalg.qr(rng.standard_normal((3, 3)))[0].astype(np.float32)
        rel = coords - center.astype(np.float32)[:, None, None, None]
        local = np.tensordot(rot, rel, axes=(1, 0)) / axes.astype(np.float32)[:, None, None, None]
        r2 = (local**2).sum(0)
        inside = 1.0 / (1.0 + np.exp(np.clip((np.sqrt(r2) - 1.0) * 14.0, -50.0, 50.0)))
        brightness = rng.uniform(0.45, 0.9)
        texture = 0.75 + 0.25 * np.tanh(1.5 * chromatin)
        nucleolus = np.exp(-(((local - rng.uniform(-0.3, 0.3, 3)[:, None, None, None]) ** 2).sum(0)) / 0.04)
        image = np.maximum(image, inside * brightness * (texture - 0.35 * nucleolus))
    image = ndimage.gaussian_filter(image + 0.04, 1.0)
    photons = 200.0
    image = rng.poisson(np.clip(image, 0, None) * photons).astype(np.float32) / photons
    return np.clip(image, 0.0, 1.0).astype(np.float32)


SYNTHETIC_KINDS: dict[str, Callable[..., np.ndarray]] = {
    "em": em_neuropil,
    "fluo": fluorescence_nuclei,
}


def make_volume(kind: str = "em", shape: tuple[int, int, int] = (64, 128, 128), seed: int = 0) -> np.ndarray:
    """Generate a synthetic isotropic volume of `kind` ('em' or 'fluo'), float32 in [0, 1]."""
    from axialsr.errors import AxialSRError

    if kind not in SYNTHETIC_KINDS:
        raise AxialSRError(f"unknown synthetic kind '{kind}'; choose one of {sorted(SYNTHETIC_KINDS)}")
    return SYNTHETIC_KINDS[kind](shape=shape, seed=seed)


def section_artifacts(
    measured: np.ndarray, noise: float = 0.0, jitter: float = 0.0, flicker: float = 0.0, seed: int = 0
) -> np.ndarray:
    """What a real serial-section stack adds to the ideal measurement (Z_lr, Y, X): each section shifted by
    a subpixel offset in y and x (registration error, standard deviation `jitter` pixels, linear
    interpolation), its contrast scaled about the stack's mean by 1 + `flicker` * N(0, 1), and white
    detector noise of standard deviation `noise` (data units) added after the slab average. Returns float32.

    Examples
    --------
    >>> ideal = np.full((4, 16, 16), 0.5, np.float32)
    >>> real = section_artifacts(ideal, noise=0.03, jitter=0.7, flicker=0.03)
    >>> real.shape, round(float(np.std(real - ideal)), 2)
    ((4, 16, 16), 0.03)
    """
    rng = np.random.default_rng(seed)
    data = np.asarray(measured, np.float32)
    mean = float(data.mean())
    out = np.empty_like(data)
    for k, section in enumerate(data):
        shifted = ndimage.shift(section, rng.normal(0.0, jitter, 2), order=1, mode="nearest") if jitter else section
        gain = 1.0 + flicker * rng.standard_normal()
        out[k] = mean + (shifted - mean) * gain + noise * rng.standard_normal(section.shape)
    return out.astype(np.float32)


SECTION_DEFECTS = ("blank", "saturated", "duplicate", "dark", "dim")


def knock_out_sections(measured: np.ndarray, defects: dict[int, str]) -> np.ndarray:
    """A copy of the stack (Z_lr, Y, X) with sections ruined as a real stack's are: `blank` (a lost section:
    every pixel at the stack's minimum), `saturated` (every pixel at its maximum: a burnt-out frame),
    `duplicate` (the section before it imaged twice), `dark` (a quarter of its brightness: a charging or
    failing frame) or `dim` (60% of its brightness). Same dtype.

    Examples
    --------
    >>> stack = np.arange(4.0)[:, None, None] + np.zeros((4, 2, 2))
    >>> knock_out_sections(stack, {1: "blank", 3: "duplicate"})[:, 0, 0].tolist()
    [0.0, 0.0, 2.0, 2.0]
    """
    data = np.asarray(measured)
    out = data.copy()
    low, high = data.min(), data.max()
    for k, kind in sorted(defects.items()):
        if kind not in SECTION_DEFECTS:
            raise ValueError(f"unknown section defect '{kind}'; choose one of {SECTION_DEFECTS}")
        if kind == "blank":
            out[k] = low
        elif kind == "saturated":
            out[k] = high
        elif kind == "duplicate":
            out[k] = out[k - 1]
        else:
            out[k] = (data[k] * (0.25 if kind == "dark" else 0.6)).astype(data.dtype)
    return out


INTENSITY_TRENDS = ("bleaching", "entering", "boundary", "flicker")


def intensity_trend(measured: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """A copy of a healthy stack (Z_lr, Y, X) whose brightness changes along z as real stacks' do, with no
    section damaged: `bleaching` (the signal above the background decays to a quarter from first to last
    section), `entering` (the specimen enters and leaves the field: the signal ramps up over the first
    quarter of the stack and down over the last, to a tenth at both ends), `boundary` (a tissue
    boundary: the signal drops to 60% from the middle section on) or `flicker` (each section's gain off by
    5%, drawn from `seed`). The background is the stack's 1st percentile; the noise the scaling removes
    (`noise.stack_noise`) is added back, drawn from `seed`. Returns float32.

    Examples
    --------
    >>> stack = np.full((8, 4, 4), 100.0, np.float32)
    >>> stack[:, :2] = 10.0
    >>> intensity_trend(stack, "boundary")[:, 3, 0].tolist()          # a noiseless stack gets no noise
    [100.0, 100.0, 100.0, 100.0, 64.0, 64.0, 64.0, 64.0]
    """
    data = np.asarray(measured, np.float32)
    depth = len(data)
    z = np.arange(depth) / max(1, depth - 1)
    if kind == "bleaching":
        signal = 0.25**z
    elif kind == "entering":
        signal = np.clip(np.minimum(z, 1 - z) * 4, 0.1, 1)
    elif kind == "boundary":
        signal = np.where(np.arange(depth) >= depth // 2, 0.6, 1.0)
    elif kind == "flicker":
        signal = 1 + 0.05 * np.random.default_rng(seed).standard_normal(depth)
    else:
        raise ValueError(f"unknown intensity trend '{kind}'; choose one of {INTENSITY_TRENDS}")
    background = float(np.percentile(data, 1))
    out = background + (data - background) * signal[:, None, None]
    # the detector's noise does not fade with the signal: what the scaling took of it is added back
    lost = np.sqrt(np.clip(1 - signal**2, 0, None)) * stack_noise(data)
    out += lost[:, None, None] * np.random.default_rng(seed).standard_normal(data.shape)
    return out.astype(np.float32)
