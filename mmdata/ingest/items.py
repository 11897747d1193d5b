"""Planned input items and their final manifest rows."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mmdata.manifest import DROPPED, FAILED, OK

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
    verdict: tuple[str, str] | None = None  # VERDICT: (status, reason)
    fingerprint: str = ""  # FILE: size and mtime; a change means re-read

    def row(self, status: str, reason: str = "", **extra: Any) -> dict[str, Any]:
        """The manifest row for this item in ``status`` (extra columns passed through)."""
        row = {
            "item_id": self.item_id,
            "key": self.key,
            "modality": self.modality,
            "uri": self.uri,
            "status": status,
            "reason": reason,
            "sha256": "",
            "bytes": 0,
            "mime": "",
            "label": self.label,
            "group": self.group,
            "source": self.source,
            "attempts": 0,
            "meta": json.dumps(self.meta, sort_keys=True, ensure_ascii=False, default=str),
            "http_status": 0,
            "error_class": "",
            "fingerprint": self.fingerprint,
        }
        row.update(extra)
        return row


def dropped(item: Item, reason: str, **extra: Any) -> dict[str, Any]:
    return item.row(DROPPED, reason, **extra)


def failed(item: Item, reason: str, error_class: str, **extra: Any) -> dict[str, Any]:
    return item.row(FAILED, reason, error_class=error_class, **extra)


def ok(item: Item, **extra: Any) -> dict[str, Any]:
    return item.row(OK, "", **extra)
