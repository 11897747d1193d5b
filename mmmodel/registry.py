"""A small file-based model registry: ``models/registry.json``, one record per trained model.

Each record says where the model lives, what data and params made it (data version, train
config, git revision), how it scored, and its status. Exactly one record at a time is the
``champion`` (what `mm predict` uses by default); a nightly ``challenger`` becomes champion only
when it wins; otherwise it is ``rejected``. A challenger whose training or evaluation broke is
``failed``; a replaced champion becomes ``retired``.

Writes hold a lock file beside the registry and replace the file atomically, so concurrent
writers never lose each other's records and a reader never sees a half-written file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from filelock import FileLock
from rich.table import Table

from mmdata.atomic import write_text_atomic

DEFAULT_REGISTRY = Path("models/registry.json")
REGISTRY_ENV = "MMPIPE_REGISTRY"  # overrides DEFAULT_REGISTRY (relative paths: from the working directory)
FORMAT_VERSION = 1
DATA_STAGES = ("ingest", "build")  # dvc.yaml stages whose outputs are the data a model is trained on

CHAMPION, CHALLENGER, REJECTED, FAILED, RETIRED = "champion", "challenger", "rejected", "failed", "retired"
STATUSES = (CHAMPION, CHALLENGER, REJECTED, FAILED, RETIRED)


@dataclasses.dataclass(frozen=True)
class ModelRecord:
    """One registered model (records are replaced, never mutated)."""

    id: str
    model_dir: str
    status: str
    created: str  # ISO 8601, UTC
    data_version: dict[str, Any] = dataclasses.field(default_factory=dict)  # {"source", "hash", "parts"}
    params: dict[str, Any] = dataclasses.field(default_factory=dict)  # the train config
    git_revision: str | None = None
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)  # headline metrics on the held-out split
    reason: str = ""  # why the status (decision, error)
    comparison: dict[str, Any] = dataclasses.field(default_factory=dict)  # nightly: champion vs this model

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown model status {self.status!r}; choose from {STATUSES}")

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> ModelRecord:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in body.items() if k in known})


def default_registry_path() -> Path:
    """``$MMPIPE_REGISTRY``, else params.yaml ``nightly.registry``, else ``models/registry.json`` (relative paths:
    from the working directory)."""
    if os.environ.get(REGISTRY_ENV):
        return Path(os.environ[REGISTRY_ENV])
    from mmdata.params import load_params

    return Path((load_params().get("nightly") or {}).get("registry") or DEFAULT_REGISTRY)


def new_model_id(now: datetime | None = None) -> str:
    """Sortable, unique id such as ``20260101T020000Z-1a2b3c``."""
    now = now or datetime.now(timezone.utc)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{os.urandom(3).hex()}"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Registry:
    """The records of one registry file; every change is a locked read-modify-atomic-write."""

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_registry_path()
        self._lock = FileLock(self.path.parent / f".{self.path.name}.lock", timeout=60)

    def records(self) -> list[ModelRecord]:
        """All records, oldest first; an absent registry has none."""
        if not self.path.is_file():
            return []
        body = json.loads(self.path.read_text())
        return [ModelRecord.from_dict(r) for r in body.get("models", [])]

    def get(self, model_id: str) -> ModelRecord:
        for record in self.records():
            if record.id == model_id:
                return record
        raise KeyError(f"model {model_id!r} is not in {self.path}")

    def champion(self) -> ModelRecord | None:
        return next((r for r in self.records() if r.status == CHAMPION), None)

    def add(self, record: ModelRecord) -> ModelRecord:
        """Append ``record``; a new champion retires the previous one."""

        def change(records: list[ModelRecord]) -> list[ModelRecord]:
            if any(r.id == record.id for r in records):
                raise ValueError(f"model {record.id!r} is already registered")
            if record.status == CHAMPION:
                records = [_retire(r, record.id) for r in records]
            return [*records, record]

        self._write(change)
        return record

    def update(self, model_id: str, **changes: Any) -> ModelRecord:
        """Replace fields of one record (status champion retires the previous champion)."""
        updated: list[ModelRecord] = []

        def change(records: list[ModelRecord]) -> list[ModelRecord]:
            if not any(r.id == model_id for r in records):
                raise KeyError(f"model {model_id!r} is not in {self.path}")
            out = []
            for r in records:
                if r.id == model_id:
                    r = dataclasses.replace(r, **changes)
                    updated.append(r)
                elif changes.get("status") == CHAMPION:
                    r = _retire(r, model_id)
                out.append(r)
            return out

        self._write(change)
        return updated[0]

    def promote(self, model_id: str, reason: str = "") -> ModelRecord:
        """Make ``model_id`` the champion (the previous champion is retired)."""
        return self.update(model_id, status=CHAMPION, reason=reason)

    def _write(self, change: Callable[[list[ModelRecord]], list[ModelRecord]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            records = change(self.records())
            body = {"version": FORMAT_VERSION, "models": [dataclasses.asdict(r) for r in records]}
            write_text_atomic(self.path, json.dumps(body, indent=1) + "\n")


def _retire(record: ModelRecord, by: str) -> ModelRecord:
    if record.status != CHAMPION:
        return record
    return dataclasses.replace(record, status=RETIRED, reason=f"replaced by {by}")


def champion_dir(registry: str | os.PathLike | None = None) -> Path | None:
    """Directory of the registry's champion, or None when there is none (used by `mm predict`)."""
    champion = Registry(registry).champion()
    return Path(champion.model_dir) if champion else None



def register_model_dir(registry: Registry, model_dir: str | os.PathLike, metrics: dict[str, Any] | None = None,
                       reason: str = "registered by hand") -> ModelRecord:
    """Record a trained model directory as the champion, with its data version, params and git revision.

    ``metrics`` are that model's evaluation (``metrics.json``); they are kept only when they name
    this model directory, so a stale report never lends its numbers to another model.
    """
    from mmmodel.nightly import headline

    model_dir = Path(model_dir)
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{model_dir} is not a model directory (no config.json)")
    train = json.loads(config_path.read_text())["train"]
    metrics = headline(metrics) if metrics and metrics.get("model") == str(model_dir) else {}
    return registry.add(ModelRecord(id=new_model_id(), model_dir=str(model_dir), status=CHAMPION, created=utc_now(),
                                    data_version=data_version(train["shards"]), params=train,
                                    git_revision=git_revision(), metrics=metrics, reason=reason))

def data_version(shards: str | os.PathLike, dvc_lock: str | os.PathLike = "dvc.lock") -> dict[str, Any]:
    """What data a model saw: {"source", "hash", "shards_hash", "parts"}.

    ``hash`` comes from the data stages' outputs in ``dvc.lock`` when it tracks ``shards``, else it is the
    shard-stats hash. ``shards_hash`` is always the shards' own (a nightly build outside `dvc repro` changes
    the shards before ``dvc.lock`` catches up, so both are kept).
    """
    shards = Path(shards)
    shards_hash = shards_stats_hash(shards)
    lock_path = Path(dvc_lock)
    if lock_path.is_file():
        stages = (yaml.safe_load(lock_path.read_text()) or {}).get("stages", {})
        outs = {f"{stage}:{out['path']}": out.get("md5", "") for stage, body in sorted(stages.items())
                for out in body.get("outs", [])}
        if any(Path(key.split(":", 1)[1]) == shards for key in outs):
            parts = {k: v for k, v in outs.items() if k.split(":", 1)[0] in DATA_STAGES} or outs
            return {"source": "dvc.lock", "hash": _digest(parts), "shards_hash": shards_hash, "parts": parts}
    return {"source": "shards", "hash": shards_hash, "shards_hash": shards_hash, "parts": {"shards": str(shards)}}


def shards_stats_hash(shards: Path) -> str:
    """Hash of the build's stats.json, or of every file's name and size when the shards have none."""
    stats = shards / "stats.json"
    if stats.is_file():
        parts = {"stats.json": hashlib.sha256(stats.read_bytes()).hexdigest()}
    else:
        parts = {str(p.relative_to(shards)): str(p.stat().st_size) for p in sorted(shards.rglob("*")) if p.is_file()}
    return _digest(parts)


def _digest(parts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def git_revision(cwd: str | os.PathLike = ".") -> str | None:
    """``HEAD`` of the checkout (with ``-dirty`` when tracked files changed); None outside git."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=30)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


STATUS_STYLE = {CHAMPION: "bold green", CHALLENGER: "yellow", REJECTED: "dim", FAILED: "red", RETIRED: "dim"}


def records_table(records: list[ModelRecord], metric: str = "macro_f1") -> Table:
    """Rich table of the registry, newest first."""
    table = Table(title="model registry")
    for column in ("id", "status", "created", metric, "accuracy", "data", "git", "model dir", "reason"):
        table.add_column(column, overflow="fold")
    for r in reversed(records):
        style = STATUS_STYLE.get(r.status, "")
        table.add_row(
            r.id, f"[{style}]{r.status}[/]", r.created, _fmt(r.metrics.get(metric)), _fmt(r.metrics.get("accuracy")),
            f"{r.data_version.get('source', '-')}:{r.data_version.get('hash', '-')[:8]}",
            (r.git_revision or "-")[:12], r.model_dir, r.reason,
        )
    return table


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"
