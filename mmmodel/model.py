"""The fused classifier: one encoder per modality -> fusion -> MLP head.

Modality dropout hides random present modalities from training samples, so the model learns to
answer from any subset; at test time a zero in the mask removes a modality the same way.
"""

from __future__ import annotations

import torch
from torch import nn

from mmmodel.config import ModelDims, TrainConfig
from mmmodel.encoders import build_encoder
from mmmodel.fusion import ProjectionFusion, build_fusion


class MultimodalClassifier(nn.Module):
    """inputs {modality: tensor}, mask [B, M] (1 = present) -> class logits [B, n_classes]."""

    def __init__(self, dims: ModelDims, cfg: TrainConfig) -> None:
        super().__init__()
        self.modalities = list(dims.modalities)
        self.encoders = nn.ModuleDict({m: build_encoder(m, dims, cfg) for m in self.modalities})
        self.fusion = build_fusion(cfg.fusion, len(self.modalities), cfg.dim, cfg.lowrank_rank,
                                   cfg.contrastive_temperature)
        self.head = nn.Sequential(nn.LayerNorm(self.fusion.out_dim), nn.Dropout(cfg.dropout),
                                  nn.Linear(self.fusion.out_dim, cfg.dim), nn.GELU(), nn.Linear(cfg.dim, dims.n_classes))
        self.modality_dropout = cfg.modality_dropout

    def drop_modalities(self, mask: torch.Tensor) -> torch.Tensor:
        """Hide each present modality with probability p, keeping at least one per sample."""
        if not self.training or self.modality_dropout <= 0 or mask.shape[1] < 2:
            return mask
        keep = (torch.rand(mask.shape, device=mask.device) >= self.modality_dropout).to(mask.dtype)
        dropped = mask * keep
        emptied = (dropped.sum(1) == 0) & (mask.sum(1) > 0)
        return torch.where(emptied.unsqueeze(1), mask, dropped)

    def embed(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-modality embeddings stacked as [B, M, D]."""
        return torch.stack([self.encoders[m](inputs[m]) for m in self.modalities], dim=1)

    def forward(self, inputs: dict[str, torch.Tensor], mask: torch.Tensor, with_aux: bool = False):
        """Logits; with ``with_aux`` also the alignment loss (zero unless projection fusion trains).

        One entry point for both, so DDP's gradient hooks see every forward pass.
        """
        mask = self.drop_modalities(mask)
        feats = self.embed(inputs)
        aux = feats.new_zeros(())
        if isinstance(self.fusion, ProjectionFusion) and self.training:
            aux = self.fusion.alignment_loss(feats, mask)
        logits = self.head(self.fusion(feats, mask))
        return (logits, aux) if with_aux else logits


class ExportWrapper(nn.Module):
    """Positional-tensor front end (one input per modality, then the mask) for TorchScript/ONNX."""

    def __init__(self, model: MultimodalClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs = dict(zip(self.model.modalities, tensors[:-1], strict=True))
        return torch.softmax(self.model(inputs, tensors[-1]).float(), dim=-1)
