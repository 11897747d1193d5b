"""One build per output directory at a time: a file lock beside the output, refused with a clear message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout


class BuildLocked(RuntimeError):
    """Another build is writing to the same output directory."""


@contextlib.contextmanager
def build_lock(out: str, timeout_s: float = 0.0) -> Iterator[None]:
    """Hold ``<out>.lock`` for the block; raise ``BuildLocked`` if another build holds it past ``timeout_s``."""
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = out_path.parent / f".{out_path.name}.build.lock"
    lock = FileLock(lock_path, timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise BuildLocked(f"another build is already writing to {out} (lock {lock_path} is held); "
                          "wait for it to finish or choose another --out") from None
    try:
        yield
    finally:
        lock.release()
