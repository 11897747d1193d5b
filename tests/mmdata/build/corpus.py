"""Tiny raw corpora made in code: a raw manifest + store as `mm ingest` leaves them."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import soundfile as sf

from mmdata.manifest import objects_dir, write_raw_manifest
from mmdata.store import RawStore

WORDS = {
    "0": "zero nothing empty none void naught",
    "1": "one single alone unit solo first",
    "2": "two pair couple double twin second",
}


def png_bytes(seed: int, size: int = 24) -> bytes:
    """A random-ish textured color image (not blurry, distinct per seed)."""
    rng = np.random.default_rng(seed)
    img = (rng.random((size, size, 3)) * 255).astype(np.uint8)
    return cv2.imencode(".png", img)[1].tobytes()


def flac_bytes(seed: int, rate: int = 8000, seconds: float = 0.5) -> bytes:
    """A tone with a seed-dependent pitch, as FLAC."""
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.5 * np.sin(2 * np.pi * (200 + 40 * seed) * t).astype(np.float32)
    buffer = io.BytesIO()
    sf.write(buffer, wave, rate, format="FLAC")
    return buffer.getvalue()


def text_bytes(label: str, seed: int) -> bytes:
    words = WORDS[label].split()
    rng = np.random.default_rng(seed)
    return (" ".join(rng.choice(words, size=12)) + f" sample {seed}.").encode()


def make_raw_corpus(raw: Path, per_class: int = 4, speakers: int = 3, extra_rows: list[dict] | None = None) -> Path:
    """Write ``per_class`` samples for 3 labels (image+audio+text), grouped by speaker, plus ``extra_rows``."""
    store = RawStore(objects_dir(raw))
    rows = []
    n = 0
    for label in WORDS:
        for i in range(per_class):
            key = f"{label}_{i:03d}"
            group = f"spk{(n % speakers)}"
            for modality, data in (("image", png_bytes(n)), ("audio", flac_bytes(n)), ("text", text_bytes(label, n))):
                sha, _ = store.put(data)
                rows.append({"key": key, "modality": modality, "uri": f"file:{key}.{modality}", "status": "ok",
                             "reason": "", "sha256": sha, "bytes": len(data), "label": label, "group": group,
                             "source": "directory"})
            n += 1
    for row in extra_rows or []:
        data = row.pop("data", None)
        if data is not None:
            sha, _ = store.put(data)
            row.update(sha256=sha, bytes=len(data))
        rows.append({"status": "ok", "reason": "", "source": "directory", **row})
    write_raw_manifest(pd.DataFrame(rows), raw)
    return raw
