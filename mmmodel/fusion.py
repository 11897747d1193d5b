"""Fusion modules: per-modality embeddings [B, M, D] plus a presence mask [B, M] -> one vector [B, out_dim].

Every module treats a masked-out modality as absent (never as a real all-zero input), so any
subset of modalities works at test time. Anchors: torchmultimodal's ConcatFusionModule,
AttentionFusionModule and LateFusion, MultiBench's LowRankTensorFusion.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

NEG_LARGE = -1e4  # masked logits; finite so a sample with no modality left stays NaN-free


class ConcatFusion(nn.Module):
    """z = [m_1 x_1, ..., m_M x_M, m]: absent embeddings are zeroed; the mask tells the head which."""

    def __init__(self, n_modalities: int, dim: int) -> None:
        super().__init__()
        self.out_dim = n_modalities * dim + n_modalities

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = feats * mask.unsqueeze(-1).to(feats.dtype)
        return torch.cat([masked.flatten(1), mask.to(feats.dtype)], dim=1)


class AttentionFusion(nn.Module):
    """a = softmax(W_1 x_1 + ... + W_M x_M + b) over modalities; z = sum_m a_m x_m.

    The seed's two-modality form a = softmax(W_x x + W_y y + b) generalised to M modalities;
    absent modalities get a large negative logit, so their weight is ~0.
    """

    def __init__(self, n_modalities: int, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(n_modalities * dim, n_modalities)
        self.out_dim = dim
        self.last_weights: torch.Tensor | None = None  # kept for inspection (which modality was trusted)

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        present = mask > 0
        masked = feats * present.unsqueeze(-1).to(feats.dtype)
        logits = self.score(masked.flatten(1)).masked_fill(~present, NEG_LARGE)
        weights = F.softmax(logits.float(), dim=1).to(feats.dtype) * present.to(feats.dtype)
        self.last_weights = weights.detach()
        return (weights.unsqueeze(-1) * masked).sum(dim=1)


class ProjectionFusion(nn.Module):
    """Map each modality into one shared, L2-normalised space; z = mean over present modalities.

    ``alignment_loss`` pulls the projections of the same sample together across modalities
    (symmetric InfoNCE, as in CLIP), which makes the shared space usable with any one modality.
    """

    def __init__(self, n_modalities: int, dim: int, temperature: float = 0.1) -> None:
        super().__init__()
        self.proj = nn.ModuleList(nn.Linear(dim, dim) for _ in range(n_modalities))
        self.temperature = temperature
        self.out_dim = dim

    def project(self, feats: torch.Tensor) -> torch.Tensor:
        """Shared-space embeddings [B, M, D], unit length."""
        return F.normalize(torch.stack([p(feats[:, i]) for i, p in enumerate(self.proj)], dim=1), dim=-1)

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = mask.unsqueeze(-1).to(feats.dtype)
        return (self.project(feats) * weights).sum(1) / weights.sum(1).clamp(min=1.0)

    def alignment_loss(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean symmetric InfoNCE over modality pairs, using only samples that have both."""
        shared = self.project(feats).float()
        losses = []
        for i in range(shared.shape[1]):
            for j in range(i + 1, shared.shape[1]):
                both = (mask[:, i] > 0) & (mask[:, j] > 0)
                if both.sum() < 2:
                    continue
                a, b = shared[both, i], shared[both, j]
                logits = a @ b.T / self.temperature
                target = torch.arange(len(a), device=a.device)
                losses.append((F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2)
        return torch.stack(losses).mean() if losses else feats.new_zeros(())


class LowRankFusion(nn.Module):
    """Low-rank multimodal tensor fusion (Liu et al., 2018).

    The full fusion is an outer product of [x_m, 1] over modalities times a weight tensor; with a
    rank-R factorisation it becomes prod_m ([x_m, 1] W_m) summed over ranks. An absent modality
    enters as [0, 1], i.e. only its bias row: the product stays defined for any subset.
    """

    def __init__(self, n_modalities: int, dim: int, rank: int = 4, out_dim: int | None = None) -> None:
        super().__init__()
        self.out_dim = out_dim or dim
        self.factors = nn.Parameter(torch.randn(n_modalities, rank, dim + 1, self.out_dim) * (dim + 1) ** -0.5)
        self.rank_weights = nn.Parameter(torch.full((1, rank), 1.0 / rank))
        self.bias = nn.Parameter(torch.zeros(self.out_dim))

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        masked = feats * mask.unsqueeze(-1).to(feats.dtype)
        ones = torch.ones_like(masked[..., :1])
        with_bias = torch.cat([masked, ones], dim=-1)  # [B, M, D+1]
        per_modality = torch.einsum("bmd,mrdo->bmro", with_bias, self.factors.to(feats.dtype))
        fused = per_modality.prod(dim=1)  # [B, R, out]
        return (self.rank_weights.to(feats.dtype) @ fused).squeeze(1) + self.bias.to(feats.dtype)


class LateFusion(nn.Module):
    """Product of experts: log p(y | x) = sum over present m of log_softmax(l_m) (+ a constant).

    Its input is per-modality class logits [B, M, C] (one classifier head per modality), not
    embeddings, so its output already is the class scores. Every modality keeps its own opinion,
    and independent errors cancel; an absent modality adds nothing (no modality left: uniform).
    """

    def __init__(self, n_modalities: int, n_classes: int) -> None:
        super().__init__()
        self.out_dim = n_classes

    def forward(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits.float(), dim=-1).to(logits.dtype)
        return (log_probs * mask.unsqueeze(-1).to(logits.dtype)).sum(dim=1)


def build_fusion(kind: str, n_modalities: int, dim: int, rank: int = 4, temperature: float = 0.1) -> nn.Module:
    """The fusion module named in params.yaml (``train.fusion``); for ``late``, ``dim`` is the class count."""
    if kind == "concat":
        return ConcatFusion(n_modalities, dim)
    if kind == "attention":
        return AttentionFusion(n_modalities, dim)
    if kind == "projection":
        return ProjectionFusion(n_modalities, dim, temperature)
    if kind == "lowrank":
        return LowRankFusion(n_modalities, dim, rank)
    if kind == "late":
        return LateFusion(n_modalities, dim)
    raise ValueError(f"unknown fusion {kind!r}; choose concat, attention, projection, lowrank or late")
