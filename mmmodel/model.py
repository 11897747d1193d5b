"""The fused classifier: one encoder per modality -> fusion -> MLP head.

Modality dropout hides random present modalities from training samples, so the model learns to
answer from any subset; at test time a zero in the mask removes a modality the same way.

Per-modality heads (an MLP classifier on each embedding) exist for ``late`` and ``hybrid`` fusion,
where they are the experts whose log-probabilities are summed, and whenever ``unimodal_loss_weight``
> 0, where their cross-entropy is an auxiliary training loss that keeps every encoder learning.
``hybrid`` adds one more expert, the concat model's joint head, which sees all modalities at once and
so keeps the cross-modal interactions a product of per-modality experts cannot express. With
``independent_experts`` the fused loss stops at the experts: each is fitted on its own modality alone
(and training clips each expert's gradient norm separately, see ``expert_branches``); with
``joint_expert_detached`` as well, hybrid's joint expert reads detached embeddings, so no fused loss
reaches an encoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mmmodel.config import ModelDims, TrainConfig
from mmmodel.encoders import build_encoder
from mmmodel.fusion import ConcatFusion, LateFusion, ProjectionFusion, build_fusion


def classifier_head(in_dim: int, dim: int, n_classes: int, dropout: float) -> nn.Sequential:
    """LayerNorm -> dropout -> Linear -> GELU -> Linear."""
    return nn.Sequential(nn.LayerNorm(in_dim), nn.Dropout(dropout), nn.Linear(in_dim, dim), nn.GELU(),
                         nn.Linear(dim, n_classes))


class MultimodalClassifier(nn.Module):
    """inputs {modality: tensor}, mask [B, M] (1 = present) -> class logits [B, n_classes]."""

    def __init__(self, dims: ModelDims, cfg: TrainConfig) -> None:
        super().__init__()
        self.modalities = list(dims.modalities)
        self.encoders = nn.ModuleDict({m: build_encoder(m, dims, cfg) for m in self.modalities})
        self.late = cfg.fusion in ("late", "hybrid")  # a product of per-modality experts
        self.joint = cfg.fusion == "hybrid"  # ... times a joint expert over the concatenated embeddings
        # With one modality the auxiliary loss would only repeat the main one.
        self.unimodal_loss_weight = cfg.unimodal_loss_weight if len(self.modalities) > 1 else 0.0
        self.independent_experts = cfg.independent_experts and self.unimodal_loss_weight > 0
        # The joint expert's fused loss stops at the embeddings: encoders learn from their experts alone.
        self.joint_expert_detached = cfg.joint_expert_detached and self.independent_experts and self.joint
        self.contrastive_weight = cfg.contrastive_weight
        self.unimodal_heads = None
        if self.late or self.unimodal_loss_weight > 0:
            self.unimodal_heads = nn.ModuleDict(
                {m: classifier_head(cfg.dim, cfg.dim, dims.n_classes, cfg.dropout) for m in self.modalities})
        if self.late:  # its output already is the class scores
            self.fusion = LateFusion(len(self.modalities), dims.n_classes)
        else:
            self.fusion = build_fusion(cfg.fusion, len(self.modalities), cfg.dim, cfg.lowrank_rank,
                                       cfg.contrastive_temperature)
        self.joint_fusion = ConcatFusion(len(self.modalities), cfg.dim) if self.joint else None
        head_in = self.joint_fusion.out_dim if self.joint else self.fusion.out_dim
        self.head = nn.Identity() if self.late and not self.joint else classifier_head(head_in, cfg.dim,
                                                                                          dims.n_classes, cfg.dropout)
        self.modality_dropout = cfg.modality_dropout

    def expert_branches(self) -> list[list[nn.Parameter]]:
        """Parameters per expert: each modality's encoder with its head, then the rest (fusion, joint head)."""
        branches = [[*self.encoders[m].parameters(), *self.unimodal_heads[m].parameters()] for m in self.modalities]
        taken = {id(p) for branch in branches for p in branch}
        return [*branches, [p for p in self.parameters() if id(p) not in taken]]

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

    def unimodal_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """Each modality's own class logits [B, M, C] from its embedding alone."""
        return torch.stack([self.unimodal_heads[m](feats[:, i]) for i, m in enumerate(self.modalities)], dim=1)

    def forward(self, inputs: dict[str, torch.Tensor], mask: torch.Tensor, target: torch.Tensor | None = None):
        """Logits; given ``target`` (training) also the weighted auxiliary loss: cross-modal alignment
        (projection fusion) plus per-modality cross-entropy (``unimodal_loss_weight``).

        One entry point for both, so DDP's gradient hooks see every forward pass.
        """
        present = mask
        mask = self.drop_modalities(mask)
        feats = self.embed(inputs)
        per_modality = self.unimodal_logits(feats) if self.unimodal_heads is not None else None
        if self.late:
            # Independent experts: the product is scored, but only the experts' own losses train them.
            logits = self.fusion(per_modality.detach() if self.independent_experts else per_modality, mask)
            if self.joint:
                joint_feats = feats.detach() if self.joint_expert_detached else feats
                joint = self.head(self.joint_fusion(joint_feats, mask))
                logits = logits + F.log_softmax(joint.float(), dim=-1).to(logits.dtype)
        else:
            logits = self.head(self.fusion(feats, mask))
        if target is None:
            return logits
        aux = feats.new_zeros((), dtype=torch.float32)
        if isinstance(self.fusion, ProjectionFusion) and self.training and self.contrastive_weight > 0:
            aux = aux + self.contrastive_weight * self.fusion.alignment_loss(feats, mask).float()
        if per_modality is not None and self.unimodal_loss_weight > 0:
            # Every present modality is supervised, also when dropout hid it from the fusion.
            aux = aux + self.unimodal_loss_weight * unimodal_loss(per_modality, present, target)
        return logits, aux


def unimodal_loss(per_modality: torch.Tensor, present: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy of per-modality logits [B, M, C] over the (sample, modality) pairs present."""
    n_modalities = per_modality.shape[1]
    losses = F.cross_entropy(per_modality.float().flatten(0, 1), target.repeat_interleave(n_modalities),
                             reduction="none")
    weights = present.flatten().to(losses.dtype)
    return (losses * weights).sum() / weights.sum().clamp(min=1.0)


class ExportWrapper(nn.Module):
    """Positional-tensor front end (one input per modality, then the mask) for TorchScript/ONNX."""

    def __init__(self, model: MultimodalClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs = dict(zip(self.model.modalities, tensors[:-1], strict=True))
        return torch.softmax(self.model(inputs, tensors[-1]).float(), dim=-1)
