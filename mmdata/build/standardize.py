"""Standardize one raw sample ({modality: bytes}) exactly as the build does.

``Standardizer.from_dir(shards_or_model_dir).standardize(raw)`` is what `mm predict` uses on new
inputs; the build runs ``process`` per sample and maps tokens to ids once the vocabulary exists.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np

from mmdata import fields
from mmdata.audio.config import AudioConfig
from mmdata.audio.kernels import AudioDropped, npy_bytes
from mmdata.audio.process import process_audio
from mmdata.image.config import ImageConfig
from mmdata.image.kernels import ImageDropped
from mmdata.image.process import process_image
from mmdata.text.config import TextConfig
from mmdata.text.process import TextDropped, process_text
from mmdata.text.tokens import token_ids

PREPROCESS_FILE = "preprocess.json"
LABELS_FILE = "labels.json"
VOCAB_FILE = "vocab.json"


class DropSample(Exception):
    """A sample rejected by a check; ``reason`` is the stable, specific cause (e.g. ``image:image_too_small``)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclasses.dataclass
class Processed:
    """One standardized sample before token ids: encoded fields, tokens, quality stats, dedup signatures."""

    fields: dict[str, bytes]
    tokens: list[str] | None
    stats: dict[str, dict]
    text_minhash: np.ndarray | None = None
    image_phash: str | None = None


class Standardizer:
    """Per-modality settings (plus vocabulary and labels when known) applied to raw inputs."""

    def __init__(self, text: TextConfig, image: ImageConfig, audio: AudioConfig,
                 vocab: list[str] | None = None, labels: list[str] | None = None, signatures: bool = False):
        self.text, self.image, self.audio = text, image, audio
        # Near-duplicate signatures (text MinHash, image pHash) cost real time and serve only the build's
        # near-duplicate search: computed only when asked for.
        self.signatures = signatures
        self.vocab = vocab
        self.labels = labels
        self._index = {token: i for i, token in enumerate(vocab)} if vocab else None

    @classmethod
    def from_dir(cls, directory: str | os.PathLike) -> Standardizer:
        """Load settings from a shard or model directory (preprocess.json, vocab.json, labels.json)."""
        directory = Path(directory)
        path = directory / PREPROCESS_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: {directory} is not a built shard set or model directory")
        settings = json.loads(path.read_text())
        vocab_path, labels_path = directory / VOCAB_FILE, directory / LABELS_FILE
        return cls(TextConfig.model_validate(settings["text"]), ImageConfig.model_validate(settings["image"]),
                   AudioConfig.model_validate(settings["audio"]),
                   json.loads(vocab_path.read_text()) if vocab_path.is_file() else None,
                   json.loads(labels_path.read_text()) if labels_path.is_file() else None)

    def settings(self) -> dict:
        """The content of preprocess.json (no paths, nothing machine-specific)."""
        return {"format_version": 1, "text": self.text.model_dump(), "image": self.image.model_dump(),
                "audio": self.audio.model_dump(),
                "fields": {"image": self.image.format, "audio": self.audio.format, "mel": fields.MEL, "text": fields.TEXT_EXT,
                           "tokens": fields.TOKENS}}

    def process(self, raw: dict[str, bytes]) -> Processed:
        """Clean and standardize every modality present; raise ``DropSample`` on the first rejection."""
        unknown = set(raw) - set(fields.MODALITIES)
        if unknown:
            raise ValueError(f"unknown modalities {sorted(unknown)}; expected {fields.MODALITIES}")
        if not raw:
            raise DropSample("no_modalities")
        out = Processed(fields={}, tokens=None, stats={})
        try:
            if fields.IMAGE in raw:
                image = process_image(raw[fields.IMAGE], self.image, self.signatures)
                out.fields[image.ext] = image.encoded
                out.stats[fields.IMAGE] = image.stats
                out.image_phash = image.phash
            if fields.AUDIO in raw:
                audio = process_audio(raw[fields.AUDIO], self.audio)
                out.fields[audio.ext] = audio.encoded
                out.fields[fields.MEL] = audio.mel_npy
                if audio.mfcc_npy is not None:
                    out.fields[fields.MFCC] = audio.mfcc_npy
                out.stats[fields.AUDIO] = audio.stats
            if fields.TEXT in raw:
                text = process_text(raw[fields.TEXT], self.text, self.signatures)
                out.fields[fields.TEXT_EXT] = text.text.encode("utf-8")
                out.tokens = text.tokens
                out.stats[fields.TEXT] = text.stats
                out.text_minhash = text.minhash
        except ImageDropped as err:
            raise DropSample(f"image:{err.args[0]}") from None
        except AudioDropped as err:
            raise DropSample(f"audio:{err.args[0]}") from None
        except TextDropped as err:
            raise DropSample(f"text:{err.args[0]}") from None
        return out

    def token_array(self, tokens: list[str]) -> np.ndarray:
        """int32 ids of ``tokens`` in the vocabulary (``<unk>`` = 1 for unseen tokens)."""
        if self._index is None:
            raise RuntimeError("no vocabulary loaded: token ids need vocab.json from a finished build")
        return token_ids(tokens, self._index)

    def standardize(self, raw: dict[str, bytes]) -> dict[str, bytes]:
        """Sample fields (``png``/``jpg``/``webp``, ``wav``/``flac``, ``mel.npy``, ``txt``, ``tok.npy``) for ``raw``."""
        processed = self.process(raw)
        result = dict(processed.fields)
        if processed.tokens is not None:
            result[fields.TOKENS] = npy_bytes(self.token_array(processed.tokens))
        return result
