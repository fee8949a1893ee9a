"""Device choice (auto, cpu, cuda) and seeding shared by training and restoration."""

from __future__ import annotations

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
