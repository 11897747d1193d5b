"""Loader: decoding, masks, worker/rank partitioning, deterministic order and exact skipping."""

from __future__ import annotations

import pytest
import torch

from mmmodel.data import ShardError, ShardStream, make_loader, probe_shards, shard_paths
from tests.mmmodel.synthetic import IMAGE_SIZE, MEL_SHAPE, write_synthetic_shards


def _keys(loader, batches=None):
    keys = []
    for index, batch in enumerate(loader):
        if batches is not None and index >= batches:
            break
        keys.extend(batch["__key__"])
    return keys


def test_probe_finds_modalities_shapes_and_labels(pair_shards):
    dims, counts = probe_shards(pair_shards, "train", 16, None)
    assert dims.modalities == ["image", "audio", "text"]
    assert dims.image_shape == [3, IMAGE_SIZE, IMAGE_SIZE]
    assert dims.mel_shape == list(MEL_SHAPE)
    assert dims.n_classes == 4 and sum(counts.values()) == 320
    assert dims.vocab_size >= 20


def test_decoded_batch_has_tensors_and_masks(tmp_path):
    shards = write_synthetic_shards(tmp_path / "s", {"train": 40}, missing_rate=0.5, seed=3)
    dims, _ = probe_shards(shards, "train", 8, None)
    batch = next(iter(make_loader(ShardStream(shard_paths(shards, "train"), dims, train=False), 40, 0)))
    assert batch["image"].shape == (40, 3, IMAGE_SIZE, IMAGE_SIZE) and batch["image"].dtype == torch.float32
    assert batch["audio"].shape == (40, *MEL_SHAPE)
    assert batch["text"].shape == (40, 8) and batch["text"].dtype == torch.long
    mask = batch["mask"]
    assert 0 < mask.mean() < 1 and (mask.sum(1) >= 1).all()
    # An absent modality decodes to zeros, so nothing stale leaks into the model.
    assert batch["image"][mask[:, 0] == 0].abs().sum() == 0
    assert batch["audio"][mask[:, 1] == 0].abs().sum() == 0


@pytest.mark.parametrize("workers", [0, 2])
def test_evaluation_stream_reads_every_sample_once(pair_shards, workers):
    dims, _ = probe_shards(pair_shards, "test", 8, None)
    stream = ShardStream(shard_paths(pair_shards, "test"), dims, train=False)
    keys = _keys(make_loader(stream, 16, workers))
    assert sorted(keys) == [f"test-{i:05d}" for i in range(64)]


def test_training_order_is_seeded_per_epoch_and_resume_skips_exactly(pair_shards):
    dims, _ = probe_shards(pair_shards, "train", 8, None)

    def stream(epoch, skip=0):
        s = ShardStream(shard_paths(pair_shards, "train"), dims, train=True, seed=7, shuffle_buffer=64, batch_size=8)
        s.set_epoch(epoch, skip)
        return s

    first = _keys(make_loader(stream(0), 8, 2), 12)
    assert first == _keys(make_loader(stream(0), 8, 2), 12)
    assert first != _keys(make_loader(stream(1), 8, 2), 12)
    # Skipping 5 batches (workers interleave batches) gives exactly the tail of the full order.
    assert _keys(make_loader(stream(0, skip=5), 8, 2), 7) == first[5 * 8:]
    assert len(set(first)) == len(first)


def test_ranks_partition_the_samples(pair_shards, monkeypatch):
    dims, _ = probe_shards(pair_shards, "test", 8, None)
    seen = []
    for rank in (0, 1):
        monkeypatch.setattr("mmmodel.data._rank_and_world", lambda rank=rank: (rank, 2))
        seen.append(_keys(make_loader(ShardStream(shard_paths(pair_shards, "test"), dims, train=False), 16, 0)))
    assert not set(seen[0]) & set(seen[1])
    assert len(seen[0]) + len(seen[1]) == 64


def test_missing_split_is_a_clear_error(pair_shards):
    with pytest.raises(ShardError, match="no shards for split 'holdout'"):
        shard_paths(pair_shards, "holdout")


def test_requested_modality_absent_everywhere_is_refused(image_only_shards):
    with pytest.raises(ShardError, match="none of the modalities"):
        probe_shards(image_only_shards, "train", 8, ["audio"])
