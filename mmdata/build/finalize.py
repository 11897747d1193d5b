"""Finish a build: deduplicate, build the vocabulary, write shards, sidecars, stats and manifests."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata import fields
from mmdata.annotate.split import stable_hash
from mmdata.atomic import atomic_path, start_writeback, write_text_atomic
from mmdata.audio.kernels import npy_bytes
from mmdata.build.config import BuildConfig
from mmdata.build.dedup import Deduplicator
from mmdata.build.partition import TOKENS_METADATA, WRITE_BUFFER, partition_paths
from mmdata.build.plan import PLAN_FILE, effective_config, work_dir
from mmdata.build.standardize import LABELS_FILE, PREPROCESS_FILE, VOCAB_FILE, Standardizer
from mmdata.manifest import DROPPED, MANIFEST_NAME, OK, write_manifest
from mmdata.shards.tario import add_members, member_header, member_padding, open_tar_for_writing
from mmdata.text.tokens import vocab_from_counts

STATS_FILE = "stats.json"
SHARD_PATTERN = "shard-{:06d}"
WRITEBACK_CHUNK = 8 << 20  # shard bytes handed to the disk as they are written, not all at the final fsync


def _read_plan(work: Path) -> dict[str, list]:
    """The plan's columns (every raw key, sorted) as lists."""
    return pq.read_table(work / PLAN_FILE).to_pydict()


def _load_records(cfg: BuildConfig) -> tuple[list[dict], list[list[str]]]:
    """Every partition's records as plain dicts sorted by key (dedup keeps the earliest key), and each
    partition's token list (what its records' ``token_ids`` index)."""
    records, partition_tokens = [], []
    for index in range(cfg.partitions):
        _, records_path = partition_paths(cfg, index)
        if not records_path.is_file():
            raise RuntimeError(f"partition {index} has not finished ({records_path} missing); run the build again")
        table = pq.read_table(records_path)
        partition_tokens.append(json.loads(table.schema.metadata[TOKENS_METADATA]))
        columns = table.to_pydict()  # column by column: far cheaper than a dict per row from arrow
        names = [*columns, "partition"]
        records.extend(dict(zip(names, (*row, index), strict=True)) for row in zip(*columns.values(), strict=True))
    return sorted(records, key=lambda r: r["key"]), partition_tokens


def _train_token_counts(kept: list[dict], partition_tokens: list[list[str]]) -> Counter[str]:
    """How often each token occurs in the kept train samples: their partition-local ids counted with
    numpy, then named once per distinct token (not once per occurrence)."""
    ids_by_partition: dict[int, list[bytes]] = defaultdict(list)
    for record in kept:
        if record["split"] == "train" and record["token_ids"]:
            ids_by_partition[record["partition"]].append(record["token_ids"])
    counts: Counter[str] = Counter()
    for partition, chunks in sorted(ids_by_partition.items()):
        tokens = partition_tokens[partition]
        per_id = np.bincount(np.frombuffer(b"".join(chunks), np.int32), minlength=len(tokens))
        for token_id in np.flatnonzero(per_id).tolist():
            counts[tokens[token_id]] += int(per_id[token_id])
    return counts


def _modalities(record: dict) -> set[str]:
    return {m for m in fields.MODALITIES if record[f"has_{m}"]}


def finalize_build(cfg: BuildConfig, results: list[dict] | None = None) -> dict:
    """Write the final shard set from finished partitions; return the stats (also in stats.json)."""
    started = time.perf_counter()
    cfg = effective_config(cfg)
    out, work = Path(cfg.out), work_dir(cfg)
    plan = _read_plan(work)
    label_names: list[str] = json.loads((work / LABELS_FILE).read_text())
    label_id = {name: i for i, name in enumerate(label_names)}
    records, partition_tokens = _load_records(cfg)
    split_of = dict(zip(plan["key"], plan["split"], strict=True))
    dedup = Deduplicator(cfg.dedup)
    for record in records:
        record["split"] = split_of[record["key"]]
        if record["status"] != OK:
            continue
        reason = dedup.check(record["key"], record["content_hash"], _modalities(record), record["text_minhash"],
                             record["image_phash"])
        if reason:
            record["status"], record["reason"] = DROPPED, reason
    kept = [r for r in records if r["status"] == OK]
    if cfg.reuse_from:
        vocab = json.loads((Path(cfg.reuse_from) / VOCAB_FILE).read_text())
    else:
        vocab = vocab_from_counts(_train_token_counts(kept, partition_tokens), cfg.text.vocab_min_freq,
                                  cfg.text.vocab_max_size)
    standardizer = Standardizer(cfg.text, cfg.image, cfg.audio, vocab=vocab, labels=label_names)
    # Each partition's tokens mapped once to vocabulary ids; a sample's ids are then one array lookup.
    vocab_ids = [standardizer.token_array(tokens) for tokens in partition_tokens]
    shard_of = _write_all_splits(cfg, kept, plan, label_id, vocab_ids)
    manifest = _build_manifest(plan, records, shard_of)
    write_manifest(manifest, out / MANIFEST_NAME)
    write_text_atomic(out / LABELS_FILE, json.dumps(label_names, indent=1))
    write_text_atomic(out / VOCAB_FILE, json.dumps(vocab, ensure_ascii=False))
    write_text_atomic(out / PREPROCESS_FILE, json.dumps(standardizer.settings(), indent=1, sort_keys=True))
    stats = _stats(cfg, manifest, records, label_names, results, time.perf_counter() - started)
    write_text_atomic(out / STATS_FILE, json.dumps(stats, indent=1, sort_keys=True))
    shutil.rmtree(work, ignore_errors=True)
    return stats


def _sample_order(cfg: BuildConfig, records: list[dict]) -> list[dict]:
    if not cfg.shards.shuffle:
        return records
    return sorted(records, key=lambda r: (stable_hash(cfg.seed, "shard-order", r["key"]), r["key"]))


def _write_all_splits(cfg, kept: list[dict], plan: dict[str, list], label_id: dict,
                      vocab_ids: list[np.ndarray]) -> dict[str, str]:
    out = Path(cfg.out)
    row_of = {key: i for i, key in enumerate(plan["key"])}
    shard_of: dict[str, str] = {}
    handles: dict[int, BinaryIO] = {}
    written: set[Path] = set()
    try:
        for split in sorted({r["split"] for r in kept}):
            with ShardSink(out / split, cfg.shards.maxcount, cfg.shards.maxsize) as sink:
                for record in _sample_order(cfg, [r for r in kept if r["split"] == split]):
                    if record["partition"] not in handles:
                        handles[record["partition"]] = open(partition_paths(cfg, record["partition"])[0], "rb")  # noqa: SIM115 -- closed below
                    chunks, size = _members(record, plan["shard_key"][row_of[record["key"]]], handles[record["partition"]],
                                            vocab_ids[record["partition"]])
                    sink.add_members(chunks, size, _sidecar(record, plan, row_of[record["key"]], label_id, size))
            written |= sink.written
            shard_of.update(sink.shard_of)
    finally:
        for handle in handles.values():
            handle.close()
    _remove_stale_shards(out, written)
    return shard_of


def _members(record: dict, shard_key: str, blob: BinaryIO, vocab_ids: np.ndarray) -> tuple[tuple, int]:
    """The sample's tar members (the partition's bytes, with tok.npy put in its sorted place) and payload size."""
    blob.seek(record["offset"])
    view = memoryview(blob.read(record["size"]))
    if record["token_ids"] is None:
        return (view,), record["payload_bytes"]
    tokens = npy_bytes(vocab_ids[np.frombuffer(record["token_ids"], np.int32)])
    head = record["head_size"]
    chunks = (view[:head], member_header(f"{shard_key}.{fields.TOKENS}", len(tokens)), tokens,
              member_padding(len(tokens)), view[head:])
    return chunks, record["payload_bytes"] + len(tokens)


def _sidecar(record: dict, plan: dict[str, list], row: int, label_id: dict, size: int) -> dict:
    label = plan["label"][row]
    return {"key": record["key"], "shard_key": plan["shard_key"][row], "label": label,
            "label_id": label_id.get(label, -1), "split": plan["split"][row], "group": plan["group"][row],
            **{f"has_{m}": record[f"has_{m}"] for m in fields.MODALITIES}, "bytes": size, "quality": record["stats"]}


class ShardSink:
    """Streams samples into ``shard-%06d.tar`` files (maxcount / maxsize), each renamed into place when full.

    Payloads go straight to the open temporary tar; only the small sidecar rows of the current
    shard are held, so memory does not grow with shard or corpus size.
    """

    def __init__(self, directory: Path, maxcount: int, maxsize: int):
        self.directory, self.maxcount, self.maxsize = directory, maxcount, maxsize
        self.index = 0
        self.written: set[Path] = set()
        self.shard_of: dict[str, str] = {}
        self._stack: contextlib.ExitStack | None = None
        self._tar = None
        self._handle: BinaryIO | None = None
        self._written_back = 0  # shard bytes whose writeback has been started
        self._rows: list[dict] = []
        self._bytes = 0

    def __enter__(self) -> ShardSink:
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if self._stack is not None:
            if kind is None:
                self._close_shard()
            else:
                self._stack.__exit__(kind, error, traceback)  # discards the temporary tar

    def add(self, shard_key: str, sample: dict[str, bytes], sidecar: dict) -> None:
        """Write ``sample``'s fields as ``<shard_key>.<field>`` members."""
        chunks = []
        for field in sorted(sample):
            data = sample[field]
            chunks += (member_header(f"{shard_key}.{field}", len(data)), data, member_padding(len(data)))
        self.add_members(chunks, sum(len(v) for v in sample.values()), sidecar)

    def add_members(self, chunks: Iterable[bytes | memoryview], size: int, sidecar: dict) -> None:
        """Write one sample given as encoded tar members; ``size`` is its payload bytes (what ``maxsize`` counts)."""
        if self._rows and (len(self._rows) >= self.maxcount or self._bytes + size > self.maxsize):
            self._close_shard()
        if self._stack is None:
            self._open_shard()
        add_members(self._tar, chunks)
        self._rows.append(sidecar)
        self._bytes += size
        if self._tar.offset - self._written_back >= WRITEBACK_CHUNK:
            self._handle.flush()
            start_writeback(self._handle.fileno(), self._written_back, self._tar.offset - self._written_back)
            self._written_back = self._tar.offset

    def _open_shard(self) -> None:
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.directory / f"{SHARD_PATTERN.format(self.index)}.tar"))
        handle = self._stack.enter_context(open(tmp, "wb", buffering=WRITE_BUFFER))  # noqa: SIM115 -- closed by the stack, after the tar
        self._tar = self._stack.enter_context(open_tar_for_writing(handle))
        self._handle, self._written_back = handle, 0

    def _close_shard(self) -> None:
        name = SHARD_PATTERN.format(self.index)
        self._stack.close()  # closes the tar, then renames it into place
        sidecar_path = self.directory / f"{name}.parquet"
        with atomic_path(sidecar_path) as tmp:
            pq.write_table(pa.Table.from_pylist(self._rows), tmp)
        for row in self._rows:
            self.shard_of[row["key"]] = f"{self.directory.name}/{name}.tar"
        self.written |= {self.directory / f"{name}.tar", sidecar_path}
        self._stack, self._tar, self._handle, self._rows, self._bytes = None, None, None, [], 0
        self.index += 1


def _remove_stale_shards(out: Path, written: set[Path]) -> None:
    """Shards of an earlier, larger build must not linger beside the new ones."""
    for path in list(out.glob("*/shard-*.tar")) + list(out.glob("*/shard-*.parquet")):
        if path not in written:
            path.unlink()
    for directory in out.iterdir():
        if directory.is_dir() and not directory.name.startswith(".") and not any(directory.iterdir()):
            directory.rmdir()


def _build_manifest(plan: dict[str, list], records: list[dict], shard_of: dict[str, str]) -> pd.DataFrame:
    """One row per raw key (plan order = sorted keys): the partition's verdict, else the plan's."""
    by_key = {r["key"]: r for r in records}
    statuses, reasons = [], []
    for key, status, reason in zip(plan["key"], plan["status"], plan["reason"], strict=True):
        verdict = by_key.get(key)
        statuses.append(verdict["status"] if verdict else status)
        reasons.append(verdict["reason"] if verdict else reason)
    return pd.DataFrame({
        "key": plan["key"], "status": statuses, "reason": reasons, "label": plan["label"], "group": plan["group"],
        "split": [split if status == OK else "" for split, status in zip(plan["split"], statuses, strict=True)],
        "shard": [shard_of.get(key, "") for key in plan["key"]]})


def _stats(cfg, manifest: pd.DataFrame, records: list[dict], label_names, results, finalize_s: float) -> dict:
    statuses = manifest["status"].tolist()
    modalities_of = {r["key"]: _modalities(r) for r in records if r["status"] == OK}
    ok_rows: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # split -> (key, label, group)
    for key, status, label, group, split in zip(manifest["key"].tolist(), statuses, manifest["label"].tolist(),
                                                manifest["group"].tolist(), manifest["split"].tolist(), strict=True):
        if status == OK:
            ok_rows[split].append((key, label, group))
    splits: dict[str, dict] = {}
    for split in sorted(ok_rows):
        rows = ok_rows[split]
        coverage: Counter = Counter()
        for key, _, _ in rows:
            coverage.update(modalities_of[key])
        shard_dir = Path(cfg.out) / split
        classes = dict(sorted(Counter(label for _, label, _ in rows).items()))
        tars = list(shard_dir.glob("shard-*.tar"))
        splits[split] = {
            "samples": len(rows),
            "classes": classes,
            # Class-balance report: how far the largest class outnumbers the smallest present one.
            "class_imbalance": round(max(classes.values()) / min(classes.values()), 3),
            "modalities": {m: int(coverage.get(m, 0)) for m in fields.MODALITIES},
            "groups": len({group for _, _, group in rows if group}),
            "shards": len(tars),
            "bytes": sum(p.stat().st_size for p in tars),
        }
    reasons: dict[str, int] = defaultdict(int)
    for status, reason in zip(statuses, manifest["reason"].tolist(), strict=True):
        if status != OK:
            reasons[_reason_class(reason)] += 1
    partition_timings = [r for r in (results or []) if isinstance(r, dict)]
    counts = Counter(statuses)
    return {
        "samples": {"total": len(manifest), **{s: counts.get(s, 0) for s in ("ok", "dropped", "failed")}},
        "labels": label_names,
        "splits": splits,
        "drop_reasons": dict(sorted(reasons.items())),
        "timings": {"finalize_s": round(finalize_s, 3),
                    "partition_s": {str(r["partition"]): r.get("seconds") for r in partition_timings}},
    }


def _reason_class(reason: str) -> str:
    """Group reasons by their stable part: ``image:image_undecodable: OSError: ...`` -> ``image:image_undecodable``."""
    head = reason.split(": ", 1)[0]
    return head.split(":", 1)[0] if "_duplicate_of:" in head else head
