"""A checkpoint remembers which data it was trained on; resuming on other data is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mmmodel.shardfs import data_fingerprint
from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config
from tests.mmmodel.synthetic import write_synthetic_shards

SPLITS = ("train", "val")


def test_fingerprint_follows_content_not_location(tmp_path):
    shards = write_synthetic_shards(tmp_path / "a", {"train": 40, "val": 16}, per_shard=16)
    moved = Path(shutil.copytree(shards, tmp_path / "b"))
    assert data_fingerprint(moved, SPLITS) == data_fingerprint(shards, SPLITS)
    # Shards not written by `mm build` (no manifest): named by their file names and sizes.
    write_synthetic_shards(moved, {"train": 48, "val": 16}, per_shard=16)
    assert data_fingerprint(moved, SPLITS) != data_fingerprint(shards, SPLITS)


def test_fingerprint_of_a_build_is_its_records(tmp_path):
    shards = write_synthetic_shards(tmp_path / "a", {"train": 40, "val": 16}, per_shard=16)
    (shards / "manifest.parquet").write_bytes(b"records of build 1")
    first = data_fingerprint(shards, SPLITS)
    assert data_fingerprint(shards, SPLITS) == first
    (shards / "manifest.parquet").write_bytes(b"records of build 2")
    assert data_fingerprint(shards, SPLITS) != first
    (shards / "manifest.parquet").write_bytes(b"records of build 1")
    (shards / "preprocess.json").write_text('{"image": {"size": 64}}')  # same sources, other standardization
    assert data_fingerprint(shards, SPLITS) != first


def test_resume_refuses_a_checkpoint_trained_on_other_data(tmp_path):
    shards = write_synthetic_shards(tmp_path / "shards", {"train": 64, "val": 32}, per_shard=32)
    (shards / "manifest.parquet").write_bytes(b"records of build 1")
    common = dict(epochs=1, modalities=["image", "audio"])
    first = train(tiny_config(tmp_path, shards, **common))
    assert train(tiny_config(tmp_path, shards, **common))["weights_sha256"] == first["weights_sha256"]  # picked up
    (shards / "manifest.parquet").write_bytes(b"records of build 2")  # rebuilt at the same path
    with pytest.raises(ValueError, match="trained on other data"):
        train(tiny_config(tmp_path, shards, **common))
    fresh = train(tiny_config(tmp_path, shards, resume=False, **common))
    assert fresh["steps"] == first["steps"]
