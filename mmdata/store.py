"""Content-addressed raw store: bytes are kept once, under their sha256."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from mmdata.atomic import write_bytes_atomic


def sha256_of(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


class RawStore:
    """Objects live at ``<root>/<sha[:2]>/<sha>``; a put of known content writes nothing."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self._prefix = os.fspath(self.root) + os.sep  # get() builds plain strings: pathlib costs more than the read

    def path_of(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path_of(sha256).is_file()

    def put(self, data: bytes) -> tuple[str, bool]:
        """Store ``data``; return ``(sha256, newly_written)``."""
        digest = sha256_of(data)
        path = self.path_of(digest)
        if path.is_file():
            return digest, False
        write_bytes_atomic(path, data)
        return digest, True

    def get(self, sha256: str) -> bytes:
        """Return the bytes stored under ``sha256`` (KeyError when absent)."""
        try:
            with open(f"{self._prefix}{sha256[:2]}{os.sep}{sha256}", "rb", buffering=0) as handle:
                return handle.read()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise KeyError(f"object {sha256} is not in the raw store at {self.root}") from None
