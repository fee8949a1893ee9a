"""Clean interruptions: Ctrl-C ends a long loop at the end of a step, with its checkpoint saved.

Inside `deferred_interrupt()`, the first SIGINT only sets `requested`; the loop checks it after each step,
saves its checkpoint and raises `RunInterruptedError`, whose message says where it stopped and how to
continue (an Exception rather than a KeyboardInterrupt, so that command-line frameworks pass it through
intact). A second Ctrl-C interrupts at once. Outside the main thread (a Dask worker) signals cannot be
caught and Ctrl-C behaves as usual.
"""

from __future__ import annotations

import contextlib
import contextvars
import signal
import threading
from collections.abc import Callable, Iterator


class RunInterruptedError(Exception):
    """Ctrl-C at a step boundary; the message says what was kept (e.g. 'interrupted at iteration 40 of
    1500; checkpoint saved in run/: rerun with resume to continue'); `setting` names the parameter that
    continues it, as `AxialSRError.setting` does."""

    setting = "resume"


class InterruptFlag:
    """Whether Ctrl-C was pressed inside `deferred_interrupt`."""

    def __init__(self) -> None:
        self.requested = False


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[InterruptFlag]:
    """Defer the first Ctrl-C to the next check of `flag.requested` (main thread only)."""
    flag = InterruptFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame) -> None:
        if flag.requested:
            raise KeyboardInterrupt
        flag.requested = True

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def stop_message(what: str, done: int, total: int, checkpoint_dir) -> str:
    """The one line an interruption ends with."""
    where = f"{what} {done} of {total}"
    if checkpoint_dir is None:
        return f"interrupted at {where} (no checkpoint folder: this progress is lost)"
    return f"interrupted at {where}; checkpoint saved in {checkpoint_dir}: rerun with resume to continue"


# A hook that long loops call after each step, for front ends (the napari widget) that show progress and
# cancel: it receives (stage, done, total) and may raise to stop the work. Per thread (a ContextVar), so a
# worker thread's hook does not reach other threads.
_STEP_HOOK: contextvars.ContextVar[Callable[[str, int, int], None] | None] = contextvars.ContextVar(
    "axialsr_step_hook", default=None
)


class CancelledError(Exception):
    """Raised by a step hook to stop the work (nothing is written)."""


def report_step(stage: str, done: int, total: int) -> None:
    """Tell the current thread's step hook (if any) that `done` of `total` steps of `stage` are done."""
    hook = _STEP_HOOK.get()
    if hook is not None:
        hook(stage, done, total)


@contextlib.contextmanager
def step_hook(hook: Callable[[str, int, int], None]) -> Iterator[None]:
    """Install `hook` for the loops run in this thread inside the block."""
    token = _STEP_HOOK.set(hook)
    try:
        yield
    finally:
        _STEP_HOOK.reset(token)
