"""Tiny synthetic shard sets following the build contract (mmdata/fields.py), written in code.

Each sample carries an image bit and an audio bit. Task "pair" (default): the label is the pair
(4 classes), so each modality alone reaches at most 50% and only fusion reaches 100%. Task "xor":
the label is image bit xor audio bit, so neither modality alone beats chance. Text tokens carry no
signal (a distractor).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import numpy as np
import webdataset as wds

from mmdata import fields

IMAGE_SIZE = 16
MEL_SHAPE = (8, 12)
N_TOKENS = 6


def _image(bit: int, rng: np.random.Generator) -> bytes:
    """Bright square in the left half (bit 0) or the right half (bit 1), on noise."""
    image = rng.integers(0, 60, size=(IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
    col = 2 if bit == 0 else IMAGE_SIZE // 2 + 2
    image[4:12, col : col + 5] = 230
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def _mel(bit: int, rng: np.random.Generator) -> bytes:
    """Energy in the low bands (bit 0) or the high bands (bit 1), plus noise."""
    mel = rng.normal(0.0, 0.3, size=MEL_SHAPE).astype(np.float32)
    bands = slice(0, 3) if bit == 0 else slice(5, 8)
    mel[bands] += 2.0
    buffer = io.BytesIO()
    np.save(buffer, mel)
    return buffer.getvalue()


def _tokens(rng: np.random.Generator) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, rng.integers(2, 20, size=rng.integers(2, N_TOKENS + 1)).astype(np.int32))
    return buffer.getvalue()


def write_synthetic_shards(root: str | Path, sizes: dict[str, int] | None = None,
                     modalities: tuple[str, ...] = (fields.IMAGE, fields.AUDIO, fields.TEXT),
                     per_shard: int = 64, seed: int = 0, missing_rate: float = 0.0, task: str = "pair") -> Path:
    """Write <root>/<split>/shard-%06d.tar (+ labels.json, vocab.json, preprocess.json); return root.

    ``missing_rate`` drops each modality of a sample with that chance (never all of them).
    """
    root = Path(root)
    sizes = sizes or {"train": 256, "val": 64, "test": 64}
    rng = np.random.default_rng(seed)
    for split, count in sizes.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        pattern = str(root / split / "shard-%06d.tar")
        with wds.ShardWriter(pattern, maxcount=per_shard, verbose=0) as sink:
            for index in range(count):
                image_bit, audio_bit = int(rng.integers(2)), int(rng.integers(2))
                label = image_bit ^ audio_bit if task == "xor" else 2 * image_bit + audio_bit
                sample = {fields.KEY: f"{split}-{index:05d}", fields.CLASS: str(label).encode(),
                          fields.META: json.dumps({"label": str(label), "label_id": label, "split": split}).encode()}
                keep = [m for m in modalities if rng.random() >= missing_rate] or [modalities[0]]
                if fields.IMAGE in keep:
                    sample["png"] = _image(image_bit, rng)
                if fields.AUDIO in keep:
                    sample[fields.MEL] = _mel(audio_bit, rng)
                if fields.TEXT in keep:
                    sample[fields.TEXT_EXT] = b"noise words"
                    sample[fields.TOKENS] = _tokens(rng)
                sink.write(sample)
    names = ["same", "different"] if task == "xor" else ["left-low", "left-high", "right-low", "right-high"]
    (root / "labels.json").write_text(json.dumps(names))
    (root / "vocab.json").write_text(json.dumps({"<pad>": 0, "<unk>": 1, **{f"w{i}": i for i in range(2, 20)}}))
    (root / "preprocess.json").write_text(json.dumps({"image": {"size": IMAGE_SIZE}, "audio": {"n_mels": MEL_SHAPE[0]}}))
    return root
