"""Tiny stand-ins for ../shared/data (fsdd FLAC + MNIST IDX gz), made in code."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import soundfile as sf

SPEAKERS = ("ann", "bob")


def write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def fake_shared_data(root: Path, recordings_per_speaker: int = 2) -> Path:
    """``root/fsdd/{digit}_{speaker}_{index}.flac`` and ``root/mnist/*-ubyte.gz`` for digits 0..2."""
    (root / "fsdd").mkdir(parents=True)
    (root / "mnist").mkdir()
    rng = np.random.default_rng(0)
    for digit in range(3):
        for speaker in SPEAKERS:
            for index in range(recordings_per_speaker):
                tone = np.sin(np.arange(400) * (digit + 1) * 0.05) * 0.2
                sf.write(root / "fsdd" / f"{digit}_{speaker}_{index}.flac", tone, 8000)
    labels = np.repeat(np.arange(3), 4)
    images = rng.integers(0, 255, size=(len(labels), 28, 28))
    write_idx(root / "mnist" / "images-idx3-ubyte.gz", images)
    write_idx(root / "mnist" / "labels-idx1-ubyte.gz", labels)
    return root


def real_shared_data() -> Path | None:
    """The real ../shared/data beside the checkout (or $MMPIPE_SHARED_DATA), when present."""
    repo = Path(__file__).resolve().parents[3]
    root = Path(os.environ.get("MMPIPE_SHARED_DATA", repo.parent / "shared" / "data"))
    return root if (root / "fsdd").is_dir() and (root / "mnist").is_dir() else None
