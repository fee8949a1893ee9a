"""One optimisation loop for every iterative step (prior training, INR fitting): resume, RNG state,
atomic checkpoints, the loss log, progress, Ctrl-C.

A caller builds its models and optimisers, then hands the `Trainer` the objects whose state a checkpoint
must hold (anything with `state_dict` / `load_state_dict`), an identity (what a checkpoint must match to be
resumed: settings, seed, input) and a step function. `Trainer.run` calls the step function once per step
with the step index; it returns the step's record (a dict of numbers, e.g. {'step': 12, 'loss': 0.03}),
which goes into the history and the loss log (JSON lines). The numpy and torch generators the step draws
from are checkpointed with the rest, so a resumed run continues to the same result as an uninterrupted
one. Checkpoints are written every `Runtime.checkpoint_every` steps, `Runtime.checkpoint_seconds` after
the last one, at the end and on Ctrl-C (which then ends the run at the step boundary with
`RunInterruptedError`).
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from axialsr.errors import AxialSRError
from axialsr.interrupts import RunInterruptedError, deferred_interrupt, report_step, stop_message
from axialsr.io.atomic import atomic_write, write_text_atomic
from axialsr.settings import PriorConfig, Runtime

WARM_UP_STEPS = 3  # not timed: the first steps of a loop are slower (allocation, kernel choice)
ESTIMATE_AFTER = 20  # steps timed for the estimate of the rest
ESTIMATE_MIN_SECONDS = 60.0  # a shorter rest is not announced


def _duration(seconds: float) -> str:
    """'45 s', '12 min', '1.5 h'.

    Examples
    --------
    >>> _duration(45), _duration(720), _duration(5400)
    ('45 s', '12 min', '1.5 h')
    """
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400 - 1:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class Trainer:
    """The loop of `name` (shown in progress bars and interruption messages) over `total` steps of
    `unit` ('step', 'iteration').

    Parameters
    ----------
    name : str
        What is being optimised, e.g. 'training lateral prior'.
    total : int
        Steps of the whole run.
    state : dict
        Objects with `state_dict` / `load_state_dict` that a checkpoint holds (models, optimisers).
    identity : dict
        JSON-ready settings a checkpoint must match to be resumed (include the seed and the input).
    rng, gen : numpy Generator, torch Generator
        The random streams the step function draws from (checkpointed).
    runtime : Runtime
        Progress bars and checkpoint cadence.
    checkpoint : path, optional
        The checkpoint file (None: no checkpoints; an interruption loses the progress).
    log : path, optional
        The loss log (JSON lines, rewritten at each checkpoint).
    unit : str
        The word for one step.
    where, quicker : str
        For the time estimate (`ESTIMATE_AFTER`): where it runs ('on cpu (bf16)') and how to get a quicker
        first look ('fewer steps: ...').
    """

    def __init__(
        self,
        name: str,
        total: int,
        *,
        state: dict[str, Any],
        identity: dict,
        rng: np.random.Generator,
        gen: torch.Generator,
        runtime: Runtime,
        checkpoint: Path | None = None,
        log: Path | None = None,
        unit: str = "step",
        where: str = "",
        quicker: str = "",
    ) -> None:
        self.name, self.total, self.unit = name, total, unit
        self.where, self.quicker = where, quicker
        self.estimate_seconds: float | None = None
        self.state, self.identity = state, identity
        self.rng, self.gen = rng, gen
        self.runtime = runtime
        self.checkpoint, self.log = checkpoint, log
        self.step = 0
        self.history: list[dict] = []

    def _estimate(self, bar, seconds_per_step: float) -> None:
        """Say once, above the progress bar, how long the rest will take at the pace of the timed steps,
        where that is more than `ESTIMATE_MIN_SECONDS`; kept as `estimate_seconds`."""
        self.estimate_seconds = seconds_per_step * (self.total - self.step)
        if self.estimate_seconds < ESTIMATE_MIN_SECONDS or not self.runtime.progress:
            return
        line = f"{self.name}: {self.total} {self.unit}s{' ' + self.where if self.where else ''}, "
        pace = f"{1 / seconds_per_step:.3g} {self.unit}s/s"
        line += f"about {_duration(self.estimate_seconds)} more on this machine ({pace})"
        bar.write(line + (f"; {self.quicker}" if self.quicker else ""))

    def resume(self, device: torch.device) -> None:
        """Continue from the checkpoint when there is one (AxialSRError when it was written with another
        identity); warn and start afresh when its file is missing (nothing without a checkpoint path)."""
        if self.checkpoint is None:
            return
        if not self.checkpoint.is_file():
            where = self.checkpoint.parent
            warnings.warn(f"no checkpoint of {self.name} in {where}: starting from the beginning", stacklevel=3)
            return
        saved = torch.load(self.checkpoint, map_location=device, weights_only=False)
        if saved.get("identity") != self.identity:
            raise AxialSRError(f"{self.checkpoint} was written with other settings or input; start afresh")
        for key, obj in self.state.items():
            obj.load_state_dict(saved["state"][key])
        self.rng.bit_generator.state = saved["numpy_rng"]
        self.gen.set_state(saved["torch_rng"])
        self.step = saved["step"]
        self.history = saved["history"]

    def save(self) -> None:
        """Write the checkpoint and the loss log atomically (nothing without a checkpoint path)."""
        if self.checkpoint is None:
            return
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        if self.log is not None:
            write_text_atomic(self.log, "".join(json.dumps(r) + "\n" for r in self.history))
        saved = {
            "identity": self.identity,
            "step": self.step,
            "state": {key: obj.state_dict() for key, obj in self.state.items()},
            "numpy_rng": self.rng.bit_generator.state,
            "torch_rng": self.gen.get_state(),
            "history": self.history,
        }
        with atomic_write(self.checkpoint) as tmp:
            torch.save(saved, tmp)

    def run(
        self,
        step_fn: Callable[[int], dict],
        end: int | None = None,
        postfix: Callable[[list[dict]], dict] | None = None,
        postfix_every: int = 1,
    ) -> list[dict]:
        """Run `step_fn(step)` from the current step to `end` (default: `total`; earlier is an interruption,
        for tests), with a progress bar whose postfix `postfix(history)` refreshes every `postfix_every`
        steps. Returns the history (one record per step)."""
        end = self.total if end is None else min(self.total, end)
        bar = tqdm(
            total=self.total,
            initial=self.step,
            desc=self.name,
            disable=not self.runtime.progress,
            unit=self.unit,
            mininterval=2.0,
        )
        last_save = time.monotonic()
        timed_from, timed_at = self.step, time.monotonic()
        with deferred_interrupt() as stop:
            while self.step < end:
                record = step_fn(self.step)
                self.step += 1
                self.history.append(record)
                bar.update(1)
                if self.step == timed_from + WARM_UP_STEPS:
                    timed_at = time.monotonic()
                elif self.step == timed_from + WARM_UP_STEPS + ESTIMATE_AFTER:
                    self._estimate(bar, (time.monotonic() - timed_at) / ESTIMATE_AFTER)
                report_step(self.name, self.step, self.total)
                if postfix is not None and self.step % postfix_every == 0:
                    bar.set_postfix(postfix(self.history), refresh=False)
                due = time.monotonic() - last_save > self.runtime.checkpoint_seconds
                if self.step % self.runtime.checkpoint_every == 0 or self.step == end or due or stop.requested:
                    self.save()
                    last_save = time.monotonic()
                if stop.requested:
                    bar.close()
                    folder = None if self.checkpoint is None else self.checkpoint.parent
                    raise RunInterruptedError(stop_message(self.unit, self.step, self.total, folder))
        bar.close()
        return self.history


def learning_rate(step: int, cfg: PriorConfig) -> float:
    """The learning rate of step `step`: a linear warm-up, then constant (`diffusion`) or a cosine decay."""
    warm = min(1.0, (step + 1) / max(1, cfg.warmup_steps))
    if cfg.kind == "diffusion":
        return cfg.lr * warm
    return cfg.lr * warm * 0.5 * (1 + np.cos(np.pi * step / max(1, cfg.steps)))


def optimizer_step(
    loss: torch.Tensor,
    index: int,
    *,
    cfg: PriorConfig,
    unet: torch.nn.Module,
    ema: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
) -> dict:
    """One step of the training loop on `loss`: the learning rate of step `index`, clipped gradients,
    AdamW, the EMA of the weights. Returns the step's record."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(index, cfg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
    optimizer.step()
    decay = min(cfg.ema_decay, (1 + index) / (10 + index))
    with torch.no_grad():
        for pe, p in zip(ema.parameters(), unet.parameters(), strict=True):
            pe.lerp_(p, 1 - decay)
    return {"step": index + 1, "loss": loss.item()}
