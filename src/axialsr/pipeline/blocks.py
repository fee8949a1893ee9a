"""Blockwise restoration of volumes larger than memory: execution on Dask, and assembly into OME-Zarr.

The measured volume is tiled into core blocks (`axialsr.operators.tiling`). Each block is extended by an overlap,
read on its own from disk (`io.VolumeSource`), restored by `restore.restore_array` with any registered method
under the same priors and one shared intensity normalisation (the rule of `restore.normalization_for`),
and saved as a part file in a work folder. The parts are then blended into a Zarr/OME-Zarr output, one
output chunk (one core block) at a time, with the tiling's raised-cosine weights.

A part on disk is a finished block (parts are renamed into place when complete), so a rerun with the same
settings skips finished blocks. A block that fails is retried (`retries`) and then reported; the output
is only assembled when every block has finished. Memory is bounded by the block size: a worker holds one
extended block and its INR, the assembly one output chunk and the parts that overlap it.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from axialsr.errors import AxialSRError
from axialsr.io import (
    VolumeSource,
    atomic_write,
    check_finite,
    check_output,
    create_image_array,
    create_image_group,
    split_path,
    tagged_sibling,
    write_ome_zarr_metadata,
)
from axialsr.io.ome import check_ngff_version
from axialsr.io.pyramid import resolve_levels, write_levels
from axialsr.learning.priors import Prior
from axialsr.methods import get_method, settings_sections
from axialsr.operators.acquisition import Acquisition
from axialsr.operators.intensity import Normalization, cast_like
from axialsr.operators.tiling import Block, BlockGrid
from axialsr.pipeline.restore import blockwise_z_support, normalization_for, restore_array
from axialsr.settings import RestoreConfig, Runtime, identity

MANIFEST = "manifest.json"


@dataclass
class BlockConfig:
    """How to cut and schedule a blockwise run.

    `blocks`: core block size (Z, Y, X) in measured voxels (slices, pixels, pixels). `overlap`: extension of
    each block on every side in output (isotropic) voxels; along z it is rounded up to whole measured slices.
    `workers`: Dask LocalCluster worker processes (0: run in this process, without Dask); `scheduler`: the
    address of an existing Dask scheduler instead. `max_blocks`: stop after this many blocks (for jobs with a
    time limit: rerun to continue). `work_dir`: where parts live (default: beside the output). `resources`:
    Dask worker resources each block claims, e.g. 'GPU=1' with workers started with `--resources GPU=1`, so
    that two blocks never share a GPU (a LocalCluster's workers get them too)."""

    blocks: tuple[int, int, int] = (16, 256, 256)
    overlap: int = field(default=16, metadata={"help": "Extension of each block on every side, in output voxels."})
    workers: int = field(default=1, metadata={"help": "Dask LocalCluster worker processes (0: in this process)."})
    threads_per_worker: int = field(default=1, metadata={"help": "Threads of each worker process."})
    memory_limit: str = field(default="4GiB", metadata={"help": "Memory limit of each worker process."})
    scheduler: str | None = field(
        default=None, metadata={"help": "Address of an existing Dask scheduler (instead of a LocalCluster)."}
    )
    retries: int = field(default=1, metadata={"help": "Retries of a failing block before it is reported."})
    work_dir: str | None = field(default=None, metadata={"help": "Folder of the parts (default: OUT.parts)."})
    keep_parts: bool = field(default=False, metadata={"help": "Keep the parts after the output is written."})
    max_blocks: int | None = field(
        default=None, metadata={"help": "Stop after this many blocks (rerun the same command to continue)."}
    )
    resources: str | None = field(
        default=None,
        metadata={"help": "Dask worker resources each block claims, e.g. GPU=1 (one block per GPU at a time)."},
    )
    pyramid_levels: str = field(
        default="auto",
        metadata={
            "help": "Pyramid levels of the OME-Zarr output (2x mean-downsampled): auto (until the coarsest fits "
            "256^3) or a count (1: full resolution only).",
            "runtime": True,
        },
    )

    ngff_version: str = field(
        default="0.5",
        metadata={
            "help": "OME-Zarr version of Zarr outputs: 0.5 (Zarr v3) or 0.4 (Zarr v2, for viewers and "
            "libraries that do not read v3 yet).",
            "runtime": True,
        },
    )

    def __post_init__(self) -> None:
        self.blocks = tuple(int(b) for b in self.blocks)  # type: ignore[assignment]
        check_ngff_version(self.ngff_version)
        self.worker_resources()
        if len(self.blocks) != 3 or min(self.blocks) < 1:
            raise AxialSRError(f"blocks must be three positive sizes (Z, Y, X), got {self.blocks}")
        if self.overlap < 0:
            raise AxialSRError(f"overlap must be >= 0, got {self.overlap}")
        if self.workers < 0 or self.threads_per_worker < 1:
            raise AxialSRError("workers must be >= 0 and threads_per_worker >= 1")
        if self.pyramid_levels != "auto" and not (str(self.pyramid_levels).isdigit() and int(self.pyramid_levels) >= 1):
            raise AxialSRError(
                f"pyramid levels must be 'auto' or an integer >= 1, got {self.pyramid_levels!r}",
                setting="pyramid_levels",
            )
        if self.retries < 0 or (self.max_blocks is not None and self.max_blocks < 1):
            raise AxialSRError("retries must be >= 0 and max_blocks >= 1")

    def worker_resources(self) -> dict[str, float] | None:
        """`resources` parsed ('GPU=1,MEM=2' -> {'GPU': 1.0, 'MEM': 2.0}); None when unset."""
        if not self.resources:
            return None
        parsed = {}
        for item in self.resources.split(","):
            name, _, amount = item.partition("=")
            try:
                parsed[name.strip()] = float(amount)
            except ValueError:
                raise AxialSRError(f"resources must be NAME=AMOUNT[,NAME=AMOUNT], got {self.resources!r}") from None
            if not name.strip() or parsed[name.strip()] <= 0:
                raise AxialSRError(f"resources must be NAME=AMOUNT with AMOUNT > 0, got {self.resources!r}")
        return parsed


@dataclass(frozen=True)
class BlockTask:
    """Everything a worker needs to restore one block (picklable; the priors travel separately)."""

    source: VolumeSource
    method: str
    acquisition: Acquisition
    normalization: Normalization
    config: RestoreConfig
    parts_dir: str
    threads: int
    runtime: Runtime = Runtime()


def restore_block(task: BlockTask, block: Block, priors: Sequence[Prior] = ()) -> dict:
    """Read, restore and save one block as `<parts_dir>/<block>.npy` (float32, input units); returns its
    timing and the worker's peak memory (MiB)."""
    import torch

    torch.set_num_threads(task.threads)
    start = time.perf_counter()
    data = read_bridged(task.source, task.acquisition, block.outer)
    check_finite(data, f"{task.source.spec} {block.name}")
    # one seed per block; the priors travel on the CPU and restore_array moves them to the worker's device
    runtime = task.runtime.offset(block.number).quiet()
    z0, z1 = block.outer[0]
    restored = restore_array(
        data,
        task.method,
        task.acquisition.within(z0, z1),
        priors=priors,
        config=task.config,
        normalization=task.normalization,
        runtime=runtime,
        bridged=True,
    )
    out = restored.volume
    expected = tuple(b - a for a, b in block.out_outer)
    if out.shape != expected:
        raise AxialSRError(f"{block.name}: restored shape {out.shape}, expected {expected}")
    if restored.uncertainty is not None:  # written first: a finished part means both are there
        with atomic_write(Path(task.parts_dir) / f"{block.name}.uncertainty.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, restored.uncertainty.astype(np.float32, copy=False))
    with atomic_write(Path(task.parts_dir) / f"{block.name}.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, out.astype(np.float32, copy=False))
    return {
        "block": block.name,
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": peak_rss_mib(),
        "pid": os.getpid(),
    }


def read_bridged(source: VolumeSource, acquisition: Acquisition, region: tuple[tuple[int, int], ...]) -> np.ndarray:
    """Read `region` ((start, stop) per axis, measured voxels) corrected and with its missing sections
    bridged exactly as in the whole volume (`Acquisition.measurements`): a gap at the region's edge is
    bridged from the nearest sections that exist beyond it (read as well, then cut off). Returns the file's
    dtype, or float32 when something was corrected or bridged."""
    (z0, z1), rest = region[0], tuple(slice(a, b) for a, b in region[1:])
    present = acquisition.present(source.shape[0])
    lo, hi = z0, z1
    while lo > 0 and not present[lo]:
        lo -= 1
    while hi < len(present) and not present[hi - 1]:
        hi += 1
    wide = source.read((slice(lo, hi), *rest))
    return acquisition.within(lo, hi).measurements(wide)[z0 - lo : z1 - lo]


TRAINING_VOXELS = 2**25  # 32 Mvoxel (128 MiB as float32): what the priors of a blockwise run train on


def training_sample(
    source: VolumeSource,
    max_voxels: int = TRAINING_VOXELS,
    tile: tuple[int, int, int] = (32, 256, 256),
    seed: int = 0,
    acquisition: Acquisition | None = None,
) -> np.ndarray:
    """The measured voxels the priors of a blockwise run train on, read tile by tile across the volume.

    A volume of at most `max_voxels` is read whole. A larger one gives `max_voxels // prod(tile)` tiles of
    `tile` measured voxels (Z, Y, X; cut to the volume), at random places spread over the whole volume
    (deterministic in `seed`), stacked along z: every slice of the result is a measured XY slice and runs of
    `tile[0]` slices are contiguous in z (the axial-blur estimate needs them). Tiles are read through
    `acquisition` where given (`read_bridged`: its sections corrected and bridged), since their sections
    are numbered anew. Returns the file's dtype (float32 where something was corrected or bridged)."""
    shape = source.shape
    if int(np.prod(shape)) <= max_voxels:
        return source.read(tuple(slice(0, n) for n in shape))
    size = tuple(min(t, n) for t, n in zip(tile, shape, strict=True))
    count = max(1, max_voxels // int(np.prod(size)))
    rng = np.random.default_rng(seed)
    # stratified along each axis: tile k starts in the k-th of `count` equal ranges (shuffled per axis)
    starts = []
    for n, t in zip(shape, size, strict=True):
        edges = np.linspace(0, n - t, count + 1)
        axis = [int(rng.integers(int(a), max(int(a), int(b)) + 1)) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        starts.append(rng.permutation(axis))
    regions = [
        tuple((int(a), int(a) + t) for a, t in zip(corner, size, strict=True)) for corner in zip(*starts, strict=True)
    ]
    if acquisition is None:
        return np.concatenate([source.read(tuple(slice(a, b) for a, b in r)) for r in regions], axis=0)
    return np.concatenate([read_bridged(source, acquisition, r) for r in regions], axis=0)


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


def _read_by(method: str, config: RestoreConfig) -> RestoreConfig:
    """`config` with the settings sections `method` reads, given or default, and no other: what its parts
    depend on, however the config was made (the command line gives every section, the API those it sets)."""
    sections = settings_sections()
    return replace(config, methods={k: config.settings(k, sections[k].cls) for k in get_method(method).settings})


def _manifest(task: BlockTask, grid: BlockGrid, priors: Sequence[Prior]) -> dict:
    prior_ids = []
    for prior in priors:
        digest = hashlib.sha256()
        for tensor in prior.unet.state_dict().values():
            digest.update(tensor.detach().cpu().numpy().tobytes())
        prior_ids.append(digest.hexdigest()[:16])
    return {
        "input": task.source.spec,
        "shape": list(grid.shape),
        "acquisition": asdict(task.acquisition),
        "method": task.method,
        "core": list(grid.core),
        "overlap_in": list(grid.overlap_in),
        "normalization": task.normalization.to_dict(),
        "config": identity(_read_by(task.method, task.config)),
        "seed": task.runtime.seed,
        "priors": prior_ids,
    }


def run_blockwise(
    source: VolumeSource,
    out: str | os.PathLike,
    method: str,
    *,
    acquisition: Acquisition,
    config: BlockConfig,
    priors: Prior | Sequence[Prior] | None = None,
    restore_config: RestoreConfig | None = None,
    dtype: str | None = None,
    out_voxel_size: tuple[float, float, float] | None = None,
    force: bool = False,
    runtime: Runtime | None = None,
) -> BlockRunSummary:
    """Restore `source` block by block with any registered `method` and blend the blocks into the
    Zarr/OME-Zarr `out`. Finished blocks found in the work folder are skipped. Block k runs with the
    runtime's seed + k, on the runtime's device."""
    spec = get_method(method)
    by_type = spec.assign(priors)
    used = list(by_type.values())
    rt = runtime or Runtime()
    progress = rt.progress
    out_path, key = split_path(out)
    if not out_path.name.lower().endswith(".zarr") or key is not None:
        raise AxialSRError(f"blockwise output must be a Zarr store (OUT.zarr or OUT.ome.zarr), got '{out}'")
    restore_config = restore_config or RestoreConfig()
    outputs = [out_path] + ([Path(tagged_sibling(out_path, "uncertainty"))] if restore_config.uncertainty else [])
    for path in outputs:
        check_output(path, force)
    started = time.perf_counter()
    z_support = blockwise_z_support(spec, acquisition, restore_config)
    grid = BlockGrid.plan(source.shape, acquisition.factor, config.blocks, config.overlap, z_support)
    normalization = normalization_for(source, spec, by_type)
    parts_dir = Path(config.work_dir) if config.work_dir else out_path.with_name(out_path.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    task = BlockTask(
        source, method, acquisition, normalization, restore_config, str(parts_dir), config.threads_per_worker, rt
    )
    manifest = _manifest(task, grid, used)
    manifest_path = parts_dir / MANIFEST
    if manifest_path.exists():
        if json.loads(manifest_path.read_text()) != json.loads(json.dumps(manifest)):
            raise AxialSRError(
                f"work folder {parts_dir} holds parts of a different run; remove it or choose another work folder",
                "work_dir",
            )
    else:
        manifest_path.write_text(json.dumps(manifest, indent=2))

    done = {p.stem for p in parts_dir.glob("block_*.npy") if not p.stem.endswith(".uncertainty")}
    todo = [b for b in grid.blocks if b.name not in done]
    if config.max_blocks is not None:
        todo = todo[: config.max_blocks]
    results, failures = _schedule(task, todo, used, config, progress)
    finished = done | {r["block"] for r in results}
    output = None
    if not failures and all(b.name in finished for b in grid.blocks):
        levels = resolve_levels(config.pyramid_levels, grid.out_shape)
        out_dtype = np.dtype(dtype or source.dtype)
        _assemble(
            grid,
            parts_dir,
            out_path,
            dtype=out_dtype,
            voxel_size=out_voxel_size,
            unit=source.unit,
            progress=progress,
            levels=levels,
            ngff_version=config.ngff_version,
        )
        if restore_config.uncertainty:
            spread_path = Path(tagged_sibling(out_path, "uncertainty"))
            _assemble(
                grid,
                parts_dir,
                spread_path,
                dtype=np.dtype("float32"),
                voxel_size=out_voxel_size,
                unit=source.unit,
                progress=progress,
                part_tag=".uncertainty",
                levels=levels,
                ngff_version=config.ngff_version,
            )
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
    task: BlockTask, todo: list[Block], priors: list[Prior], config: BlockConfig, progress: bool
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
                    results.append(restore_block(task, block, priors))
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
            resources=config.worker_resources(),
        )
        client = Client(cluster)
    try:
        # The priors go to every worker once; tasks get a reference to them.
        priors_ref = client.scatter(priors, broadcast=True) if priors else []
        resources = config.worker_resources()
        futures = {
            client.submit(
                restore_block, task, block, priors_ref, retries=config.retries, pure=False, resources=resources
            ): block
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
    *,
    dtype: np.dtype,
    voxel_size: tuple[float, float, float] | None,
    unit: str,
    progress: bool,
    part_tag: str = "",
    levels: int = 1,
    ngff_version: str = "0.5",
) -> None:
    """Blend the parts (`<block><part_tag>.npy`) into `out_path` (OME-Zarr of NGFF `ngff_version`, array
    '0'), one core block (= one chunk) at a time, then its `levels` - 1 coarser levels chunk by chunk
    (`io.pyramid`), written to a temporary store that is renamed into place at the end."""
    with atomic_write(out_path) as tmp:
        group = create_image_group(tmp, ngff_version)
        array = create_image_array(group, "0", grid.out_shape, dtype, grid.chunks)
        for block in tqdm(grid.blocks, desc="blending", unit="block", disable=not progress):
            (z0, z1), (y0, y1), (x0, x1) = block.out_inner
            total = np.zeros((z1 - z0, y1 - y0, x1 - x0), dtype=np.float64)
            weight = np.zeros_like(total)
            for other in grid.overlapping(block):
                part = np.load(parts_dir / f"{other.name}{part_tag}.npy", mmap_mode="r")
                src, dst = [], []
                for (oa, ob), (c0, c1) in zip(other.out_outer, block.out_inner, strict=True):
                    lo, hi = max(oa, c0), min(ob, c1)
                    src.append(slice(lo - oa, hi - oa))
                    dst.append(slice(lo - c0, hi - c0))
                w = grid.weights(other, tuple(src))  # only where the two overlap
                total[tuple(dst)] += w * part[tuple(src)]
                weight[tuple(dst)] += w
            array[z0:z1, y0:y1, x0:x1] = cast_like(total / np.maximum(weight, 1e-12), dtype)
        write_levels(group, levels, grid.chunks)
        # uncalibrated: unit-less scale 1, as a whole-volume write does
        write_ome_zarr_metadata(group, voxel_size or (1.0, 1.0, 1.0), unit if voxel_size else None, levels=levels)
