"""Atomic file writes: a reader sees the old file or the complete new one, never a partial one."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import sys
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


_SYNC_FILE_RANGE_WRITE = 2  # linux/fs.h: start writeback of dirty pages in the range, do not wait


@functools.cache
def _sync_file_range():
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` of ``fd`` to disk, without waiting.

    A large file otherwise reaches the disk only when its final fsync asks for all of it at once: the
    disk then idles while the file is produced and the writer idles during the fsync. Started early
    (as PostgreSQL's ``backend_flush_after`` and RocksDB's ``bytes_per_sync`` do), most of the writing
    overlaps the work and the fsync waits only for the tail. Pages stay cached (unlike
    ``POSIX_FADV_DONTNEED``). Linux ``sync_file_range``; elsewhere, or if it fails, nothing happens:
    durability still comes from the fsync.
    """
    function = _sync_file_range()
    if function is not None and length > 0:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


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
