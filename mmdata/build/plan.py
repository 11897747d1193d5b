"""Plan a build: samples from the raw manifest, labels, splits, and fixed partitions of the work."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from mmdata import fields
from mmdata.annotate.labels import resolve_labels
from mmdata.annotate.split import assign_splits, stable_hash
from mmdata.atomic import atomic_path, write_text_atomic
from mmdata.build.config import BuildConfig
from mmdata.build.standardize import LABELS_FILE, PREPROCESS_FILE
from mmdata.manifest import OK, manifest_path, read_raw_manifest

WORK_DIR = ".work"
PLAN_FILE = "plan.parquet"
# Layout of the work files; part of the fingerprint, so partitions left by another layout are redone.
WORK_FORMAT = "2"
_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9_\-]")
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


# Plain dataclasses, never mutated: one per raw item and sample, where pydantic models cost several
# microseconds each to build and twice as much to pickle to a worker.
@dataclasses.dataclass(slots=True)
class SampleItem:
    modality: str
    sha256: str
    uri: str


@dataclasses.dataclass(slots=True)
class SamplePlan:
    key: str  # raw key
    shard_key: str  # key as written into tars (no dots or slashes, which WebDataset would split on)
    label: str
    group: str
    split: str
    items: list[SampleItem]
    label_id: int = -1  # index in labels.json; -1 (and no cls field) when the label is not in it


class Partition(BaseModel):
    index: int
    samples: list[SamplePlan]
    # The planning machine's boot: a partition run in that same boot writes its work files without
    # fsync, since a crash that could lose them also changes the boot id in the work fingerprint.
    boot_id: str = ""


def boot_id() -> str:
    """This boot of this machine ("" where the system does not say)."""
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def work_dir(cfg: BuildConfig) -> Path:
    return Path(cfg.out) / WORK_DIR


def shard_key_of(key: str) -> str:
    """A WebDataset-safe key: unsafe characters replaced, plus a short hash when anything changed."""
    safe = _UNSAFE_KEY_CHARS.sub("_", key)
    if safe == key and key:
        return key
    return f"{safe[:80]}_{hashlib.sha1(key.encode('utf-8')).hexdigest()[:8]}"


def effective_config(cfg: BuildConfig) -> BuildConfig:
    """With ``reuse_from``: the training build's standardization settings replace ours."""
    if not cfg.reuse_from:
        return cfg
    if Path(cfg.reuse_from).resolve() == Path(cfg.out).resolve():
        raise ValueError(f"--reuse-from {cfg.reuse_from} is the output itself; write the new set to another --out")
    path = Path(cfg.reuse_from) / PREPROCESS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"--reuse-from {cfg.reuse_from}: no {PREPROCESS_FILE} there (not a finished build)")
    settings = json.loads(path.read_text())
    return cfg.model_copy(update={k: type(getattr(cfg, k)).model_validate(settings[k]) for k in ("text", "image", "audio")})


def _natural(label: str) -> tuple:
    return (0, int(label), "") if label.isdigit() else (1, 0, label)


def _fingerprint(cfg: BuildConfig, boot: str) -> str:
    settings = cfg.model_dump_json(exclude={"out", "workers", "dask_address", "lock_timeout_s"})
    # The boot id: work files of a boot that ended (perhaps in a crash) may be incomplete on disk.
    digest = hashlib.sha256(f"{WORK_FORMAT}\n{boot}\n{settings}".encode())
    digest.update(manifest_path(cfg.raw).read_bytes())
    return digest.hexdigest()


def _prepare_work_dir(cfg: BuildConfig, boot: str) -> Path:
    """Keep finished partitions only when inputs and settings are unchanged and the machine has not
    restarted since (resume); else start afresh."""
    work = work_dir(cfg)
    marker = work / "fingerprint"
    fingerprint = _fingerprint(cfg, boot)
    if work.exists() and (not marker.is_file() or marker.read_text() != fingerprint):
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        write_text_atomic(marker, fingerprint)
    return work


def plan_partitions(cfg: BuildConfig) -> list[Partition]:
    """Read the raw manifest, resolve labels and splits, and cut the samples into ``cfg.partitions`` parts.

    Writes ``<out>/.work/plan.parquet`` with every raw key and, for keys that cannot be built at all
    (no ok item, no label, a label unknown to the reused training set), the reason.
    """
    cfg = effective_config(cfg)
    if cfg.partitions < 1:
        raise ValueError("build.partitions must be >= 1")
    raw = read_raw_manifest(cfg.raw)
    boot = boot_id()
    work = _prepare_work_dir(cfg, boot)
    columns = ("key", "modality", "uri", "status", "reason", "sha256", "label", "group")
    rows_by_key: dict[str, list[tuple]] = defaultdict(list)
    for row in zip(*(raw[name].tolist() for name in columns), strict=True):
        rows_by_key[row[0]].append(row)
    items: dict[str, list[SampleItem]] = {}
    source_labels: dict[str, str] = {}
    groups: dict[str, str] = {}
    verdicts: dict[str, tuple[str, str]] = {}  # key -> (status, reason), for every raw key
    for key in sorted(rows_by_key):
        rows = rows_by_key[key]  # tuples in the order of ``columns``
        ok_rows = sorted((r for r in rows if r[3] == OK and r[1] in fields.MODALITIES), key=lambda r: (r[1], r[2]))
        chosen: dict[str, SampleItem] = {}
        for row in ok_rows:
            if row[1] not in chosen:
                chosen[row[1]] = SampleItem(row[1], row[5], row[2])
        source_labels[key] = next((r[6] for r in rows if r[6]), "")
        groups[key] = next((r[7] for r in rows if r[7]), "")
        if chosen:
            items[key] = list(chosen.values())
        else:
            first = next((r for r in rows if r[3] != OK), rows[0])
            reason = f"raw_{first[3]}: {first[4]}" if first[3] != OK else "no_supported_modality"
            verdicts[key] = ("dropped", reason)
    labels = resolve_labels(source_labels, {k: [i.uri for i in v] for k, v in items.items()}, cfg.labels)
    if cfg.reuse_from:
        label_names = json.loads((Path(cfg.reuse_from) / LABELS_FILE).read_text())
    else:
        label_names = sorted({labels[k] for k in items if k in labels}, key=_natural)
    label_ids = {name: i for i, name in enumerate(label_names)}
    buildable: dict[str, tuple[str, str]] = {}
    for key in items:
        label = labels.get(key, "")
        if not label and cfg.labels.require_label:
            verdicts[key] = ("dropped", "missing_label")
        elif label and label not in label_ids:
            verdicts[key] = ("dropped", f"label_not_in_training_set: {label}")
        else:
            buildable[key] = (label, groups[key])
    if cfg.split:
        splits = dict.fromkeys(buildable, cfg.split)
    else:
        splits = assign_splits(buildable, cfg.splits, cfg.seed)
    parts: list[list[SamplePlan]] = [[] for _ in range(cfg.partitions)]
    for key, (label, group) in buildable.items():
        plan = SamplePlan(key=key, shard_key=shard_key_of(key), label=label, group=group, split=splits[key],
                          items=items[key], label_id=label_ids.get(label, -1))
        parts[stable_hash(key) % cfg.partitions].append(plan)
        verdicts[key] = ("planned", "")
    keys = sorted(verdicts)
    table = pa.table({
        "key": keys, "status": [verdicts[k][0] for k in keys], "reason": [verdicts[k][1] for k in keys],
        "shard_key": [shard_key_of(k) for k in keys],
        "label": [labels.get(k, source_labels.get(k, "")) for k in keys],
        "group": [groups.get(k, "") for k in keys], "split": [splits.get(k, "") for k in keys]})
    # Written afresh by every run before any partition starts: no fsync needed.
    with atomic_path(work / PLAN_FILE, durable=False) as tmp:
        pq.write_table(table, tmp)
    write_text_atomic(work / LABELS_FILE, json.dumps(label_names), durable=False)
    return [Partition(index=i, samples=samples, boot_id=boot) for i, samples in enumerate(parts)]
