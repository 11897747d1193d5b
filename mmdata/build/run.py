"""Run a whole build without Prefect: plan, partitions (in worker processes), finalize.

The flow (flows/build.py) composes the same three functions as Prefect tasks.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor, as_completed

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from mmdata.atomic import remove_stale_temporaries
from mmdata.build.config import BuildConfig
from mmdata.build.finalize import finalize_build
from mmdata.build.lock import build_lock
from mmdata.build.partition import process_partition
from mmdata.build.plan import Partition, plan_partitions

__all__ = ["finalize_build", "plan_partitions", "process_partition", "run_build"]


def _progress() -> Progress:
    return Progress(TextColumn("build partitions"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    transient=True)


def _pool_context() -> multiprocessing.context.BaseContext:
    """fork when this process has no other thread (workers start in milliseconds, imports shared);
    spawn otherwise, since forking a process mid-lock in another thread can deadlock the child."""
    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def run_partitions(cfg: BuildConfig, partitions: list[Partition]) -> list[dict]:
    """Process partitions on ``cfg.workers`` local processes (inline for one worker), with progress."""
    results: list[dict] = []
    if cfg.workers <= 1:
        with _progress() as progress:
            bar = progress.add_task("partitions", total=len(partitions))
            for partition in partitions:
                results.append(process_partition(cfg, partition))
                progress.advance(bar)
        return results
    # The pool is started (and its workers forked) before the progress bar starts its refresh thread.
    with ProcessPoolExecutor(max_workers=cfg.workers, mp_context=_pool_context()) as pool:
        futures = [pool.submit(process_partition, cfg, p) for p in partitions]
        with _progress() as progress:
            bar = progress.add_task("partitions", total=len(partitions))
            for future in as_completed(futures):
                results.append(future.result())
                progress.advance(bar)
    return sorted(results, key=lambda r: r["partition"])


def run_build(cfg: BuildConfig) -> dict:
    """Build ``cfg.out`` from ``cfg.raw``; resumable (finished partitions are kept); returns the stats."""
    with build_lock(cfg.out, cfg.lock_timeout_s):
        remove_stale_temporaries_if_present(cfg.out)
        partitions = plan_partitions(cfg)
        results = run_partitions(cfg, partitions)
        return finalize_build(cfg, results)


def remove_stale_temporaries_if_present(out: str) -> int:
    """Delete ``.tmp-*`` files a killed build left under ``out`` (safe: we hold the build lock)."""
    from pathlib import Path

    return remove_stale_temporaries(out) if Path(out).is_dir() else 0
