"""Field names of a sample, defined once and used everywhere.

A sample is a dict in WebDataset form: ``__key__`` plus one entry per field, named by
extension. Raw modalities travel as encoded bytes (``png``, ``flac``, ``txt``); standardized
features add ``mel.npy`` and ``tok.npy``; metadata lives in ``json`` and the class index in ``cls``.
"""

from __future__ import annotations

KEY = "__key__"
META = "json"
CLASS = "cls"

# Modalities by name; every modality-keyed mapping in the project uses these names.
IMAGE = "image"
AUDIO = "audio"
TEXT = "text"
MODALITIES: tuple[str, ...] = (IMAGE, AUDIO, TEXT)

# Encoded payload extensions a shard may carry for each modality (first is the default).
IMAGE_EXTS: tuple[str, ...] = ("jpg", "png", "webp")
AUDIO_EXTS: tuple[str, ...] = ("flac", "wav")
TEXT_EXT = "txt"

# Standardized features the model reads.
MEL = "mel.npy"  # float array [n_mels, frames], log-mel of the fixed-length waveform
TOKENS = "tok.npy"  # int32 array [n_tokens], ids from the train-only vocabulary
MFCC = "mfcc.npy"  # optional float32 array [n_mfcc, frames], from the same log-mel

# Raw file extensions recognised by sources, by modality (lower case, no dot).
RAW_EXTENSIONS: dict[str, tuple[str, ...]] = {
    IMAGE: ("jpg", "jpeg", "png", "webp", "bmp", "gif", "tif", "tiff"),
    AUDIO: ("wav", "flac", "ogg", "mp3", "oga", "opus"),
    TEXT: ("txt", "md", "html", "htm", "json"),
}


def modality_of_extension(ext: str) -> str | None:
    """Return the modality a raw file extension belongs to, or None when unknown."""
    ext = ext.lower().lstrip(".")
    for modality, exts in RAW_EXTENSIONS.items():
        if ext in exts:
            return modality
    return None


def payload_field(sample: dict, modality: str) -> str | None:
    """Name of the field that carries ``modality`` in ``sample``, or None when it is absent."""
    candidates = {IMAGE: IMAGE_EXTS, AUDIO: AUDIO_EXTS, TEXT: (TEXT_EXT,)}[modality]
    for ext in candidates:
        if ext in sample:
            return ext
    return None
