"""Turn an item's bytes into its final row: empty / too large / wrong type checks, then the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmdata.ingest.items import Item, dropped, failed, ok
from mmdata.ingest.objects import ObjectWriter
from mmdata.net.sniff import modality_of_mime, sniff_mime


def accept_bytes(item: Item, data: bytes, store: ObjectWriter | None, sha256: str = "", **extra: Any) -> dict[str, Any]:
    """Check ``data`` against what ``item`` should hold; store it when it passes.

    ``sha256`` says the bytes are already stored under that address (then ``store`` may be None).
    """
    if not data:
        return dropped(item, "empty_file", **extra)
    mime = sniff_mime(data)
    modality = modality_of_mime(mime)
    if modality is None:
        return dropped(item, f"unsupported_type: {mime}", mime=mime, bytes=len(data), **extra)
    if modality != item.modality:
        return dropped(item, f"unexpected_type: {mime} (expected {item.modality})", mime=mime, bytes=len(data), **extra)
    digest = sha256 or store.put(data)
    return ok(item, sha256=digest, bytes=len(data), mime=mime, **extra)


def read_local(item: Item, store: ObjectWriter, max_bytes: int) -> dict[str, Any]:
    """Final row of a local-file item (runs in a worker thread)."""
    path = Path(item.path)
    try:
        size = path.stat().st_size
        if size > max_bytes:
            return dropped(item, f"too_large: {size} > cap {max_bytes}", bytes=size, attempts=1)
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except FileNotFoundError:
        return failed(item, f"file_not_found: {item.uri}", "FileNotFoundError", attempts=1)
    except OSError as err:
        return failed(item, f"unreadable: {err.strerror or err}", type(err).__name__, attempts=1)
    if len(data) > max_bytes:  # grew between stat and read
        return dropped(item, f"too_large: > cap {max_bytes}", attempts=1)
    return accept_bytes(item, data, store, attempts=1)


def accept_inline(item: Item, store: ObjectWriter) -> dict[str, Any]:
    """Final row of inline table text: stored UTF-8 as given."""
    data = item.inline.encode("utf-8", "surrogatepass")
    if not item.inline.strip():
        return dropped(item, "empty_text", attempts=1)
    digest = store.put(data)
    return ok(item, sha256=digest, bytes=len(data), mime="text/plain", attempts=1)

