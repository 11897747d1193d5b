"""Content types from magic bytes: extensions and Content-Type headers are not trusted."""

from __future__ import annotations

from mmdata import fields

OCTET_STREAM = "application/octet-stream"

# (offset, magic, mime); checked in order, first match wins.
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"BM", "image/bmp"),
    (0, b"II*\x00", "image/tiff"),
    (0, b"MM\x00*", "image/tiff"),
    (0, b"fLaC", "audio/flac"),
    (0, b"OggS", "audio/ogg"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"%PDF", "application/pdf"),
    (0, b"\x7fELF", "application/x-executable"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"\x00\x00\x01\x00", "image/x-icon"),
)

MIME_MODALITY: dict[str, str] = {
    "image/png": fields.IMAGE,
    "image/jpeg": fields.IMAGE,
    "image/gif": fields.IMAGE,
    "image/bmp": fields.IMAGE,
    "image/tiff": fields.IMAGE,
    "image/webp": fields.IMAGE,
    "audio/flac": fields.AUDIO,
    "audio/ogg": fields.AUDIO,
    "audio/mpeg": fields.AUDIO,
    "audio/wav": fields.AUDIO,
    "text/html": fields.TEXT,
    "text/plain": fields.TEXT,
    "application/json": fields.TEXT,
    "application/xml": fields.TEXT,
}


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sniffed window is still text.
        if exc.start >= len(head) - 3:
            return True
    # Legacy 8-bit encodings: text when control characters are rare.
    controls = sum(1 for b in head if b < 9 or 13 < b < 32)
    return controls <= len(head) // 100


def _looks_like_utf16(head: bytes) -> bool:
    try:
        text = head[: len(head) - len(head) % 2].decode("utf-16")
    except UnicodeDecodeError:
        return False
    return sum(1 for c in text if ord(c) < 32 and c not in "\t\r\n") <= len(text) // 100


def sniff_mime(data: bytes) -> str:
    """Best guess of the content type of ``data`` from its first bytes."""
    head = data[:2048]
    if not head:
        return "application/x-empty"
    for offset, magic, mime in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return mime
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") and _looks_like_utf16(head):
        return "text/plain"  # UTF-16 with a byte-order mark (NULs would otherwise say binary)
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"  # MPEG audio frame sync without an ID3 tag
    if not _looks_like_text(head):
        return OCTET_STREAM
    lowered = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if lowered.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in lowered[:512]:
        return "text/html"
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<urlset") or lowered.startswith(b"<svg"):
        return "image/svg+xml" if b"<svg" in lowered[:1024] else "application/xml"
    if lowered[:1] in (b"{", b"["):
        return "application/json"
    return "text/plain"


def modality_of_mime(mime: str) -> str | None:
    """Modality a sniffed content type belongs to, or None when no stage can use it."""
    return MIME_MODALITY.get(mime)
