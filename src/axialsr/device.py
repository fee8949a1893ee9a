"""Device and arithmetic choice (auto, cpu, cuda; fp32 or bf16) and seeding shared by training and
restoration."""

from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from axialsr.errors import AxialSRError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is a user error."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise AxialSRError(f"unknown device '{name}'; choose one of {DEVICES}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AxialSRError("device cuda was asked for but no CUDA GPU is available (torch build or driver)", "device")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy's legacy global RNG and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), where bf16 convolutions are several
    times faster than fp32 ones; elsewhere oneDNN emulates them, and slower."""
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def resolve_precision(name: str, device: torch.device | str) -> torch.dtype:
    """The compute dtype of the networks (lateral regressor, diffusion priors): 'bf16' -> bfloat16,
    'fp32' -> float32, 'auto' -> bfloat16 on a CPU with native bf16 (`cpu_has_native_bf16`), float32
    elsewhere (the GPU path is not yet measured in bf16).

    Examples
    --------
    >>> resolve_precision("fp32", "cpu")
    torch.float32
    """
    if name == "bf16":
        return torch.bfloat16
    if name == "fp32":
        return torch.float32
    if name != "auto":
        raise AxialSRError(f"precision must be auto, fp32 or bf16, got '{name}'", "precision")
    return torch.bfloat16 if torch.device(device).type == "cpu" and cpu_has_native_bf16() else torch.float32


def autocast(device: torch.device | str, precision: str) -> contextlib.AbstractContextManager:
    """A context in which convolutions and matrix products run in `precision` (`resolve_precision`) on
    `device`, their inputs and outputs cast as torch's autocast does; a no-op for fp32.

    Examples
    --------
    >>> with autocast("cpu", "bf16"):
    ...     torch.ones(2, 2) @ torch.ones(2, 2)
    tensor([[2., 2.],
            [2., 2.]], dtype=torch.bfloat16)
    """
    dtype = resolve_precision(precision, device)
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def describe_device(device: str = "auto") -> str:
    """The device work runs on, in words ('cpu (2 CPU threads)', 'cuda (NVIDIA H100)'); AxialSRError when
    it does not exist here."""
    import torch

    chosen = resolve_device(device)
    name = torch.cuda.get_device_name(chosen) if chosen.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    return f"{chosen} ({name})"
