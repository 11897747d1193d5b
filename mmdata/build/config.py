"""BuildConfig: the typed config of the build stage (params.yaml section ``build``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mmdata.annotate.config import LabelConfig
from mmdata.audio.config import AudioConfig
from mmdata.image.config import ImageConfig
from mmdata.shards.config import ShardConfig
from mmdata.text.config import TextConfig


class DedupConfig(BaseModel):
    """Duplicate removal across the whole corpus (the earliest key by name is kept)."""

    exact: bool = True  # samples whose raw items are byte-identical to an earlier sample's
    near: bool = True  # samples whose every modality is a near-duplicate of one earlier sample
    text_threshold: float = 0.85  # MinHash Jaccard estimate at or above this is a near-duplicate
    image_max_distance: int = 2  # pHash Hamming distance at or below this (max 3) is a near-duplicate


class BuildConfig(BaseModel):
    """Everything `mm build` needs; defaults are the demo's."""

    raw: str = "data/raw"  # ingest output: manifest.parquet + objects/
    out: str = "data/shards"
    seed: int = 0  # split assignment and shard order
    partitions: int = 8  # fixed work units; the output does not depend on how many workers run them
    workers: int = 1  # local worker processes
    dask_address: str | None = None  # run partitions on this existing Dask scheduler instead
    lock_timeout_s: float = 0.0  # wait this long for a concurrent build on `out` before refusing
    splits: dict[str, float] = Field(default_factory=lambda: {"train": 0.8, "val": 0.1, "test": 0.1})
    split: str | None = None  # put every sample into this one split (external evaluation sets)
    reuse_from: str | None = None  # training shards whose preprocess.json, labels and vocab are reused
    labels: LabelConfig = Field(default_factory=LabelConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    image: ImageConfig = Field(default_factory=ImageConfig)
    audio: AudioConfig = Field(default_factory=AudioConfig)
    shards: ShardConfig = Field(default_factory=ShardConfig)
