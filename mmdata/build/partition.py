"""Process one partition: load raw bytes, clean and standardize each sample, write a work file.

A partition leaves ``part-%05d.bin`` (the standardized fields, concatenated) and ``part-%05d.parquet``
(one record per sample: status, reason, stats, tokens, signatures, field offsets into the .bin). The parquet is written last and
atomically: it is the completion marker that lets a re-run after a kill skip the partition.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.atomic import atomic_path
from mmdata.build.config import BuildConfig
from mmdata.build.plan import Partition, effective_config, work_dir
from mmdata.build.standardize import DropSample, Standardizer
from mmdata.manifest import DROPPED, FAILED, OK, objects_dir
from mmdata.store import RawStore

RECORD_SCHEMA = pa.schema([
    ("key", pa.string()), ("status", pa.string()), ("reason", pa.string()),
    ("stats", pa.string()),  # JSON {modality: {...}}
    ("tokens", pa.list_(pa.string())),
    ("text_minhash", pa.binary()),  # uint64 MinHash values, empty when no text
    ("image_phash", pa.string()),
    ("content_hash", pa.string()),  # sha256 over the sample's raw item hashes (exact duplicates)
    ("members", pa.string()),  # JSON {field: [offset, size]} into the partition's .bin
])


def partition_paths(cfg: BuildConfig, index: int) -> tuple[Path, Path]:
    work = work_dir(cfg)
    return work / f"part-{index:05d}.bin", work / f"part-{index:05d}.parquet"


def _content_hash(plan) -> str:
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
        return _summary(partition.index, pd.read_parquet(records_path, columns=["status"]), resumed=True)
    store = RawStore(objects_dir(cfg.raw))
    standardizer = Standardizer(cfg.text, cfg.image, cfg.audio)
    records = []
    with atomic_path(blob_path) as tmp_blob, open(tmp_blob, "wb") as blob:
        for plan in partition.samples:
            records.append(_process_sample(plan, store, standardizer, blob))
    table = pa.Table.from_pylist(records, schema=RECORD_SCHEMA)
    with atomic_path(records_path) as tmp:
        pq.write_table(table, tmp)
    summary = _summary(partition.index, table.select(["status"]).to_pandas(), resumed=False)
    return {**summary, "seconds": round(time.perf_counter() - started, 3)}


def _process_sample(plan, store: RawStore, standardizer: Standardizer, blob: BinaryIO) -> dict:
    record = {"key": plan.key, "status": OK, "reason": "", "stats": "{}", "tokens": None, "text_minhash": b"",
              "image_phash": "", "content_hash": _content_hash(plan), "members": "{}"}
    try:
        raw = {item.modality: store.get(item.sha256) for item in plan.items}
        processed = standardizer.process(raw)
    except DropSample as drop:
        return {**record, "status": DROPPED, "reason": drop.reason}
    except Exception as err:  # noqa: BLE001  -- one bad sample fails alone, recorded with its error
        return {**record, "status": FAILED, "reason": f"{type(err).__name__}: {err}"[:500]}
    members = {}
    for field in sorted(processed.fields):
        data = processed.fields[field]
        members[field] = [blob.tell(), len(data)]
        blob.write(data)
    record.update(stats=json.dumps(processed.stats, sort_keys=True), tokens=processed.tokens,
                  text_minhash=processed.text_minhash.tobytes() if processed.text_minhash is not None else b"",
                  image_phash=processed.image_phash or "", members=json.dumps(members, sort_keys=True))
    return record


def _summary(index: int, statuses: pd.DataFrame, resumed: bool) -> dict:
    counts = statuses["status"].value_counts().to_dict()
    return {"partition": index, "resumed": resumed, **{s: int(counts.get(s, 0)) for s in (OK, DROPPED, FAILED)}}
