"""The implicit neural representation: a coordinate network (z, y, x) -> intensity.

Positions are in isotropic-voxel units of the output grid (voxel i spans [i, i + 1), its centre is
i + 1/2), inside an extent (Z, Y, X); the field normalises them to [-1, 1]. Three encodings:

- `dense`: multi-resolution dense 3D feature grids read with trilinear `grid_sample` (fast on CPU).
- `hash`: multiresolution hash grid (Instant-NGP style) in plain PyTorch: memory bounded by the table.
- `fourier`: random Fourier features.

Each feeds a small MLP. Optionally the field is a residual over a fixed `base` volume (e.g. the cubic
interpolation of the measured stack), which starts the optimisation from the baseline's answer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from axialsr.errors import AxialSRError


class DenseGridEncoding(nn.Module):
    """Multi-resolution dense feature grids, geometric from `coarsest` to `finest` cells per axis."""

    def __init__(self, finest: tuple[int, int, int], levels: int, features: int, coarsest: int) -> None:
        super().__init__()
        self.grids = nn.ParameterList()
        for level in range(levels):
            frac = level / max(1, levels - 1)
            res = [max(2, int(round(min(coarsest, f) * (f / min(coarsest, f)) ** frac))) for f in finest]
            self.grids.append(nn.Parameter(torch.empty(1, features, *res).uniform_(-1e-2, 1e-2)))
        self.out_dim = levels * features

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        grid = pos.flip(-1).view(1, 1, 1, -1, 3)  # grid_sample wants (x, y, z)
        feats = [F.grid_sample(g, grid, mode="bilinear", align_corners=True).view(g.shape[1], -1) for g in self.grids]
        return torch.cat(feats, 0).T


_PRIMES = (1, 2654435761, 805459861)


class HashGridEncoding(nn.Module):
    """Multiresolution hash encoding: per level a table of 2^log2 feature vectors indexed by a spatial
    hash of the cell corners (dense indexing while the level fits in the table)."""

    def __init__(self, finest: tuple[int, int, int], levels: int, features: int, coarsest: int, log2: int) -> None:
        super().__init__()
        self.table_size = 2**log2
        self.resolutions = []
        for level in range(levels):
            frac = level / max(1, levels - 1)
            self.resolutions.append(
                [max(2, int(round(min(coarsest, f) * (f / min(coarsest, f)) ** frac))) for f in finest]
            )
        self.tables = nn.Parameter(torch.empty(levels, self.table_size, features).uniform_(-1e-2, 1e-2))
        self.out_dim = levels * features
        corners = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])
        self.register_buffer("corners", corners, persistent=False)

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        unit = (pos + 1) * 0.5
        outs = []
        for level, res in enumerate(self.resolutions):
            scale = torch.tensor(res, dtype=pos.dtype, device=pos.device) - 1
            x = unit * scale
            base = torch.floor(x).long().clamp_min(0)
            base = torch.minimum(base, (scale.long() - 1).clamp_min(0))
            frac = x - base
            idx = base[:, None, :] + self.corners[None]  # (N, 8, 3)
            if math.prod(res) <= self.table_size:
                flat = (idx[..., 0] * res[1] + idx[..., 1]) * res[2] + idx[..., 2]
            else:
                flat = (idx[..., 0] * _PRIMES[0]) ^ (idx[..., 1] * _PRIMES[1]) ^ (idx[..., 2] * _PRIMES[2])
                flat = flat % self.table_size
            w = torch.where(self.corners[None].bool(), frac[:, None, :], 1 - frac[:, None, :]).prod(-1)
            outs.append((self.tables[level][flat] * w[..., None]).sum(1))
        return torch.cat(outs, -1)


class FourierEncoding(nn.Module):
    """Random Fourier features sin/cos(2 pi B p) with B ~ N(0, sigma^2), plus p itself."""

    def __init__(self, n: int, sigma: float, seed: int = 0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(seed)
        self.register_buffer("b", torch.randn(3, n, generator=gen) * sigma)
        self.out_dim = 2 * n + 3

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        proj = 2 * math.pi * pos @ self.b
        return torch.cat([pos, torch.sin(proj), torch.cos(proj)], -1)


class Field(nn.Module):
    """Coordinate network over an extent (Z, Y, X) in output voxels, optionally residual over `base`, built
    as `config` says (a `methods.inr.FieldConfig`: the INR methods own it; read here by its fields)."""

    def __init__(self, extent: tuple[int, int, int], config: Any, base: np.ndarray | None = None) -> None:
        super().__init__()
        cfg = config
        self.config = cfg
        self.register_buffer("extent", torch.tensor(extent, dtype=torch.float32), persistent=False)
        finest = (max(2, int(round(extent[0] * cfg.z_finest_ratio))), extent[1], extent[2])
        if cfg.encoding == "dense":
            self.encoding: nn.Module = DenseGridEncoding(finest, cfg.levels, cfg.features, cfg.coarsest)
        elif cfg.encoding == "hash":
            self.encoding = HashGridEncoding(finest, cfg.levels, cfg.features, cfg.coarsest, cfg.hash_table_log2)
        else:
            self.encoding = FourierEncoding(cfg.fourier_features, cfg.fourier_sigma)
        layers: list[nn.Module] = []
        width = self.encoding.out_dim
        for _ in range(cfg.mlp_layers):
            layers += [nn.Linear(width, cfg.mlp_width), nn.ReLU()]
            width = cfg.mlp_width
        layers.append(nn.Linear(width, 1))
        if cfg.start_at_base:
            nn.init.zeros_(layers[-1].weight)
            nn.init.zeros_(layers[-1].bias)
        self.mlp = nn.Sequential(*layers)
        if base is not None:
            if tuple(base.shape) != tuple(extent):
                raise AxialSRError(f"base volume shape {base.shape} differs from the extent {extent}")
            self.register_buffer("base", torch.from_numpy(np.ascontiguousarray(base, np.float32))[None, None])
        else:
            self.base = None

    def encoding_parameters(self) -> list[nn.Parameter]:
        return list(self.encoding.parameters())

    def mlp_parameters(self) -> list[nn.Parameter]:
        return list(self.mlp.parameters())

    def normalize(self, pos: torch.Tensor) -> torch.Tensor:
        """Output-voxel positions -> [-1, 1]; voxel centres 0.5 and N - 0.5 map to -1 and +1."""
        return (pos - 0.5) / (self.extent - 1).clamp_min(1) * 2 - 1

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        """Intensity (normalised units) at positions (N, 3) = (z, y, x) in output voxels; returns (N,)."""
        p = self.normalize(pos)
        out = self.mlp(self.encoding(p)).squeeze(-1)
        if self.base is not None:
            out = out + sample_volume(self.base, p)
        return out


def sample_volume(volume: torch.Tensor, normalized: torch.Tensor) -> torch.Tensor:
    """Trilinear samples (N,) of a (1, 1, Z, Y, X) volume at positions (N, 3) = (z, y, x) normalised to
    [-1, 1] as `Field.normalize` does (voxel centres at the ends map to -1 and +1)."""
    grid = normalized.flip(-1).view(1, 1, 1, -1, 3)  # grid_sample wants (x, y, z)
    return F.grid_sample(volume, grid, mode="bilinear", align_corners=True).view(-1)


def grid_points(z: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """All (z, y, x) combinations of three 1D position vectors, as (len z * len y * len x, 3)."""
    zz, yy, xx = torch.meshgrid(z, y, x, indexing="ij")
    return torch.stack([zz, yy, xx], -1).reshape(-1, 3)


@torch.no_grad()
def render_volume(
    field: Field, shape: tuple[int, int, int], chunk_voxels: int = 2**20, progress: bool = False
) -> np.ndarray:
    """Render the field at every voxel centre of a (Z, Y, X) grid, chunked by z slabs, as float32."""
    from tqdm.auto import tqdm

    device = next(field.parameters()).device
    z_n, y_n, x_n = shape
    out = np.empty(shape, dtype=np.float32)
    per_chunk = max(1, chunk_voxels // (y_n * x_n))
    ys = torch.arange(y_n, device=device, dtype=torch.float32) + 0.5
    xs = torch.arange(x_n, device=device, dtype=torch.float32) + 0.5
    for z0 in tqdm(range(0, z_n, per_chunk), desc="rendering", disable=not progress, leave=False):
        zs = torch.arange(z0, min(z_n, z0 + per_chunk), device=device, dtype=torch.float32) + 0.5
        values = field(grid_points(zs, ys, xs))
        out[z0 : z0 + len(zs)] = values.view(len(zs), y_n, x_n).cpu().numpy()
    return out
