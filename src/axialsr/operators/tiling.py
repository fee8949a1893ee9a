"""Tiling geometry for blockwise restoration (pure: no I/O, no torch).

A measured volume of shape (Z, Y, X) is cut into core blocks (sizes in measured voxels), each extended by an
overlap on every side. Restored blocks are blended with raised-cosine weights across each overlap: the
weights of neighbouring blocks sum to one at every output voxel, and each block's outermost `margin`
voxels (where its own boundary effects live) get weight zero. Along z, block starts are multiples of the
smallest number of slabs q with q * s whole, so that every block lands on the global output grid.

Examples
--------
>>> grid = BlockGrid.plan((16, 100, 100), factor=4.0, core=(8, 64, 64), overlap=8)
>>> len(grid.blocks), grid.out_shape, grid.blocks[0].outer
(8, (64, 100, 100), ((0, 10), (0, 72), (0, 72)))
>>> import numpy as np
>>> total = np.zeros(grid.out_shape)
>>> for block in grid.blocks:
...     (z0, z1), (y0, y1), (x0, x1) = block.out_outer
...     total[z0:z1, y0:y1, x0:x1] += grid.weights(block)
>>> bool(np.allclose(total, 1.0))
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from axialsr.errors import AxialSRError
from axialsr.operators.acquisition import slab_period


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
    period = slab_period(factor)
    if period is None:
        raise AxialSRError(f"factor {factor} is not a ratio of small integers; blockwise runs need e.g. 2.5 or 4/3")
    return period[0]


@dataclass
class BlockGrid:
    """The tiling of a measured volume of `shape` into blocks, and the blending weights."""

    shape: tuple[int, int, int]
    factor: float
    core: tuple[int, int, int]
    overlap_in: tuple[int, int, int]
    z_margin: float = 0.0
    blocks: list[Block] = field(default_factory=list)
    by_index: dict[tuple[int, int, int], Block] = field(default_factory=dict, repr=False)

    @classmethod
    def plan(
        cls, shape: tuple[int, int, int], factor: float, core: tuple[int, int, int], overlap: int, z_context: int = 0
    ) -> BlockGrid:
        """Tile `shape` (measured voxels) into cores of `core` voxels extended by `overlap` output voxels.

        `z_context`: measured slices of context a method needs on each side of a slab for its output there
        not to depend on where the block ends (a cubic spline's tails, a network's receptive field): the z
        overlap is widened to hold it plus one slab, and each block's weight is zero over that margin."""
        q = z_alignment(factor)
        core_z = q * math.ceil(core[0] / q)
        overlap_z = q * math.ceil(math.ceil(overlap / factor) / q) if overlap else 0
        if z_context:
            overlap_z = max(overlap_z, q * math.ceil((z_context + 1) / q))
        grid = cls(shape, factor, (core_z, core[1], core[2]), (overlap_z, overlap, overlap), z_context * factor)
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
        block only extrapolates), or the method's context (`z_margin`), and a quarter of the overlap along all
        axes."""
        widths = []
        for axis, o_in in enumerate(self.overlap_in):
            o = float(self.out_z(o_in) if axis == 0 else o_in)
            if axis == 0:
                margin = max(math.ceil(self.factor / 2), math.ceil(o / 4), math.ceil(self.z_margin))
            else:
                margin = math.ceil(o / 4)
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
