"""One small encoder per modality, each mapping its input to a ``dim``-wide embedding.

image: CNN over [3, H, W]; audio: 1-D CNN over the frames of the log-mel [n_mels, frames], the mel
bins as channels (or, ``audio_encoder="conv2d"``, the image CNN over the log-mel as a one-channel picture);
text: token + position embeddings, a few pre-norm transformer blocks, masked mean pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mmdata import fields
from mmmodel.config import ModelDims, TrainConfig


class ConvEncoder(nn.Module):
    """Conv blocks ((conv-GroupNorm-GELU) x ``convs_per_block``, then pool), average pooling to a
    ``grid`` x ``grid`` map, flatten, linear to ``dim``.

    The grid keeps *where* features are: a spoken digit is a sequence of sounds in time, a digit
    image a layout of strokes. ``grid=0`` pools globally (position-free features).

    GroupNorm instead of BatchNorm: a sample's embedding must not depend on its batch, so that
    inference on one sample, DDP without SyncBN and masked (all-zero) inputs behave the same.

    ``input_norm``: ``center`` subtracts 0.5 (images in [0, 1]); ``utterance`` standardizes each
    input as a whole (log-mel scales differ between builds: dB vs natural log); ``cmvn`` also
    removes each mel bin's mean and scale over the frames of the utterance (cepstral mean and
    variance normalisation), which takes out a speaker's and a channel's fixed spectral tilt.
    """

    def __init__(self, in_channels: int, width: int, blocks: int, dim: int, dropout: float,
                 input_norm: str = "center", convs_per_block: int = 1, grid: int = 0,
                 input_hw: tuple[int, int] = (32, 32)) -> None:
        super().__init__()
        _check_norm(input_norm)
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(blocks):
            out = width * 2**i
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(channels, out, 3, padding=1), nn.GroupNorm(min(4, out), out), nn.GELU()]
                channels = out
            layers.append(nn.MaxPool2d(2, ceil_mode=True))
        self.body = nn.Sequential(*layers)
        self.grid = grid
        if grid > 0:
            height, width_ = input_hw
            for _ in range(blocks):
                height, width_ = math.ceil(height / 2), math.ceil(width_ / 2)
            # Fixed averaging matrices (adaptive average pooling written as two matmuls): they export
            # to ONNX for any map size, where adaptive pooling needs the size divisible by the grid.
            self.register_buffer("pool_rows", _pool_matrix(height, grid), persistent=False)
            self.register_buffer("pool_cols", _pool_matrix(width_, grid), persistent=False)
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels * max(1, grid) ** 2, dim))
        self.input_norm = input_norm

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the first conv sees it."""
        return normalize_input(x, self.input_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.unsqueeze(1)
        maps = self.body(self.normalize(x))
        if self.grid == 0:
            return self.proj(maps.mean(dim=(2, 3)))
        pooled = self.pool_rows.to(maps.dtype) @ maps @ self.pool_cols.to(maps.dtype).T
        return self.proj(pooled.flatten(1))


def _check_norm(input_norm: str) -> None:
    if input_norm not in ("center", "utterance", "cmvn"):
        raise ValueError(f"unknown input_norm {input_norm!r}")


def normalize_input(x: torch.Tensor, input_norm: str) -> torch.Tensor:
    """[B, C, H, W] -> the same, normalised as ``ConvEncoder`` describes (W is time for log-mels)."""
    if input_norm == "center":
        return x - 0.5
    if input_norm == "cmvn":
        x = x - x.mean(dim=3, keepdim=True)
        return x / (x.std(dim=3, keepdim=True) + 1e-3 * x.std(dim=(1, 2, 3), keepdim=True) + 1e-5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) / (x.std(dim=(1, 2, 3), keepdim=True) + 1e-5)


class TimeConvEncoder(nn.Module):
    """Log-mel [B, n_mels, frames] -> [B, dim] with 1-D convs over time, the mel bins as channels.

    Every conv sees the whole spectrum of a few frames; the maps are then averaged into ``segments``
    spans of time (like the segment-mean features a linear model does well on with unseen speakers),
    so the embedding keeps the order of the sounds but not their exact timing. On FSDD with a speaker
    held out it generalises far better than the 2-D CNN, which learns the training speakers' voices.
    """

    def __init__(self, n_mels: int, frames: int, width: int, blocks: int, dim: int, dropout: float,
                 input_norm: str = "utterance", segments: int = 4) -> None:
        super().__init__()
        _check_norm(input_norm)
        layers: list[nn.Module] = []
        channels = n_mels
        for i in range(blocks):
            out = width * 2**i
            layers += [nn.Conv1d(channels, out, 5, padding=2), nn.GroupNorm(min(4, out), out), nn.GELU(),
                       nn.MaxPool1d(2, ceil_mode=True)]
            channels = out
            frames = math.ceil(frames / 2)
        self.body = nn.Sequential(*layers)
        self.register_buffer("pool_time", _pool_matrix(frames, segments), persistent=False)
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(channels * segments, dim))
        self.input_norm = input_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = normalize_input(x.unsqueeze(1), self.input_norm).squeeze(1)
        maps = self.body(x)
        return self.proj((maps @ self.pool_time.to(maps.dtype).T).flatten(1))


def _pool_matrix(size: int, grid: int) -> torch.Tensor:
    """[grid, size] rows averaging the cells adaptive average pooling gives each output cell."""
    matrix = torch.zeros(grid, size)
    for i in range(grid):
        start, end = (i * size) // grid, -((-(i + 1) * size) // grid)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


class SelfAttention(nn.Module):
    """Multi-head self-attention with a key padding mask (written out so it exports to ONNX)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        assert dim % heads == 0, "dim must be divisible by text_heads"
        self.heads, self.dim, self.head_dim = heads, dim, dim // heads
        self.scale = 1.0 / math.sqrt(self.head_dim)  # a constant, so tracing records no shape arithmetic
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        batch, length = x.shape[0], x.shape[1]
        q, k, v = self.qkv(x).split(self.dim, dim=2)
        q, k, v = (t.reshape(batch, length, self.heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) * self.scale
        # A large negative (not -inf) keeps all-padding rows finite instead of NaN.
        scores = scores.masked_fill(~keep[:, None, None, :], -1e4)
        y = F.softmax(scores, dim=-1) @ v
        return self.out(y.transpose(1, 2).reshape(batch, length, self.dim))


class Block(nn.Module):
    """Pre-norm transformer block, as in nanoGPT (without the causal mask)."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), keep)
        return x + self.mlp(self.norm2(x))


class TextEncoder(nn.Module):
    """Token ids [B, T] (0 = padding) -> embedding [B, dim]."""

    def __init__(self, vocab_size: int, max_tokens: int, dim: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Embedding(max_tokens, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        keep = ids > 0
        # Out-of-vocabulary ids from a foreign shard set map to <unk> (1) instead of crashing.
        ids = torch.where(ids < self.tokens.num_embeddings, ids, torch.ones_like(ids))
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.tokens(ids) + self.positions(positions)[None]
        for block in self.blocks:
            x = block(x, keep)
        weights = keep.unsqueeze(-1).to(x.dtype)
        return self.norm(x * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def build_encoder(modality: str, dims: ModelDims, cfg: TrainConfig) -> nn.Module:
    """The encoder of one modality, sized by the config and the probed input shapes."""
    if modality == fields.IMAGE:
        return ConvEncoder(dims.image_shape[0], cfg.conv_width, cfg.conv_blocks, cfg.dim, cfg.dropout, "center",
                           cfg.convs_per_block, cfg.pool_grid, tuple(dims.image_shape[1:]))
    if modality == fields.AUDIO and cfg.audio_encoder == "conv1d":
        n_mels, frames = dims.mel_shape
        return TimeConvEncoder(n_mels, frames, cfg.audio_width, cfg.audio_blocks, cfg.dim, cfg.dropout,
                               cfg.audio_norm, cfg.audio_segments)
    if modality == fields.AUDIO:
        return ConvEncoder(1, cfg.conv_width, cfg.conv_blocks, cfg.dim, cfg.dropout, cfg.audio_norm,
                           cfg.convs_per_block, cfg.pool_grid, tuple(dims.mel_shape))
    if modality == fields.TEXT:
        return TextEncoder(dims.vocab_size, dims.max_tokens, cfg.dim, cfg.text_layers, cfg.text_heads, cfg.dropout)
    raise ValueError(f"no encoder for modality {modality!r}")
