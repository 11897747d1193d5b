"""Content types come from the bytes themselves."""

from __future__ import annotations

import pytest

from mmdata.net.sniff import modality_of_mime, sniff_mime
from tests.mmdata.net.site import jpeg_bytes, png_bytes, wav_bytes


@pytest.mark.parametrize(
    ("data", "mime", "modality"),
    [
        (png_bytes(), "image/png", "image"),
        (jpeg_bytes(), "image/jpeg", "image"),
        (b"GIF89a" + b"\x00" * 20, "image/gif", "image"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp", "image"),
        (wav_bytes(), "audio/wav", "audio"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac", "audio"),
        (b"ID3\x04\x00", "audio/mpeg", "audio"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "text/html", "text"),
        ("plain words, ünïcode".encode(), "text/plain", "text"),
        ("caf\xe9 au lait".encode("latin-1"), "text/plain", "text"),  # legacy 8-bit text is still text
        ("two bytes per char".encode("utf-16"), "text/plain", "text"),  # BOM + NULs
        (b'{"a": 1}', "application/json", "text"),
        (b"PK\x03\x04rest", "application/zip", None),
        (b"\x7fELF\x02\x01", "application/x-executable", None),
        (bytes(range(256)) * 4, "application/octet-stream", None),
        (b"", "application/x-empty", None),
    ],
)
def test_sniff(data, mime, modality):
    assert sniff_mime(data) == mime
    assert modality_of_mime(mime) == modality
