"""Shared helpers for the benchmarks: the machine header and result writing."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine_header() -> dict:
    """CPU model (and whether it computes bf16 natively), cores, GPU (if any), library versions, git commit,
    date."""
    import diffusers
    import numpy
    import torch

    from axialsr.device import cpu_has_native_bf16

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            cwd=Path(__file__).parent,
            check=False,
        ).stdout.strip()
        commit += "+dirty" if dirty else ""
    except OSError:
        commit = "unknown"
    return {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "native_bf16": cpu_has_native_bf16(),  # the lateral regressor then runs in bf16 by default
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "numpy": numpy.__version__,
        "commit": commit,
    }


def header_markdown(header: dict) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in header.items()) + "\n"


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


def rewrite_markdown(name: str, note: str, write_markdown: Callable[[dict], None]) -> None:
    """Rewrite results/<name>.md from results/<name>.json with `write_markdown`, with a new note (or the
    one it has): for a note written after the run."""
    path = RESULTS / f"{name}.json"
    payload = json.loads(path.read_text())
    payload["note"] = note or payload.get("note", "")
    write_json(path, payload)
    write_markdown(payload)
