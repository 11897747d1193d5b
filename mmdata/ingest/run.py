"""run_ingest: plan items from every source, resolve each exactly once, write the manifest.

Resolution order of one item: a decision made while planning (VERDICT) -> a reusable journal
record (finished earlier; failed ones only reused without ``retry_failed``) -> real work
(read / fetch, check, store, journal). The manifest is read back from the journal at the end,
sorted, so an interrupted-then-resumed run and an uninterrupted one write equal manifests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
from filelock import FileLock, Timeout
from rich.console import Console

from mmdata.atomic import remove_stale_temporaries
from mmdata.ingest.accept import accept_bytes, accept_inline, read_local
from mmdata.ingest.config import IngestConfig
from mmdata.ingest.items import FILE, INLINE, URL, VERDICT, Item
from mmdata.ingest.journal import JOURNAL_NAME, Journal, JournalEntry
from mmdata.ingest.objects import ObjectWriter
from mmdata.ingest.summary import IngestSummary, LiveProgress, Meter
from mmdata.manifest import FAILED, OK, objects_dir, write_raw_manifest
from mmdata.net.download import Downloader, DownloadPolicy, FetchResult
from mmdata.sources.directory import plan_directory
from mmdata.sources.table import plan_table
from mmdata.store import RawStore

# Fault injection for resume tests: SIGKILL this process after N items were finished in this
# run, or at "manifest" (journal complete, manifest not yet written).
KILL_ENV = "MMPIPE_INGEST_KILL_AFTER"
LOCK_NAME = ".ingest.lock"
log = logging.getLogger(__name__)
INLINE_WORK_BYTES = 256 * 1024
_DROP_FROM_MANIFEST = ("fingerprint",)


def download_policy(cfg: IngestConfig) -> DownloadPolicy:
    """The downloader's settings taken from the stage config."""
    return DownloadPolicy(
        concurrency=cfg.concurrency, per_host_concurrency=cfg.per_host_concurrency, per_host_rate=cfg.per_host_rate,
        timeout_s=cfg.timeout_s, retries=cfg.retries, backoff_s=cfg.backoff_s, max_backoff_s=cfg.max_backoff_s,
        max_bytes=cfg.max_bytes, max_decompressed_bytes=cfg.max_decompressed_bytes, max_redirects=cfg.max_redirects,
        allow_private_network=cfg.allow_private_network, user_agent=cfg.user_agent,
    )


def plan_items(cfg: IngestConfig) -> Iterator[Item]:
    """Items of the directory and table sources, streamed (crawls discover theirs while running)."""
    for root in cfg.dirs:
        yield from plan_directory(root, cfg.label_pattern, skip=cfg.out)
    for table in cfg.tables:
        yield from plan_table(table)


class IngestRun:
    """State of one run: the store, the journal, the downloader and the items resolved so far."""

    def __init__(self, cfg: IngestConfig, store: RawStore, journal: Journal, downloader: Downloader, meter: Meter):
        self.cfg = cfg
        self.store = store
        self.writer = ObjectWriter(store)
        self.journal = journal
        self.downloader = downloader
        self.meter = meter
        # Ids only: full rows live in the journal file and are read back for the manifest.
        self.resolved: set[str] = set()
        self._fetched: dict[str, asyncio.Future | tuple[FetchResult, str]] = {}
        kill = os.environ.get(KILL_ENV, "")
        self._kill_after = int(kill) if kill.isdigit() else None

    def reusable(self, item: Item) -> JournalEntry | None:
        """The journal's entry for ``item`` when it still holds, else None."""
        entry = self.journal.get(item.item_id)
        if entry is None or item.kind == VERDICT:
            return None  # decisions made while planning are made again every run
        if entry.status == FAILED and self.cfg.retry_failed:
            return None
        if entry.fingerprint != item.version:
            return None  # the file, URL or inline value changed since
        if entry.status == OK and not self._object_intact(entry.sha256, entry.bytes):
            return None  # object removed by hand, or cut short by a power loss: fetch again
        return entry

    def _object_intact(self, digest: str, size: int) -> bool:
        try:
            return self.store.path_of(digest).stat().st_size == size
        except OSError:
            return False

    async def resolve(self, item: Item) -> JournalEntry:
        """The outcome of ``item``, doing the work only when no earlier result holds."""
        if item.item_id in self.resolved:
            return self.journal.entries[item.item_id]
        entry = self.reusable(item)
        if entry is not None:
            self.meter.reused += 1
        else:
            row = item.row(*item.verdict, attempts=0) if item.kind == VERDICT else await self._process_safely(item)
            self.journal.add(row)
            self.meter.count(row)
            if self._kill_after is not None and self.meter.done >= self._kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            entry = self.journal.entries[item.item_id]
        self.resolved.add(item.item_id)
        return entry

    async def _process_safely(self, item: Item) -> dict[str, Any]:
        try:
            return await self.process(item)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as err:  # one item's surprise must not end a long run
            # Recorded, with its traceback in the log, as this item's failure; not swallowed.
            log.warning("unexpected error on %s", item.uri, exc_info=True)
            return item.row(FAILED, f"internal_error: {type(err).__name__}: {err}", error_class=type(err).__name__,
                            attempts=1)

    async def process(self, item: Item) -> dict[str, Any]:
        if item.kind == FILE:
            return await asyncio.to_thread(read_local, item, self.writer, self.cfg.max_bytes)
        if item.kind == INLINE and item.payload:
            return await asyncio.to_thread(accept_bytes, item, item.payload, self.writer, attempts=1)
        if item.kind == INLINE:
            return await asyncio.to_thread(accept_inline, item, self.writer)
        assert item.kind == URL, item.kind
        row, _ = await self.fetch(item)
        return row

    @staticmethod
    async def _off_loop_if_large(size: int, func, *args, **kwargs):
        # Small payloads are hashed and written right on the event loop: a thread hop per item
        # costs more than the work, and worker threads holding the GIL stall the loop's
        # socket calls (the convoy effect halved throughput in bench/ingest_bench.py).
        if size < INLINE_WORK_BYTES:
            return func(*args, **kwargs)
        return await asyncio.to_thread(func, *args, **kwargs)

    async def fetch(self, item: Item) -> tuple[dict[str, Any], bytes]:
        """Download ``item.path`` (once per URL per run) and turn the outcome into a row."""
        url = item.path
        known = self._fetched.get(url)
        digest = ""
        if known is None:
            # A bare future (not a task per item) lets later items with this URL wait for it.
            waiter = self._fetched[url] = asyncio.get_running_loop().create_future()
            try:
                result = await self.downloader.fetch(url)
            except BaseException:
                del self._fetched[url]
                waiter.cancel()
                raise
            waiter.set_result(result)
        elif isinstance(known, asyncio.Future):
            result = await known
        else:
            result, digest = known
            if result.status == OK and not digest:
                result = await self.downloader.fetch(url)  # first user rejected the bytes: fetch again
        extra = dict(attempts=result.attempts, http_status=result.http_status, final_url=result.final_url)
        if result.status != OK:
            row = item.row(result.status, result.reason, error_class=result.error_class, **extra)
        elif digest:
            body = self.store.get(digest)
            row = accept_bytes(item, body, None, digest, **extra)
        else:
            # Bytes reach the store only once an item accepts them: no orphans from rejected bodies.
            row = await self._off_loop_if_large(len(result.body), accept_bytes, item, result.body, self.writer, **extra)
        if not isinstance(self._fetched.get(url), tuple) or not self._fetched[url][1]:
            # Remember the outcome for later items with the same URL, not the body (memory).
            outcome = FetchResult(url, result.status, result.reason, result.error_class, b"", result.http_status,
                                  result.attempts, result.final_url)
            self._fetched[url] = (outcome, row["sha256"])
        return row, result.body


async def _feed(run: IngestRun, items: Iterator[Item], workers: int) -> None:
    """Resolve planned items with at most ``workers`` in flight (planning streams alongside)."""
    slots = asyncio.Semaphore(workers)
    in_flight: set[asyncio.Task] = set()
    failures: list[BaseException] = []

    def finished(task: asyncio.Task) -> None:
        in_flight.discard(task)
        slots.release()
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())

    try:
        for item in items:
            run.meter.planned += 1
            if item.kind == VERDICT or run.reusable(item) is not None or item.item_id in run.resolved:
                await run.resolve(item)  # no I/O: no task needed
                continue
            await slots.acquire()
            if failures:
                raise failures[0]
            task = asyncio.ensure_future(run.resolve(item))
            in_flight.add(task)
            task.add_done_callback(finished)
        if in_flight:
            await asyncio.gather(*in_flight)
    finally:
        for task in list(in_flight):
            task.cancel()


async def _tick(progress: LiveProgress, run: IngestRun) -> None:
    while True:
        progress.refresh()
        await asyncio.sleep(0.2)
        # Time-based flushes bound what a kill can lose on slow sources.
        run.journal.flush()


async def _run_async(
    cfg: IngestConfig, store: RawStore, journal: Journal, meter: Meter, console: Console | None
) -> set[str]:
    async with Downloader(download_policy(cfg)) as downloader:
        run = IngestRun(cfg, store, journal, downloader, meter)
        with LiveProgress(meter, cfg.progress, console) as progress:
            ticker = asyncio.create_task(_tick(progress, run))
            try:
                await _feed(run, plan_items(cfg), cfg.concurrency)
                if cfg.crawl:
                    from mmdata.sources.crawl import crawl_sites

                    await crawl_sites(run, cfg.crawl)
            finally:
                ticker.cancel()
        return run.resolved


def finalize_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Sorted manifest frame; repeated content marked ``duplicate_content`` (first in order kept)."""
    # Column order follows first appearance in the journal, which differs after a resume: fix one.
    frame = frame[[c for c in sorted(frame.columns) if c not in _DROP_FROM_MANIFEST]]
    frame = frame.sort_values(["key", "modality", "uri", "item_id"], kind="stable").reset_index(drop=True)
    frame["duplicate_of"] = ""
    ok_rows = frame[frame["status"] == OK]
    repeated = ok_rows[ok_rows.duplicated("sha256", keep="first")]
    if len(repeated):
        first_uri = ok_rows.drop_duplicates("sha256", keep="first").set_index("sha256")["uri"]
        frame.loc[repeated.index, "reason"] = "duplicate_content: " + repeated["sha256"]
        frame.loc[repeated.index, "duplicate_of"] = repeated["sha256"].map(first_uri)
    for column in ("http_status", "attempts", "bytes"):
        if column in frame.columns:
            frame[column] = frame[column].fillna(0).astype("int64")
    for column in ("error_class", "final_url"):
        if column in frame.columns:
            frame[column] = frame[column].fillna("").astype(str)
    return frame


def run_ingest(cfg: IngestConfig, console: Console | None = None) -> IngestSummary:
    """Ingest every source of ``cfg`` into ``cfg.out``; resumable and incremental."""
    if not cfg.has_sources():
        raise ValueError("ingest has no sources: give dirs, tables or crawl (params.yaml `ingest:` or the CLI)")
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / LOCK_NAME), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RuntimeError(f"another ingest is writing to {out} (lock {out / LOCK_NAME}); wait for it to finish") from None
    try:
        remove_stale_temporaries(out)
        store = RawStore(objects_dir(out))
        meter = Meter()
        with Journal(out / JOURNAL_NAME, batch_size=cfg.journal_batch) as journal:
            resolved = asyncio.run(_run_async(cfg, store, journal, meter, console))
            if os.environ.get(KILL_ENV) == "manifest":
                os.kill(os.getpid(), signal.SIGKILL)
            frame = finalize_rows(journal.read_rows(resolved))
            journal.compact()
        path = write_raw_manifest(frame, out)
        return IngestSummary.from_manifest(frame, str(out), str(path), meter)
    finally:
        lock.release()
