"""Append-only journal of finished items: what makes a killed ingest resumable.

One JSON object per line, appended in batches and fsynced, written only after the item's
bytes are in the raw store. A kill can tear at most the last line, which is ignored (and cut
off) on the next open. The latest record of an item wins. In memory only a compact entry per
item is kept; the manifest is read back from the file at the end, column by column.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.json as pa_json

from mmdata.atomic import atomic_path
from mmdata.manifest import RAW_COLUMNS

JOURNAL_NAME = "journal.jsonl"
_INT_COLUMNS = ("bytes", "attempts", "http_status")
_TEXT_COLUMNS = (*(c for c in RAW_COLUMNS if c not in _INT_COLUMNS), "item_id", "error_class", "final_url")
_SCHEMA = pa.schema([(c, pa.int64()) for c in _INT_COLUMNS] + [(c, pa.string()) for c in _TEXT_COLUMNS])


class JournalEntry(NamedTuple):
    """What a re-run needs to know about a finished item without its full row."""

    status: str
    sha256: str
    bytes: int
    fingerprint: str
    mime: str
    final_url: str

    @classmethod
    def of(cls, record: dict[str, Any]) -> JournalEntry:
        return cls(
            record["status"], record.get("sha256", ""), int(record.get("bytes", 0)),
            record.get("fingerprint", ""), record.get("mime", ""), record.get("final_url", ""),
        )


class Journal:
    """Finished items by ``item_id``, persisted to ``<out>/journal.jsonl``."""

    def __init__(self, path: str | os.PathLike, batch_size: int = 256):
        self.path = Path(path)
        self.batch_size = batch_size
        self.entries: dict[str, JournalEntry] = {}
        self._pending: list[str] = []
        self._lines = 0
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
                self.entries[record["item_id"]] = JournalEntry.of(record)
                good_bytes += len(line)
                self._lines += 1
        if good_bytes != self.path.stat().st_size:
            with open(self.path, "rb+") as fh:
                fh.truncate(good_bytes)

    def get(self, item_id: str) -> JournalEntry | None:
        return self.entries.get(item_id)

    def add(self, record: dict[str, Any]) -> None:
        """Record a finished item; durable after the next ``flush`` (automatic every batch)."""
        self.entries[record["item_id"]] = JournalEntry.of(record)
        self._pending.append(json.dumps(record, ensure_ascii=False) + "\n")
        self._lines += 1
        if len(self._pending) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        self._fh.write("".join(self._pending))
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._pending.clear()

    def compact(self, max_growth: float = 2.0) -> bool:
        """Rewrite the file with only the latest record per item once superseded records
        (re-run decisions, retried failures) make it ``max_growth`` times longer than needed."""
        self.flush()
        if self._lines <= max_growth * max(len(self.entries), 1):
            return False
        latest: dict[str, bytes] = {}
        with open(self.path, "rb") as fh:
            for line in fh:
                latest[json.loads(line)["item_id"]] = line
        self._fh.close()
        with atomic_path(self.path) as tmp, open(tmp, "wb") as out:
            out.writelines(latest.values())
        self._lines = len(latest)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        return True

    def close(self) -> None:
        self.flush()
        self._fh.close()

    def read_rows(self, item_ids: set[str]) -> pd.DataFrame:
        """The latest record of each of ``item_ids`` as a frame (read back from the file)."""
        self.flush()
        if not self.path.stat().st_size:  # nothing finished yet (e.g. an empty source folder)
            return _SCHEMA.empty_table().to_pandas()
        # Every field typed up front, read in small blocks on one thread: memory stays near the
        # size of the result instead of the whole file parsed at once.
        options = pa_json.ParseOptions(explicit_schema=_SCHEMA, unexpected_field_behavior="ignore")
        read = pa_json.ReadOptions(use_threads=False, block_size=1 << 20)
        table = pa_json.read_json(self.path, read_options=read, parse_options=options)
        ids = table.column("item_id").to_pandas()
        keep = ids.isin(item_ids) & ~ids.duplicated(keep="last")
        return table.filter(pa.array(keep.to_numpy())).to_pandas()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
