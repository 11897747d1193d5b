"""Finish a build: deduplicate, build the vocabulary, write shards, sidecars, stats and manifests."""

from __future__ import annotations

import contextlib
import json
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata import fields
from mmdata.annotate.split import stable_hash
from mmdata.atomic import atomic_path, write_text_atomic
from mmdata.audio.kernels import npy_bytes
from mmdata.build.config import BuildConfig
from mmdata.build.dedup import Deduplicator
from mmdata.build.partition import partition_paths
from mmdata.build.plan import PLAN_FILE, effective_config, work_dir
from mmdata.build.standardize import LABELS_FILE, PREPROCESS_FILE, VOCAB_FILE, Standardizer
from mmdata.manifest import DROPPED, MANIFEST_NAME, OK, write_manifest
from mmdata.shards.tario import add_sample, open_tar_for_writing
from mmdata.text.tokens import build_vocab

STATS_FILE = "stats.json"
SHARD_PATTERN = "shard-{:06d}"


def _load_records(cfg: BuildConfig) -> list[dict]:
    """Every partition's records as plain dicts, sorted by key (dedup keeps the earliest key)."""
    records = []
    for index in range(cfg.partitions):
        _, records_path = partition_paths(cfg, index)
        if not records_path.is_file():
            raise RuntimeError(f"partition {index} has not finished ({records_path} missing); run the build again")
        for record in pq.read_table(records_path).to_pylist():
            record["partition"] = index
            records.append(record)
    return sorted(records, key=lambda r: r["key"])


def _read_member(handles: dict, cfg: BuildConfig, partition: int, offset: int, size: int) -> bytes:
    if partition not in handles:
        handles[partition] = open(partition_paths(cfg, partition)[0], "rb")  # noqa: SIM115 -- closed in finalize
    handle = handles[partition]
    handle.seek(offset)
    return handle.read(size)


def finalize_build(cfg: BuildConfig, results: list[dict] | None = None) -> dict:
    """Write the final shard set from finished partitions; return the stats (also in stats.json)."""
    started = time.perf_counter()
    cfg = effective_config(cfg)
    out, work = Path(cfg.out), work_dir(cfg)
    plan = {row["key"]: row for row in pq.read_table(work / PLAN_FILE).to_pylist()}
    label_names: list[str] = json.loads((work / LABELS_FILE).read_text())
    label_id = {name: i for i, name in enumerate(label_names)}
    records = _load_records(cfg)
    dedup = Deduplicator(cfg.dedup)
    for record in records:
        record["split"] = plan[record["key"]]["split"]
        if record["status"] != OK:
            continue
        modalities = set(json.loads(record["stats"]))
        reason = dedup.check(record["key"], record["content_hash"], modalities, record["text_minhash"],
                             record["image_phash"])
        if reason:
            record["status"], record["reason"] = DROPPED, reason
    kept = [r for r in records if r["status"] == OK]
    if cfg.reuse_from:
        vocab = json.loads((Path(cfg.reuse_from) / VOCAB_FILE).read_text())
    else:
        train_tokens = (r["tokens"] for r in kept if r["split"] == "train" and r["tokens"] is not None)
        vocab = build_vocab(train_tokens, cfg.text.vocab_min_freq, cfg.text.vocab_max_size)
    standardizer = Standardizer(cfg.text, cfg.image, cfg.audio, vocab=vocab, labels=label_names)
    shard_of = _write_all_splits(cfg, kept, plan, label_id, standardizer)
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


def _write_all_splits(cfg, kept: list[dict], plan: dict, label_id: dict, standardizer) -> dict[str, str]:
    out = Path(cfg.out)
    shard_of: dict[str, str] = {}
    handles: dict[int, object] = {}
    written: set[Path] = set()
    try:
        for split in sorted({r["split"] for r in kept}):
            with ShardSink(out / split, cfg.shards.maxcount, cfg.shards.maxsize) as sink:
                for record in _sample_order(cfg, [r for r in kept if r["split"] == split]):
                    sink.add(*_assemble(record, plan[record["key"]], label_id, standardizer, handles, cfg))
            written |= sink.written
            shard_of.update(sink.shard_of)
    finally:
        for handle in handles.values():
            handle.close()
    _remove_stale_shards(out, written)
    return shard_of


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
        size = sum(len(v) for v in sample.values())
        if self._rows and (len(self._rows) >= self.maxcount or self._bytes + size > self.maxsize):
            self._close_shard()
        if self._stack is None:
            self._open_shard()
        add_sample(self._tar, shard_key, sample)
        self._rows.append(sidecar)
        self._bytes += size

    def _open_shard(self) -> None:
        self._stack = contextlib.ExitStack()
        tmp = self._stack.enter_context(atomic_path(self.directory / f"{SHARD_PATTERN.format(self.index)}.tar"))
        self._tar = self._stack.enter_context(open_tar_for_writing(tmp))

    def _close_shard(self) -> None:
        name = SHARD_PATTERN.format(self.index)
        self._stack.close()  # closes the tar, then renames it into place
        sidecar_path = self.directory / f"{name}.parquet"
        with atomic_path(sidecar_path) as tmp:
            pq.write_table(pa.Table.from_pylist(self._rows), tmp)
        for row in self._rows:
            self.shard_of[row["key"]] = f"{self.directory.name}/{name}.tar"
        self.written |= {self.directory / f"{name}.tar", sidecar_path}
        self._stack, self._tar, self._rows, self._bytes = None, None, [], 0
        self.index += 1


def _assemble(record: dict, planned: dict, label_id, standardizer, handles, cfg) -> tuple[str, dict, dict]:
    key = record["key"]
    members = json.loads(record["members"])
    sample = {f: _read_member(handles, cfg, record["partition"], off, size) for f, (off, size) in members.items()}
    if record["tokens"] is not None:
        sample[fields.TOKENS] = npy_bytes(standardizer.token_array(record["tokens"]))
    label = planned["label"]
    meta = {"key": key, "label": label, "label_id": label_id.get(label, -1), "split": planned["split"],
            "group": planned["group"], "quality": json.loads(record["stats"]), "sources": json.loads(planned["sources"])}
    sample[fields.META] = json.dumps(meta, sort_keys=True, ensure_ascii=False).encode("utf-8")
    if label in label_id:
        sample[fields.CLASS] = str(label_id[label]).encode()
    sidecar = {"key": key, "shard_key": planned["shard_key"], "label": label, "label_id": meta["label_id"],
               "split": planned["split"], "group": planned["group"],
               **{f"has_{m}": fields.payload_field(sample, m) is not None for m in fields.MODALITIES},
               "bytes": sum(len(v) for v in sample.values()), "quality": record["stats"]}
    return planned["shard_key"], sample, sidecar


def _remove_stale_shards(out: Path, written: set[Path]) -> None:
    """Shards of an earlier, larger build must not linger beside the new ones."""
    for path in list(out.glob("*/shard-*.tar")) + list(out.glob("*/shard-*.parquet")):
        if path not in written:
            path.unlink()
    for directory in out.iterdir():
        if directory.is_dir() and not directory.name.startswith(".") and not any(directory.iterdir()):
            directory.rmdir()


def _build_manifest(plan: dict, records: list[dict], shard_of: dict[str, str]) -> pd.DataFrame:
    """One row per raw key (plan order = sorted keys): the partition's verdict, else the plan's."""
    by_key = {r["key"]: r for r in records}
    rows = []
    for key, planned in plan.items():
        verdict = by_key.get(key, planned)
        status = verdict["status"]
        rows.append({"key": key, "status": status, "reason": verdict["reason"], "label": planned["label"],
                     "group": planned["group"], "split": planned["split"] if status == OK else "",
                     "shard": shard_of.get(key, "")})
    return pd.DataFrame(rows, columns=["key", "status", "reason", "label", "group", "split", "shard"])


def _stats(cfg, manifest: pd.DataFrame, records: list[dict], label_names, results, finalize_s: float) -> dict:
    ok = manifest[manifest["status"] == OK]
    modalities_of = {r["key"]: json.loads(r["stats"]).keys() for r in records if r["status"] == OK}
    splits: dict[str, dict] = {}
    for split, frame in ok.groupby("split"):
        coverage: Counter = Counter()
        for key in frame["key"]:
            coverage.update(modalities_of[key])
        shard_dir = Path(cfg.out) / split
        classes = {k: int(v) for k, v in sorted(frame["label"].value_counts().items())}
        splits[split] = {
            "samples": len(frame),
            "classes": classes,
            # Class-balance report: how far the largest class outnumbers the smallest present one.
            "class_imbalance": round(max(classes.values()) / min(classes.values()), 3),
            "modalities": {m: int(coverage.get(m, 0)) for m in fields.MODALITIES},
            "groups": int(frame["group"].replace("", np.nan).nunique()),
            "shards": len(list(shard_dir.glob("shard-*.tar"))),
            "bytes": sum(p.stat().st_size for p in shard_dir.glob("shard-*.tar")),
        }
    reasons: dict[str, int] = defaultdict(int)
    for reason in manifest.loc[manifest["status"] != OK, "reason"]:
        reasons[_reason_class(reason)] += 1
    partition_timings = [r for r in (results or []) if isinstance(r, dict)]
    return {
        "samples": {"total": len(manifest), **{s: int((manifest["status"] == s).sum()) for s in ("ok", "dropped", "failed")}},
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
