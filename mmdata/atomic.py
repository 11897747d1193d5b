"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Temporary files carry this marker so readers and cleaners can recognise (and ignore) them.
TMP_MARKER = ".tmp-"


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` when the block succeeds.

    The temporary file lives in the same directory (same filesystem) so the rename is atomic;
    it is fsynced first so a crash after the rename cannot expose an empty file. ``durable=False``
    skips the fsync: still all-or-nothing for readers and after a killed process, but not across an
    operating-system crash (for scratch files whose user detects a reboot and redoes them).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_MARKER}{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: str | os.PathLike, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``target`` atomically (``durable``: as in ``atomic_path``)."""
    with atomic_path(target, durable) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str, durable: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically (``durable``: as in ``atomic_path``)."""
    write_bytes_atomic(target, text.encode("utf-8"), durable)


def remove_stale_temporaries(directory: str | os.PathLike) -> int:
    """Delete temporary files a killed writer left in ``directory`` (recursively); return how many."""
    removed = 0
    for path in Path(directory).rglob(f"{TMP_MARKER}*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
