"""Planned input items and their final manifest rows."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mmdata.manifest import DROPPED, FAILED, OK
from mmdata.sources.keys import short_hash

UNKNOWN_MODALITY = "unknown"

# Kinds of planned item: where its bytes come from.
FILE = "file"  # a local path
URL = "url"  # an http(s) URL fetched by the downloader
INLINE = "inline"  # text given in the table cell itself
VERDICT = "verdict"  # decided while planning (e.g. duplicate key): nothing to read


@dataclass(frozen=True)
class Item:
    """One input item: a file, a URL or an inline text that ends as exactly one manifest row."""

    item_id: str  # unique per input item, stable across runs (journal key)
    key: str
    modality: str
    uri: str
    source: str
    kind: str
    label: str = ""
    group: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    path: str = ""  # FILE: where to read
    inline: str = ""  # INLINE: the text
    payload: bytes = b""  # INLINE: bytes given in the table cell (e.g. parquet binary columns)
    verdict: tuple[str, str] | None = None  # VERDICT: (status, reason)
    fingerprint: str = ""  # FILE: size and mtime; a change means re-read

    @cached_property
    def version(self) -> str:
        """What must be unchanged for an earlier result of this item to still hold."""
        if self.kind == FILE:
            return f"{self.fingerprint}:{short_hash(self.uri)}"
        if self.kind == URL:
            return short_hash(self.path)
        if self.kind == INLINE:
            return hashlib.sha1(self.payload or self.inline.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        return ""

    def row(self, status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
        """The manifest row for this item in ``status`` (extra columns passed through)."""
        row = {
            "item_id": utf8_safe(self.item_id),
            "key": self.key,
            "modality": self.modality,
            "uri": utf8_safe(self.uri),
            "status": status,
            "reason": utf8_safe(reason),
            "sha256": "",
            "bytes": 0,
            "mime": "",
            "label": utf8_safe(self.label),
            "group": utf8_safe(self.group),
            "source": self.source,
            "attempts": 0,
            "meta": utf8_safe(json.dumps(self.meta, sort_keys=True, ensure_ascii=False, default=str)),
            "http_status": 0,
            "error_class": "",
            "fingerprint": self.version,
        }
        row.update(extra)
        return row


def utf8_safe(text: str) -> str:
    """``text`` made encodable as UTF-8: undecodable file-name bytes and lone surrogates from
    JSON become visible ``\\udcxx`` escapes instead of crashing the journal or parquet writer."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def dropped(item: Item, reason: str, **extra: Any) -> dict[str, Any]:
    return item.row(DROPPED, reason, **extra)


def failed(item: Item, reason: str, error_class: str, **extra: Any) -> dict[str, Any]:
    return item.row(FAILED, reason, error_class=error_class, **extra)


def ok(item: Item, **extra: Any) -> dict[str, Any]:
    return item.row(OK, "", **extra)
