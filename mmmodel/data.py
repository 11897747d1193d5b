"""WebDataset loader: shard and sample shuffling, node/worker splitting, fixed epoch length for DDP,
decoding of the standardized fields into tensors, and a presence mask per modality.

The order of samples is a pure function of (seed, epoch, rank, worker), so a resumed run can skip
exactly the batches it already trained on and see the same data as an uninterrupted run.
"""

from __future__ import annotations

import io
import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info
from webdataset.tariterators import tarfile_samples

from mmdata import fields
from mmdata.safety.tar_guard import group_members, safe_tar_file_expander
from mmmodel.config import ModelDims
from mmmodel.shardfs import ShardError, is_url, join, list_shards, open_shard, read_optional

LABEL = "label"
MASK = "mask"


def shard_paths(shards: str | Path, split: str) -> list[str]:
    """Sorted shards of one split: local files (each tar checked up front) or fsspec URLs."""
    return list_shards(shards, split)


def _wanted_member(name: str) -> bool:
    # Skip raw audio/text bytes the model never reads: less I/O and memory per sample.
    suffix = name.split(".", 1)[1] if "." in name else ""
    return suffix in _WANTED


_WANTED = {fields.META, fields.CLASS, fields.MEL, fields.TOKENS, *fields.IMAGE_EXTS}


def read_raw_samples(paths: list[str]) -> Iterator[dict]:
    """Yield undecoded samples (dicts of bytes) of ``paths`` in order."""
    if not any(is_url(p) for p in paths):  # local files: already checked by `shard_paths`
        yield from tarfile_samples(({"url": p} for p in paths), select_files=_wanted_member)
        return
    # Remote tars are read once, so the guard checks each member header as the tar streams past.
    sources = ({"url": p, "stream": open_shard(p)} for p in paths)
    members = (m for m in safe_tar_file_expander(sources) if _wanted_member(m["fname"]))
    yield from group_members(members)


# ---------------------------------------------------------------- decoding


def sample_label(sample: dict) -> int:
    """Class index of a raw sample from ``cls`` (or the ``label_id`` in ``json``)."""
    if fields.CLASS in sample:
        return int(sample[fields.CLASS].decode().strip())
    if fields.META in sample:
        meta = json.loads(sample[fields.META])
        if meta.get("label_id") is not None:
            return int(meta["label_id"])
    raise ShardError(f"sample {sample.get(fields.KEY)!r} has no label (no cls, no json label_id)")


def decode_image(data: bytes) -> torch.Tensor:
    """Encoded image bytes -> float tensor [3, H, W] in [0, 1]."""
    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if array is None:
        raise ShardError("image bytes do not decode")
    array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1))).float().div_(255.0)


def decode_mel(data: bytes) -> torch.Tensor:
    """``mel.npy`` bytes -> float tensor [n_mels, frames]."""
    array = np.load(io.BytesIO(data), allow_pickle=False)
    if array.ndim != 2:
        raise ShardError(f"mel.npy must be 2-D [n_mels, frames], got shape {array.shape}")
    return torch.from_numpy(np.nan_to_num(array.astype(np.float32)))


def decode_tokens(data: bytes, max_tokens: int) -> torch.Tensor:
    """``tok.npy`` bytes -> int64 tensor [max_tokens], truncated or padded with 0 (``<pad>``)."""
    ids = np.load(io.BytesIO(data), allow_pickle=False).astype(np.int64).reshape(-1)[:max_tokens]
    out = torch.zeros(max_tokens, dtype=torch.long)
    out[: len(ids)] = torch.from_numpy(ids)
    return out


def _fit(tensor: torch.Tensor, shape: list[int]) -> torch.Tensor:
    """Crop or zero-pad the trailing dims to ``shape`` (standardized shards already match)."""
    if list(tensor.shape) == list(shape):
        return tensor
    out = torch.zeros(shape, dtype=tensor.dtype)
    region = tuple(slice(0, min(a, b)) for a, b in zip(tensor.shape, shape, strict=True))
    out[region] = tensor[region]
    return out


def decode_sample(sample: dict, dims: ModelDims) -> dict:
    """Raw sample -> {"image", "audio", "text": tensors (zeros when absent), "mask": [M], "label"}."""
    out: dict = {fields.KEY: sample.get(fields.KEY, "")}
    mask = torch.zeros(len(dims.modalities))
    for i, modality in enumerate(dims.modalities):
        tensor = None
        if modality == fields.IMAGE:
            ext = fields.payload_field(sample, fields.IMAGE)
            tensor = _fit(decode_image(sample[ext]), dims.image_shape) if ext else None
            blank = torch.zeros(dims.image_shape)
        elif modality == fields.AUDIO:
            tensor = _fit(decode_mel(sample[fields.MEL]), dims.mel_shape) if fields.MEL in sample else None
            blank = torch.zeros(dims.mel_shape)
        else:
            present = fields.TOKENS in sample
            tensor = decode_tokens(sample[fields.TOKENS], dims.max_tokens) if present else None
            blank = torch.zeros(dims.max_tokens, dtype=torch.long)
        mask[i] = float(tensor is not None)
        out[modality] = blank if tensor is None else tensor
    out[MASK] = mask
    out[LABEL] = sample_label(sample)
    return out


# ---------------------------------------------------------------- probing


def _read_json(path: str):
    data = read_optional(path)
    return None if data is None else json.loads(data)


def probe_shards(shards: str | Path, split: str, max_tokens: int, modalities: list[str] | None) -> tuple[ModelDims, Counter]:
    """Scan one split for its modalities, input shapes and label counts."""
    seen: dict[str, list[int]] = {}
    labels: Counter = Counter()
    max_token_id = 1
    for sample in read_raw_samples(shard_paths(shards, split)):
        labels[sample_label(sample)] += 1
        ext = fields.payload_field(sample, fields.IMAGE)
        if ext and fields.IMAGE not in seen:
            seen[fields.IMAGE] = list(decode_image(sample[ext]).shape)
        if fields.MEL in sample and fields.AUDIO not in seen:
            seen[fields.AUDIO] = list(decode_mel(sample[fields.MEL]).shape)
        if fields.TOKENS in sample:
            seen.setdefault(fields.TEXT, [max_tokens])
            tokens = np.load(io.BytesIO(sample[fields.TOKENS]), allow_pickle=False)
            max_token_id = max(max_token_id, int(tokens.max(initial=0)))
    if not labels:
        raise ShardError(f"split {split!r} of {shards} holds no samples")
    present = [m for m in fields.MODALITIES if m in seen]
    chosen = [m for m in (modalities or present) if m in seen]
    if not chosen:
        raise ShardError(f"none of the modalities {modalities or list(fields.MODALITIES)} occurs in {shards}/{split}")
    label_names = _read_json(join(shards, "labels.json"))
    vocab = _read_json(join(shards, "vocab.json"))
    vocab_size = max(len(vocab) if vocab else 0, max_token_id + 1)
    n_classes = max(len(label_names) if label_names else 0, max(labels) + 1)
    dims = ModelDims(modalities=chosen, n_classes=n_classes, vocab_size=vocab_size, max_tokens=max_tokens,
                     image_shape=seen.get(fields.IMAGE, [3, 32, 32]), mel_shape=seen.get(fields.AUDIO, [40, 32]))
    return dims, labels


# ---------------------------------------------------------------- the stream


def _rank_and_world() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class ShardStream(IterableDataset):
    """Decoded samples of one split for this rank and worker.

    Training streams repeat (reshuffled each round) so every rank yields the same number of
    batches per epoch; evaluation streams read every sample exactly once, in shard order.
    """

    def __init__(self, paths: list[str], dims: ModelDims, *, train: bool, seed: int = 0,
                 shuffle_buffer: int = 512, batch_size: int = 1, split_ranks: bool = True) -> None:
        super().__init__()
        self.split_ranks = split_ranks  # False: every DDP rank reads the whole split (validation)
        self.paths, self.dims, self.train = paths, dims, train
        self.seed, self.shuffle_buffer, self.batch_size = seed, shuffle_buffer, batch_size
        self.epoch = 0
        self.skip_batches = 0  # batches of this epoch already consumed before a resume

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        """Select the epoch (shuffle order) and how many of its batches to skip."""
        self.epoch, self.skip_batches = epoch, skip_batches

    def _partition(self, rank: int, world: int, worker: int, workers: int) -> tuple[list[str], int, int]:
        """Shards this reader opens and, when shards are too few to split, a sample stride."""
        slots, slot = world * workers, rank * workers + worker
        if len(self.paths) >= slots:  # split by shard: each reader opens only its own files
            return self.paths[slot::slots], 0, 1
        return self.paths, slot, slots  # few shards: every reader takes every slots-th sample

    def __iter__(self) -> Iterator[dict]:
        rank, world = _rank_and_world() if self.split_ranks else (0, 1)
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        skip = 0
        if self.train:
            # The DataLoader takes batch i from worker i % W. A resumed loader starts again at worker
            # 0, so worker w plays the role of the worker that produced batch skip + w, and skips
            # that role's share of the batches already trained on.
            worker = (worker + self.skip_batches) % workers
            skip = max(0, math.ceil((self.skip_batches - worker) / workers)) * self.batch_size
        paths, offset, stride = self._partition(rank, world, worker, workers)
        stream = self._raw(paths, offset, stride, rank, worker)
        for index, sample in enumerate(stream):
            if index >= skip:
                yield decode_sample(sample, self.dims)

    def _raw(self, paths: list[str], offset: int, stride: int, rank: int, worker: int) -> Iterator[dict]:
        if not self.train:
            for index, sample in enumerate(read_raw_samples(paths)):
                if index % stride == offset:
                    yield sample
            return
        for round_ in range(1_000_000):  # repeat: the epoch length is set by the consumer
            rng = random.Random(f"{self.seed}/{self.epoch}/{round_}/{rank}/{worker}")
            order = list(paths)
            rng.shuffle(order)
            picked = (s for i, s in enumerate(read_raw_samples(order)) if i % stride == offset)
            count = 0
            for sample in _buffer_shuffle(picked, self.shuffle_buffer, rng):
                count += 1
                yield sample
            if count == 0:
                raise ShardError(f"reader {rank}/{worker} got no samples from {len(order)} shards")


def _buffer_shuffle(samples: Iterator[dict], size: int, rng: random.Random) -> Iterator[dict]:
    """Shuffle a stream through a bounded buffer (as webdataset's ``shuffle``), seeded explicitly."""
    buffer: list[dict] = []
    for sample in samples:
        if len(buffer) < size:
            buffer.append(sample)
            continue
        index = rng.randrange(len(buffer))
        buffer[index], sample = sample, buffer[index]
        yield sample
    rng.shuffle(buffer)
    yield from buffer


def make_loader(stream: ShardStream, batch_size: int, num_workers: int, pin_memory: bool = False) -> DataLoader:
    """DataLoader over a stream; workers keep their own partition, batches are collated tensors."""
    return DataLoader(stream, batch_size=batch_size, num_workers=num_workers, pin_memory=pin_memory,
                      persistent_workers=False, drop_last=False,
                      worker_init_fn=_forget_parent_thread_exit_hooks if num_workers else None)


def _forget_parent_thread_exit_hooks(_worker_id: int) -> None:
    # A forked worker inherits the hooks that the parent's threads registered to run at interpreter
    # exit (Prefect's log and event services register some), but none of those threads. Running
    # them in the worker fails (exit code 1: "DataLoader worker exited unexpectedly") whenever the
    # loader is used inside a Prefect flow, so a worker drops them: it owns no such thread.
    import threading

    hooks = getattr(threading, "_threading_atexits", None)
    if hooks is not None:
        hooks.clear()


def count_samples(shards: str | Path, split: str) -> int:
    """Number of samples in a split (from shard sidecar parquets when present, else a scan)."""
    import pyarrow.parquet as pq

    total = 0
    for path in shard_paths(shards, split):
        sidecar = read_optional(path.removesuffix(".tar") + ".parquet")
        if sidecar is not None:
            total += pq.ParquetFile(io.BytesIO(sidecar)).metadata.num_rows
        else:
            total += sum(1 for _ in read_raw_samples([path]))
    return total
