"""Shared fixtures of the model tests: synthetic XOR shard sets and a tiny model config."""

from __future__ import annotations

import pytest
import torch

from mmmodel.config import TrainConfig
from tests.mmmodel.synthetic import write_synthetic_shards

# Two cores are shared by the whole suite: keep torch to one thread.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def pair_shards(tmp_path_factory):
    """image + audio + text (distractor) pair-task shards: train 320, val 64, test 64."""
    return write_synthetic_shards(tmp_path_factory.mktemp("xor") / "shards", {"train": 320, "val": 64, "test": 64},
                            per_shard=80)


@pytest.fixture(scope="session")
def image_only_shards(tmp_path_factory):
    """Shards that lack audio and text entirely."""
    return write_synthetic_shards(tmp_path_factory.mktemp("img") / "shards", {"train": 96, "val": 32, "test": 32},
                            modalities=("image",), seed=1)


def tiny_config(tmp_path, shards, **overrides) -> TrainConfig:
    """A model small enough to train in seconds on one CPU thread."""
    values = dict(shards=str(shards), out=str(tmp_path / "model"), reports=str(tmp_path / "reports"),
                  dim=24, conv_width=8, conv_blocks=2, text_layers=1, epochs=2, batch_size=32, lr=4e-3,
                  warmup_steps=4, progress=False, checkpoint_every=4)
    values.update(overrides)
    return TrainConfig(**values)
