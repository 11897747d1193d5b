"""Deterministic tar writing: member mtime 0, fixed owner, sorted fields; ``<key>.<ext>`` members."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Mapping
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


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Append ``data`` to ``tar`` as member ``name``."""
    tar.addfile(tar_member(name, len(data)), io.BytesIO(data))


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
