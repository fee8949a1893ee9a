"""Blockwise restoration of volumes larger than memory, scheduled on Dask.

The measured volume is tiled into core blocks (sizes in measured voxels). Each block is extended by an
overlap, read on its own from disk (`io.VolumeSource`), restored by its own INR (or by interpolation) under
one shared prior and one shared intensity normalisation, and saved as a part file in a work folder. The
parts are then blended into a Zarr/OME-Zarr output, one output chunk (one core block) at a time, with
raised-cosine weights across each overlap: the weights of neighbouring blocks sum to one, and each block's
outermost `margin` voxels (where a block's own boundary effects live) get weight zero.

A part on disk is a finished block (parts are renamed into place when complete), so a rerun with the same
settings skips finished blocks. A block that fails is retried (`retries`) and then reported; the output
is only assembled when every block has finished. Memory is bounded by the block size: a worker holds one
extended block and its INR, the assembly one output chunk and the parts that overlap it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import resource
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from axialsr.baselines import INTERPOLATION_METHODS, interpolate_z
from axialsr.errors import AxialSRError
from axialsr.intensity import Normalization, cast_like
from axialsr.io import VolumeSource, check_finite, split_path, temp_sibling, write_ome_zarr_metadata

BLOCK_METHODS = (*INTERPOLATION_METHODS, "inr", "inr-sds")
MANIFEST = "manifest.json"


@dataclass
class BlockConfig:
    """How to cut and schedule a blockwise run.

    `blocks`: core block size (Z, Y, X) in measured voxels (slices, pixels, pixels). `overlap`: extension of
    each block on every side in output (isotropic) voxels; along z it is rounded up to whole measured slices.
    `workers`: Dask LocalCluster worker processes (0: run in this process, without Dask); `scheduler`: the
    address of an existing Dask scheduler instead. `max_blocks`: stop after this many blocks (for jobs with a
    time limit: rerun to continue). `work_dir`: where parts live (default: beside the output)."""

    blocks: tuple[int, int, int] = (16, 256, 256)
    overlap: int = 16
    workers: int = 1
    threads_per_worker: int = 1
    memory_limit: str = "4GiB"
    scheduler: str | None = None
    retries: int = 1
    work_dir: str | None = None
    keep_parts: bool = False
    max_blocks: int | None = None

    def validate(self) -> None:
        if len(self.blocks) != 3 or min(self.blocks) < 1:
            raise AxialSRError(f"--blocks must be three positive sizes ZxYxX, got {self.blocks}")
        if self.overlap < 0:
            raise AxialSRError(f"--overlap must be >= 0, got {self.overlap}")
        if self.workers < 0 or self.threads_per_worker < 1:
            raise AxialSRError("--workers must be >= 0 and --threads-per-worker >= 1")


@dataclass(frozen=True)
class Block:
    """One block: its grid index, its core and extended regions in measured voxels (`inner`, `outer`) and
    in output voxels (`out_inner`, `out_outer`), as (start, stop) pairs per axis."""

    index: tuple[int, int, int]
    number: int
    inner: tuple[tuple[int, int], ...]
    outer: tuple[tuple[int, int], ...]
    out_inner: tuple[tuple[int, int], ...]
    out_outer: tuple[tuple[int, int], ...]

    @property
    def name(self) -> str:
        return "block_{}_{}_{}".format(*self.index)


def z_alignment(factor: float) -> int:
    """Smallest number of measured slices q for which q * factor is a whole number of output slices, so
    that blocks starting at multiples of q land on the global output grid."""
    for q in range(1, 1001):
        if abs(q * factor - round(q * factor)) < 1e-6:
            return q
    raise AxialSRError(f"factor {factor} is not a ratio of small integers; blockwise runs need e.g. 2.5 or 4/3")


@dataclass
class BlockGrid:
    """The tiling of a measured volume of `shape` into blocks, and the blending weights."""

    shape: tuple[int, int, int]
    factor: float
    core: tuple[int, int, int]
    overlap_in: tuple[int, int, int]
    blocks: list[Block] = field(default_factory=list)
    by_index: dict[tuple[int, int, int], Block] = field(default_factory=dict, repr=False)

    @classmethod
    def plan(cls, shape: tuple[int, int, int], factor: float, core: tuple[int, int, int], overlap: int) -> BlockGrid:
        """Tile `shape` (measured voxels) into cores of `core` voxels extended by `overlap` output voxels."""
        q = z_alignment(factor)
        core_z = q * math.ceil(core[0] / q)
        overlap_z = q * math.ceil(math.ceil(overlap / factor) / q) if overlap else 0
        grid = cls(shape, factor, (core_z, core[1], core[2]), (overlap_z, overlap, overlap))
        starts = [range(0, n, c) for n, c in zip(shape, grid.core, strict=True)]
        number = 0
        for iz, z0 in enumerate(starts[0]):
            for iy, y0 in enumerate(starts[1]):
                for ix, x0 in enumerate(starts[2]):
                    inner = tuple((a, min(a + c, n)) for a, c, n in zip((z0, y0, x0), grid.core, shape, strict=True))
                    outer = tuple(
                        (max(0, a - o), min(n, b + o))
                        for (a, b), o, n in zip(inner, grid.overlap_in, shape, strict=True)
                    )
                    block = Block((iz, iy, ix), number, inner, outer, grid._to_output(inner), grid._to_output(outer))
                    grid.blocks.append(block)
                    grid.by_index[block.index] = block
                    number += 1
        return grid

    def _to_output(self, region: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        (z0, z1), y, x = region
        return ((self.out_z(z0), self.out_z(z1)), y, x)

    def out_z(self, k: int) -> int:
        """Output slice where measured slice boundary k falls (round(k * s), as `Acquisition.output_depth`)."""
        return int(round(k * self.factor))

    @property
    def out_shape(self) -> tuple[int, int, int]:
        return (self.out_z(self.shape[0]), self.shape[1], self.shape[2])

    @property
    def chunks(self) -> tuple[int, int, int]:
        """Output chunk shape: one core block in output voxels."""
        return (
            min(self.out_z(self.core[0]), self.out_shape[0]),
            min(self.core[1], self.shape[1]),
            min(self.core[2], self.shape[2]),
        )

    def ramp_widths(self) -> tuple[tuple[float, float], ...]:
        """(half-width, overlap) of the blending ramp per axis, in output voxels. The half-width leaves out a
        margin at the outer edge of each block: ceil(s / 2) slices along z (beyond its outermost slab centre a
        block only extrapolates) and a quarter of the overlap along all axes."""
        widths = []
        for axis, o_in in enumerate(self.overlap_in):
            o = float(self.out_z(o_in) if axis == 0 else o_in)
            margin = max(math.ceil(self.factor / 2), math.ceil(o / 4)) if axis == 0 else math.ceil(o / 4)
            half = o - margin if o - margin >= 1 else o
            widths.append((half, o))
        return tuple(widths)

    def weights(self, block: Block, region: tuple[slice, slice, slice] | None = None) -> np.ndarray:
        """Blending weights (float32) over the block's extended output region (or over `region` of it, in
        coordinates relative to that region); the weights of all blocks sum to one at every output voxel."""
        profiles = self.profiles(block)
        if region is not None:
            profiles = [w[r] for w, r in zip(profiles, region, strict=True)]
        return np.einsum("i,j,k->ijk", *profiles).astype(np.float32)

    def profiles(self, block: Block) -> list[np.ndarray]:
        """The 1D weight profiles (z, y, x) whose outer product is `weights`."""
        profiles = []
        for axis, ((a, b), (c0, c1), (half, _)) in enumerate(
            zip(block.out_outer, block.out_inner, self.ramp_widths(), strict=True)
        ):
            centres = np.arange(a, b, dtype=np.float64) + 0.5
            w = np.ones(b - a)
            if c0 > 0:
                w *= _rise(centres, c0, half)
            if c1 < self.out_shape[axis]:
                w *= 1.0 - _rise(centres, c1, half)
            profiles.append(w)
        return profiles

    def overlapping(self, block: Block) -> list[Block]:
        """The blocks whose extended output region overlaps `block`'s core output region (looked up among
        the grid neighbours an overlap can reach, not among all blocks)."""
        reach = [math.ceil(o / c) if o else 0 for o, c in zip(self.overlap_in, self.core, strict=True)]
        found = []
        for dz in range(-reach[0], reach[0] + 1):
            for dy in range(-reach[1], reach[1] + 1):
                for dx in range(-reach[2], reach[2] + 1):
                    other = self.by_index.get((block.index[0] + dz, block.index[1] + dy, block.index[2] + dx))
                    if other is not None and all(
                        oa < c1 and ob > c0 for (oa, ob), (c0, c1) in zip(other.out_outer, block.out_inner, strict=True)
                    ):
                        found.append(other)
        return found


def _rise(centres: np.ndarray, boundary: float, half: float) -> np.ndarray:
    """Raised cosine from 0 (at boundary - half) to 1 (at boundary + half); a step when half is 0."""
    if half <= 0:
        return (centres >= boundary).astype(np.float64)
    u = np.clip((centres - (boundary - half)) / (2 * half), 0.0, 1.0)
    return np.sin(0.5 * np.pi * u) ** 2


@dataclass(frozen=True)
class BlockTask:
    """Everything a worker needs to restore one block (picklable)."""

    source: VolumeSource
    method: str
    factor: float
    model: str
    fwhm: float | None
    normalization: Normalization
    recon: Any  # ReconstructionConfig for the INR methods, None for interpolation
    parts_dir: str
    threads: int


def restore_block(task: BlockTask, block: Block, prior: Any = None) -> dict:
    """Read, restore and save one block as `<parts_dir>/<block>.npy` (float32, input units); returns its
    timing and the worker's peak memory (MiB)."""
    import torch

    from axialsr import api
    from axialsr.io import Volume

    torch.set_num_threads(task.threads)
    start = time.perf_counter()
    region = tuple(slice(a, b) for a, b in block.outer)
    data = task.source.read(region)  # type: ignore[arg-type]
    check_finite(data, f"{task.source.spec} {block.name}")
    if task.method in INTERPOLATION_METHODS:
        out = interpolate_z(data.astype(np.float32), task.factor, task.method)
    else:
        cfg = replace(task.recon, seed=task.recon.seed + block.number)
        volume = Volume(data, task.source.voxel_size, task.source.unit)
        restored, _ = api.reconstruct(
            volume,
            prior if task.method == "inr-sds" else None,
            task.factor,
            cfg,
            model=task.model,
            fwhm=task.fwhm,
            dtype="float32",
            progress=False,
            normalization=task.normalization,
        )
        out = restored.data
    expected = tuple(b - a for a, b in block.out_outer)
    if out.shape != expected:
        raise AxialSRError(f"{block.name}: restored shape {out.shape}, expected {expected}")
    path = Path(task.parts_dir) / f"{block.name}.npy"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, out.astype(np.float32, copy=False))
    os.replace(tmp, path)
    return {
        "block": block.name,
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": peak_rss_mib(),
        "pid": os.getpid(),
    }


def peak_rss_mib() -> float:
    """This process's peak resident memory (MiB): VmHWM on Linux (its own, unlike ru_maxrss, which a spawned
    worker inherits from its parent's size at fork), ru_maxrss elsewhere."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class BlockRunSummary:
    """What a blockwise run did: block counts, failures, time (s), peak memory (MiB) of workers and of
    this process, and the output path (None when the output was not assembled)."""

    blocks_total: int
    blocks_skipped: int
    blocks_run: int
    failures: dict[str, str]
    seconds: float
    peak_worker_rss_mib: float
    peak_main_rss_mib: float
    output: str | None
    block_seconds: list[float] = field(default_factory=list)
    worker_processes: int = 0


def fit_normalization(source: VolumeSource, max_voxels: int = 4_000_000) -> Normalization:
    """The whole volume's intensity normalisation from up to 16 evenly spaced slices, strided in y/x so
    that at most `max_voxels` are read."""
    nz, ny, nx = source.shape
    zs = np.unique(np.linspace(0, nz - 1, min(nz, 16)).round().astype(int))
    stride = max(1, int(math.ceil(math.sqrt(len(zs) * ny * nx / max_voxels))))
    samples = [source.read((slice(z, z + 1), slice(0, ny, stride), slice(0, nx, stride))) for z in zs]
    return Normalization.fit(np.concatenate([s.reshape(-1) for s in samples]))


def _manifest(task: BlockTask, grid: BlockGrid, prior: Any) -> dict:
    prior_id = None
    if prior is not None:
        digest = hashlib.sha256()
        for tensor in prior.unet.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
        prior_id = digest.hexdigest()[:16]
    return {
        "input": task.source.spec,
        "shape": list(grid.shape),
        "factor": grid.factor,
        "method": task.method,
        "model": task.model,
        "fwhm": task.fwhm,
        "core": list(grid.core),
        "overlap_in": list(grid.overlap_in),
        "normalization": task.normalization.to_dict(),
        "recon": None if task.recon is None else json.loads(json.dumps(asdict(task.recon), default=str)),
        "prior": prior_id,
    }


def run_blockwise(
    source: VolumeSource,
    out: str | os.PathLike,
    method: str,
    factor: float,
    config: BlockConfig,
    prior: Any = None,
    recon: Any = None,
    model: str = "average",
    fwhm: float | None = None,
    dtype: str | None = None,
    out_voxel_size: tuple[float, float, float] | None = None,
    force: bool = False,
    progress: bool = True,
) -> BlockRunSummary:
    """Restore `source` block by block with `method` (interpolation, 'inr' or 'inr-sds') and blend the
    blocks into the Zarr/OME-Zarr `out`. Finished blocks found in the work folder are skipped."""
    config.validate()
    if method not in BLOCK_METHODS:
        raise AxialSRError(f"blockwise method must be one of {BLOCK_METHODS}, got '{method}'")
    if method == "inr-sds" and prior is None:
        raise AxialSRError("blockwise INR+SDS needs --prior PRIOR_DIR")
    out_path, key = split_path(out)
    if not out_path.name.lower().endswith(".zarr") or key is not None:
        raise AxialSRError(f"blockwise output must be a Zarr store (OUT.zarr or OUT.ome.zarr), got '{out}'")
    if out_path.exists() and not force:
        raise AxialSRError(f"output {out_path} exists; pass --force to overwrite it")
    started = time.perf_counter()
    grid = BlockGrid.plan(source.shape, factor, config.blocks, config.overlap)
    normalization = prior.normalization if prior is not None and method == "inr-sds" else fit_normalization(source)
    if method in INTERPOLATION_METHODS:
        recon = None
    else:
        from axialsr.reconstruct import ReconstructionConfig

        recon = recon or ReconstructionConfig(device="cpu")
        if method == "inr":
            recon = replace(recon, lambda_sds=0.0)
    parts_dir = Path(config.work_dir) if config.work_dir else out_path.with_name(out_path.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    task = BlockTask(
        source, method, factor, model, fwhm, normalization, recon, str(parts_dir), config.threads_per_worker
    )
    manifest = _manifest(task, grid, prior)
    manifest_path = parts_dir / MANIFEST
    if manifest_path.exists():
        if json.loads(manifest_path.read_text()) != json.loads(json.dumps(manifest)):
            raise AxialSRError(
                f"work folder {parts_dir} holds parts of a different run; remove it or pass another --work-dir"
            )
    else:
        manifest_path.write_text(json.dumps(manifest, indent=2))

    done = {p.stem for p in parts_dir.glob("block_*.npy")}
    todo = [b for b in grid.blocks if b.name not in done]
    if config.max_blocks is not None:
        todo = todo[: config.max_blocks]
    results, failures = _schedule(task, todo, prior, config, progress)
    finished = done | {r["block"] for r in results}
    output = None
    if not failures and all(b.name in finished for b in grid.blocks):
        _assemble(grid, parts_dir, out_path, np.dtype(dtype or source.dtype), out_voxel_size, source.unit, progress)
        output = str(out_path)
        if not config.keep_parts:
            shutil.rmtree(parts_dir, ignore_errors=True)
    return BlockRunSummary(
        blocks_total=len(grid.blocks),
        blocks_skipped=len(done),
        blocks_run=len(results),
        failures=failures,
        seconds=time.perf_counter() - started,
        peak_worker_rss_mib=max((r["peak_rss_mib"] for r in results), default=0.0),
        peak_main_rss_mib=peak_rss_mib(),
        output=output,
        block_seconds=[r["seconds"] for r in results],
        worker_processes=len({r["pid"] for r in results}),
    )


def _schedule(
    task: BlockTask, todo: list[Block], prior: Any, config: BlockConfig, progress: bool
) -> tuple[list[dict], dict[str, str]]:
    results: list[dict] = []
    failures: dict[str, str] = {}
    if not todo:
        return results, failures
    bar = tqdm(total=len(todo), desc="blocks", unit="block", disable=not progress)
    if config.workers == 0 and config.scheduler is None:
        for block in todo:
            for attempt in range(config.retries + 1):
                try:
                    results.append(restore_block(task, block, prior))
                    break
                except Exception as exc:  # reported with the block's name; the run goes on
                    if attempt == config.retries:
                        failures[block.name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            bar.update()
        bar.close()
        return results, failures

    from distributed import Client, LocalCluster, as_completed

    if config.scheduler:
        cluster = None
        client = Client(config.scheduler)
    else:
        cluster = LocalCluster(
            n_workers=config.workers,
            threads_per_worker=1,
            memory_limit=config.memory_limit,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
        client = Client(cluster)
    try:
        # The prior goes to every worker once; tasks get a reference to it.
        prior_ref = client.scatter(prior, broadcast=True) if prior is not None else None
        futures = {
            client.submit(restore_block, task, block, prior_ref, retries=config.retries, pure=False): block
            for block in todo
        }
        for future in as_completed(futures):
            block = futures[future]
            try:
                results.append(future.result())
            except Exception as exc:
                failures[block.name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            bar.update()
    finally:
        bar.close()
        client.close()
        if cluster is not None:
            cluster.close()
    return results, failures


def _assemble(
    grid: BlockGrid,
    parts_dir: Path,
    out_path: Path,
    dtype: np.dtype,
    voxel_size: tuple[float, float, float] | None,
    unit: str,
    progress: bool,
) -> None:
    """Blend the parts into `out_path` (OME-Zarr, array '0'), one core block (= one chunk) at a time,
    written to a temporary store that is renamed into place at the end."""
    import zarr

    tmp = temp_sibling(out_path)
    try:
        group = zarr.open_group(str(tmp), mode="w", zarr_format=3)
        array = group.create_array("0", shape=grid.out_shape, dtype=dtype, chunks=grid.chunks)
        for block in tqdm(grid.blocks, desc="blending", unit="block", disable=not progress):
            (z0, z1), (y0, y1), (x0, x1) = block.out_inner
            total = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=np.float64)
            weight = np.zeros_like(total)
            for other in grid.overlapping(block):
                part = np.load(parts_dir / f"{other.name}.npy", mmap_mode="r")
                src, dst = [], []
                for (oa, ob), (c0, c1) in zip(other.out_outer, block.out_inner, strict=True):
                    lo, hi = max(oa, c0), min(ob, c1)
                    src.append(slice(lo - oa, hi - oa))
                    dst.append(slice(lo - c0, hi - c0))
                w = grid.weights(other, tuple(src))  # only where the two overlap
                total[tuple(dst)] += w * part[tuple(src)]
                weight[tuple(dst)] += w
            array[z0:z1, y0:y1, x0:x1] = cast_like(total / np.maximum(weight, 1e-12), dtype)
        if voxel_size is not None:
            write_ome_zarr_metadata(group, voxel_size, unit)
        if out_path.is_dir():
            shutil.rmtree(out_path)
        os.replace(tmp, out_path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
