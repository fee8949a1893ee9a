"""Atomic writes: every output is written to a temporary sibling and renamed into place, so that an
interrupted run never leaves a half-written file or folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path


def temp_sibling(path: Path) -> Path:
    """A unique temporary path beside `path`: same folder (so the final rename is atomic) and same suffixes
    (so writers that pick a format from the name pick the same one)."""
    suffix = (
        "".join(path.suffixes[-2:])
        if path.name.lower().endswith((".ome.tif", ".ome.tiff", ".ome.zarr"))
        else path.suffix
    )
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp{suffix}")


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Write `path` atomically: yields a temporary sibling to write (a file or a folder); when the block
    ends without an error, the temporary replaces `path` (a folder at `path` is removed first), otherwise
    it is deleted. Readers never see a half-written `path`.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_write(folder / "notes.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> (folder / "notes.txt").read_text(), sorted(p.name for p in folder.iterdir())
    ('done', ['notes.txt'])
    """
    path = Path(path)
    tmp = temp_sibling(path)
    try:
        yield tmp
        if tmp.is_file():  # some writers (safetensors) create files readable by their owner alone
            os.chmod(tmp, 0o666 & ~_umask())
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write a UTF-8 text file atomically (see `atomic_write`); returns the path."""
    with atomic_write(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
