"""Append-only journal of finished items: what makes a killed ingest resumable.

One JSON object per line, appended in batches and fsynced, written only after the item's
bytes are safely in the raw store. A kill can tear at most the last line, which is ignored
(and cut off) on the next open. The latest record of an item wins.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

JOURNAL_NAME = "journal.jsonl"


class Journal:
    """Finished-item records by ``item_id``, persisted to ``<out>/journal.jsonl``."""

    def __init__(self, path: str | os.PathLike, batch_size: int = 256):
        self.path = Path(path)
        self.batch_size = batch_size
        self.records: dict[str, dict[str, Any]] = {}
        self._pending: list[str] = []
        self._load()
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - lives as long as the journal

    def _load(self) -> None:
        if not self.path.is_file():
            return
        good_bytes = 0
        with open(self.path, "rb") as fh:
            for line in fh:
                if not line.endswith(b"\n"):
                    break  # torn by a kill mid-write
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    break
                self.records[record["item_id"]] = record
                good_bytes += len(line)
        if good_bytes != self.path.stat().st_size:
            with open(self.path, "rb+") as fh:
                fh.truncate(good_bytes)

    def get(self, item_id: str) -> dict[str, Any] | None:
        return self.records.get(item_id)

    def add(self, record: dict[str, Any]) -> None:
        """Record a finished item; durable after the next ``flush`` (automatic every batch)."""
        self.records[record["item_id"]] = record
        self._pending.append(json.dumps(record, ensure_ascii=False) + "\n")
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        self._fh.write("".join(self._pending))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._pending.clear()

    def close(self) -> None:
        self.flush()
        self._fh.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
