"""Manifests: one row per input item with its final state (ok / dropped / failed).

The raw manifest (``<raw>/manifest.parquet``) is the contract between ingest and build.
Its core columns are listed in ``RAW_COLUMNS``; sources may add more (extra columns are kept).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mmdata.atomic import atomic_path

OK = "ok"
DROPPED = "dropped"
FAILED = "failed"
STATUSES = (OK, DROPPED, FAILED)

MANIFEST_NAME = "manifest.parquet"
OBJECTS_DIR = "objects"

# Core raw-manifest schema. ``meta`` is a JSON object as text; ``reason`` is "" for ok rows.
RAW_SCHEMA = pa.schema(
    [
        ("key", pa.string()),  # sample key; rows sharing a key form one sample
        ("modality", pa.string()),  # image | audio | text | unknown (e.g. a refused URL)
        ("uri", pa.string()),  # where the item came from (path, URL, or "inline:<table>#<row>")
        ("status", pa.string()),  # ok | dropped | failed
        ("reason", pa.string()),  # why dropped / error class and message when failed
        ("sha256", pa.string()),  # content address in the raw store ("" when not stored)
        ("bytes", pa.int64()),  # payload size in bytes (0 when not stored)
        ("mime", pa.string()),  # content type sniffed from the bytes
        ("label", pa.string()),
        ("group", pa.string()),
        ("source", pa.string()),  # directory | table | crawl
        ("attempts", pa.int32()),
        ("meta", pa.string()),
    ]
)
RAW_COLUMNS: tuple[str, ...] = tuple(RAW_SCHEMA.names)


def manifest_path(raw_dir: str | os.PathLike) -> Path:
    return Path(raw_dir) / MANIFEST_NAME


def objects_dir(raw_dir: str | os.PathLike) -> Path:
    return Path(raw_dir) / OBJECTS_DIR


def normalize_raw_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Fill missing core columns with neutral values, order core columns first, check statuses."""
    frame = frame.copy()
    defaults = {"attempts": 0, "bytes": 0}
    for name in RAW_COLUMNS:
        if name not in frame.columns:
            frame[name] = defaults.get(name, "")
    for name in RAW_COLUMNS:
        if name in defaults:
            frame[name] = frame[name].fillna(defaults[name]).astype("int64")
        else:
            frame[name] = frame[name].fillna("").astype(str)
    frame["attempts"] = frame["attempts"].astype("int32")
    bad = set(frame["status"]) - set(STATUSES)
    if bad:
        raise ValueError(f"manifest has unknown statuses {sorted(bad)}; expected one of {STATUSES}")
    missing_reason = frame[(frame["status"] != OK) & (frame["reason"] == "")]
    if len(missing_reason):
        raise ValueError(f"{len(missing_reason)} non-ok manifest rows lack a reason, e.g. {missing_reason.iloc[0]['uri']!r}")
    extra = [c for c in frame.columns if c not in RAW_COLUMNS]
    return frame[list(RAW_COLUMNS) + extra].reset_index(drop=True)


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a manifest parquet atomically (no timestamps inside: equal rows give equal bytes)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_raw_manifest(frame: pd.DataFrame, raw_dir: str | os.PathLike) -> Path:
    """Validate and atomically write ``<raw_dir>/manifest.parquet``; return its path."""
    path = manifest_path(raw_dir)
    write_manifest(normalize_raw_frame(frame), path)
    return path


def read_raw_manifest(raw_dir: str | os.PathLike) -> pd.DataFrame:
    """Read ``<raw_dir>/manifest.parquet`` with the core columns guaranteed."""
    path = manifest_path(raw_dir)
    if not path.is_file():
        raise FileNotFoundError(f"no raw manifest at {path}; run `mm ingest` first")
    return normalize_raw_frame(pq.read_table(path).to_pandas())
