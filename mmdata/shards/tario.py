"""Deterministic tar writing: member mtime 0, fixed owner, sorted fields; ``<key>.<ext>`` members."""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterable, Mapping
from typing import BinaryIO

OWNER = "mmpipe"


def tar_member(name: str, size: int) -> tarfile.TarInfo:
    """A regular-file header with nothing that varies between runs or machines."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = OWNER
    return info


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


_FIXED_MODE, _FIXED_ID = _octal(0o644, 8), _octal(0, 8)
_OWNER_FIELD = OWNER.encode("ascii").ljust(32, b"\0")
# Everything of a header but the name, size and checksum is the same for every member.
_AFTER_NAME = _FIXED_MODE + _FIXED_ID + _FIXED_ID
_MTIME = _octal(0, 12)
# devmajor / devminor stay NUL for regular files, as tarfile writes them.
_TAIL = (b"0" + b"\0" * 100 + b"ustar  \0" + _OWNER_FIELD + _OWNER_FIELD).ljust(512 - 156, b"\0")
_FIXED_SUM = sum(_AFTER_NAME) + sum(_MTIME) + 8 * 32 + sum(_TAIL)  # the checksum field counts as eight spaces


def gnu_header(name: str, size: int) -> bytes | None:
    """The 512-byte GNU tar header ``tarfile`` writes for ``tar_member(name, size)``, built directly.

    ``TarInfo.tobuf`` is generic and costs tens of microseconds per member; shards have thousands.
    Returns None for names that need a GNU long-name record (non-ASCII or 100+ bytes).
    """
    if not name.isascii() or len(name) >= 100 or size >= 8**11:
        return None
    encoded = name.encode("ascii")
    size_field = _octal(size, 12)
    checksum = _FIXED_SUM + sum(encoded) + sum(size_field)
    return b"".join((encoded.ljust(100, b"\0"), _AFTER_NAME, size_field, _MTIME, b"%06o\0 " % checksum, _TAIL))


def member_header(name: str, size: int) -> bytes:
    """The header block(s) ``tarfile`` writes before member ``name`` of ``size`` bytes (GNU long names too)."""
    header = gnu_header(name, size)
    if header is None:
        # TarFile.addfile's own encoding (the file-system encoding, surrogateescape), as open_tar_for_writing leaves it.
        header = tar_member(name, size).tobuf(tarfile.GNU_FORMAT, tarfile.ENCODING, "surrogateescape")
    return header


def member_padding(size: int) -> bytes:
    """The NUL bytes that fill a member of ``size`` bytes up to the next tar block."""
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Append ``data`` to ``tar`` as member ``name``."""
    add_members(tar, (member_header(name, len(data)), data, member_padding(len(data))))


def add_members(tar: tarfile.TarFile, chunks: Iterable[bytes | memoryview]) -> None:
    """Append already encoded members (headers, payloads, padding, in tar order) to ``tar``."""
    write = tar.fileobj.write
    for chunk in chunks:
        write(chunk)
        tar.offset += len(chunk)


def add_sample(tar: tarfile.TarFile, key: str, fields: Mapping[str, bytes]) -> int:
    """Write one sample's fields as ``<key>.<field>`` members (sorted); return the payload bytes."""
    total = 0
    for field in sorted(fields):
        add_bytes(tar, f"{key}.{field}", fields[field])
        total += len(fields[field])
    return total


def open_tar_for_writing(target: str | os.PathLike | BinaryIO) -> tarfile.TarFile:
    """GNU-format tar (long names without pax timestamps) at a path or into a binary file object."""
    if isinstance(target, str | os.PathLike):
        return tarfile.open(target, "w", format=tarfile.GNU_FORMAT)
    return tarfile.open(fileobj=target, mode="w", format=tarfile.GNU_FORMAT)
