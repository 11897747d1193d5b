"""One flow at a time in the DVC workspace: a file lock, so it holds with or without a Prefect server.

Every stage flow (and the nightly flow around them) runs inside ``workspace_lock()``. A second
run in the same project waits for the lock instead of writing ``data/``, ``models/`` or
``reports/`` underneath the first. The lock is a plain file (``.prefect/workspace.lock`` in the
working directory, or ``$MMPIPE_WORKSPACE_LOCK``), so it also serialises runs started from the
command line or a second worker, which a server-side concurrency limit would not see.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

LOCK_ENV = "MMPIPE_WORKSPACE_LOCK"
DEFAULT_LOCK = Path(".prefect/workspace.lock")


def workspace_lock_path() -> Path:
    return Path(os.environ.get(LOCK_ENV) or DEFAULT_LOCK).absolute()


@contextlib.contextmanager
def workspace_lock(logger: logging.Logger | logging.LoggerAdapter | None = None) -> Iterator[None]:
    """Hold the workspace lock for the block (re-entrant within one process: nightly -> stage flows)."""
    path = workspace_lock_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One shared, process-wide instance per path: a subflow in another thread re-enters instead of deadlocking.
    lock = FileLock(path, thread_local=False, is_singleton=True)
    started = time.perf_counter()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if logger:
            logger.info("waiting for the workspace lock %s (another run is using this project)", path)
        lock.acquire()
        if logger:
            logger.info("got the workspace lock after %.1f s", time.perf_counter() - started)
    try:
        yield
    finally:
        lock.release()
