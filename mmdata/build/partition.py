"""Process one partition: load raw bytes, clean and standardize each sample, write a work file.

A partition leaves ``part-%05d.bin`` and ``part-%05d.parquet``. The .bin holds each kept sample
already as tar members (headers, payloads, padding) in final member order: everything in a sample's
``json`` and ``cls`` is known from the plan, so finalize copies one byte range per sample into its
shard and adds only ``tok.npy`` (its ids need the finished vocabulary) at ``head_size`` bytes in.
The parquet has one record per sample (status, reason, stats, token ids into the partition's own
token list, dedup signatures, the byte range). It is written last and atomically: it is the
completion marker that lets a re-run after a kill skip the partition.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata import fields
from mmdata.atomic import atomic_path
from mmdata.build.config import BuildConfig
from mmdata.build.plan import Partition, SamplePlan, boot_id, effective_config, work_dir
from mmdata.build.standardize import DropSample, Processed, Standardizer
from mmdata.manifest import DROPPED, FAILED, OK, objects_dir
from mmdata.shards.tario import member_header, member_padding
from mmdata.store import RawStore

RECORD_SCHEMA = pa.schema([
    ("key", pa.string()), ("status", pa.string()), ("reason", pa.string()),
    ("stats", pa.string()),  # JSON {modality: {...}}
    *[(f"has_{m}", pa.bool_()) for m in fields.MODALITIES],
    ("token_ids", pa.binary()),  # int32 indices into the partition's token list; null when no text
    ("text_minhash", pa.binary()),  # uint64 MinHash values, empty when no text
    ("image_phash", pa.string()),
    ("content_hash", pa.string()),  # sha256 over the sample's raw item hashes (exact duplicates)
    ("offset", pa.int64()), ("size", pa.int64()),  # the sample's tar members in the partition's .bin
    ("head_size", pa.int64()),  # bytes of those members that sort before tok.npy
    ("payload_bytes", pa.int64()),  # field bytes without tar headers and padding, tok.npy excluded
])
TOKENS_METADATA = b"mmpipe.tokens"  # parquet metadata key: JSON list of the partition's distinct tokens
# Read-ahead of raw items in a partition (whichever limit comes first).
PREFETCH_SAMPLES = 64
PREFETCH_BYTES = 8 << 20
# Samples standardized back to back before they are written (their output bytes are held meanwhile).
KERNEL_BATCH, KERNEL_BATCH_BYTES = 32, 8 << 20
# Large write buffers: a sample is a dozen writes (headers, payloads, padding); fewer, larger syscalls.
WRITE_BUFFER = 1 << 20


def partition_paths(cfg: BuildConfig, index: int) -> tuple[Path, Path]:
    work = work_dir(cfg)
    return work / f"part-{index:05d}.bin", work / f"part-{index:05d}.parquet"


def _content_hash(plan: SamplePlan) -> str:
    digest = hashlib.sha256()
    for item in sorted(plan.items, key=lambda i: i.modality):
        digest.update(f"{item.modality}:{item.sha256};".encode())
    return digest.hexdigest()


def process_partition(cfg: BuildConfig, partition: Partition) -> dict:
    """Standardize every sample of ``partition`` (skipped when already done); return its counts."""
    import cv2

    cv2.setNumThreads(1)  # one core per worker: parallelism comes from partitions
    started = time.perf_counter()
    cfg = effective_config(cfg)
    blob_path, records_path = partition_paths(cfg, partition.index)
    if records_path.is_file():
        statuses = pq.read_table(records_path, columns=["status"]).column("status").to_pylist()
        return _summary(partition.index, statuses, resumed=True)
    standardizer = Standardizer(cfg.text, cfg.image, cfg.audio, signatures=cfg.dedup.near)
    writer = _PartitionWriter(RawStore(objects_dir(cfg.raw)), standardizer)
    # Work files skip the fsync where a crash that loses them is sure to discard them (see Partition.boot_id).
    durable = not partition.boot_id or partition.boot_id != boot_id()
    with atomic_path(blob_path, durable) as tmp_blob, open(tmp_blob, "wb", buffering=WRITE_BUFFER) as blob:
        for plan, processed, meta in writer.standardized(partition.samples):
            writer.add(plan, processed, meta, blob)
    table = pa.table(writer.columns, schema=RECORD_SCHEMA)
    table = table.replace_schema_metadata({TOKENS_METADATA: json.dumps(list(writer.token_index))})
    with atomic_path(records_path, durable) as tmp:
        pq.write_table(table, tmp)
    summary = _summary(partition.index, writer.columns["status"], resumed=False)
    return {**summary, "seconds": round(time.perf_counter() - started, 3)}


_QUALITY_PLACEHOLDER = '"quality": null'


def _meta_template(plan: SamplePlan) -> str:
    """The sample's ``json`` field with ``"quality": null`` for the stats, spliced in once they are known:
    json.dumps(meta) with them inside gives the same text (same options all the way down), and no string
    value can contain the placeholder unescaped."""
    meta = {"key": plan.key, "label": plan.label, "label_id": plan.label_id, "split": plan.split,
            "group": plan.group, "quality": None,
            "sources": [{"modality": i.modality, "sha256": i.sha256, "uri": i.uri} for i in plan.items]}
    return json.dumps(meta, sort_keys=True, ensure_ascii=False)


class _TokenIndex(dict):
    """Token -> local id; an unseen token gets the next id (lookups stay in C for known tokens)."""

    def __missing__(self, token: str) -> int:
        self[token] = index = len(self)
        return index


class _PartitionWriter:
    """Standardizes samples into tar members on the .bin and gathers the parquet's columns."""

    def __init__(self, store: RawStore, standardizer: Standardizer):
        self.store, self.standardizer = store, standardizer
        self.columns: dict[str, list] = {name: [] for name in RECORD_SCHEMA.names}
        self.token_index = _TokenIndex()
        self._has = [(m, self.columns[f"has_{m}"]) for m in fields.MODALITIES]

    def prefetched(self, samples: list[SamplePlan]) -> Iterator[tuple[SamplePlan, dict | Exception, str]]:
        """``(plan, raw bytes by modality or the error reading them, json meta template)`` in sample order.

        Read ahead in small batches: file reads and serialization run in a tight loop several times
        faster than one at a time between two kernel calls (which leave the caches cold).
        """
        batch: list[tuple[SamplePlan, dict | Exception, str]] = []
        size = 0
        for plan in samples:
            try:
                raw = {item.modality: self.store.get(item.sha256) for item in plan.items}
                size += sum(len(data) for data in raw.values())
            except Exception as err:  # noqa: BLE001  -- the sample fails alone, in add
                raw = err
            batch.append((plan, raw, _meta_template(plan)))
            if len(batch) >= PREFETCH_SAMPLES or size >= PREFETCH_BYTES:
                yield from batch
                batch, size = [], 0
        yield from batch

    def standardized(self, samples: list[SamplePlan]) -> Iterator[tuple[SamplePlan, Processed | Exception, str]]:
        """``(plan, processed sample or why it was not, json meta template)`` in sample order.

        The kernels run over a batch before its samples are written: back to back they keep their
        tables and buffers in the CPU caches, which writing each sample's output in between evicts.
        """
        batch: list[tuple[SamplePlan, Processed | Exception, str]] = []
        size = 0
        for plan, raw, meta in self.prefetched(samples):
            try:
                if isinstance(raw, Exception):
                    raise raw
                outcome: Processed | Exception = self.standardizer.process(raw)
                size += sum(len(data) for data in outcome.fields.values())
            except Exception as err:  # noqa: BLE001  -- one bad sample fails alone, recorded in add
                outcome = err.with_traceback(None)  # its frames would hold the sample's arrays until written
            batch.append((plan, outcome, meta))
            if len(batch) >= KERNEL_BATCH or size >= KERNEL_BATCH_BYTES:
                yield from batch
                batch, size = [], 0
        yield from batch

    def add(self, plan: SamplePlan, processed: Processed | Exception, meta: str, blob: BinaryIO) -> None:
        if isinstance(processed, DropSample):
            self._append_verdict(plan, DROPPED, processed.reason)
            return
        if isinstance(processed, Exception):
            self._append_verdict(plan, FAILED, f"{type(processed).__name__}: {processed}"[:500])
            return
        stats = processed.stats
        quality = json.dumps(stats, sort_keys=True, ensure_ascii=False)
        meta_json = meta.replace(_QUALITY_PLACEHOLDER, f'"quality": {quality}', 1)
        sample = dict(processed.fields)
        sample[fields.META] = meta_json.encode("utf-8")
        if plan.label_id >= 0:
            sample[fields.CLASS] = str(plan.label_id).encode()
        offset = blob.tell()
        head_size = size = payload = 0
        for field in sorted(sample):
            data = sample[field]
            header = member_header(f"{plan.shard_key}.{field}", len(data))
            padding = member_padding(len(data))
            blob.write(header)
            blob.write(data)
            blob.write(padding)
            size += len(header) + len(data) + len(padding)
            payload += len(data)
            if field < fields.TOKENS:
                head_size = size
        columns = self.columns
        # The stats column keeps json.dumps' default ASCII escaping: the same text unless a stat is non-ASCII.
        stats_json = quality if quality.isascii() else json.dumps(stats, sort_keys=True)
        for name, value in (("key", plan.key), ("status", OK), ("reason", ""), ("stats", stats_json),
                            ("token_ids", self._token_ids(processed.tokens)),
                            ("text_minhash", b"" if processed.text_minhash is None else processed.text_minhash.tobytes()),
                            ("image_phash", processed.image_phash or ""), ("content_hash", _content_hash(plan)),
                            ("offset", offset), ("size", size), ("head_size", head_size), ("payload_bytes", payload)):
            columns[name].append(value)
        for modality, column in self._has:
            column.append(modality in stats)

    def _token_ids(self, tokens: list[str] | None) -> bytes | None:
        if tokens is None:
            return None
        return np.fromiter(map(self.token_index.__getitem__, tokens), dtype=np.int32, count=len(tokens)).tobytes()

    def _append_verdict(self, plan: SamplePlan, status: str, reason: str) -> None:
        for name, value in (("key", plan.key), ("status", status), ("reason", reason), ("stats", "{}"),
                            ("token_ids", None), ("text_minhash", b""), ("image_phash", ""),
                            ("content_hash", _content_hash(plan)), ("offset", 0), ("size", 0), ("head_size", 0),
                            ("payload_bytes", 0)):
            self.columns[name].append(value)
        for _modality, column in self._has:
            column.append(False)


def _summary(index: int, statuses: list[str], resumed: bool) -> dict:
    counts = Counter(statuses)
    return {"partition": index, "resumed": resumed, **{s: int(counts.get(s, 0)) for s in (OK, DROPPED, FAILED)}}
