"""Inference over a loader (optionally with modalities removed) and classification metrics."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

from mmdata import fields
from mmmodel.data import LABEL, MASK


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA; a no-op context elsewhere."""
    if device.type == "cuda" and enabled:
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device(batch: dict, modalities: list[str], device: torch.device) -> tuple[dict, torch.Tensor, torch.Tensor]:
    """Split a collated batch into model inputs, mask and labels on ``device``."""
    inputs = {m: batch[m].to(device, non_blocking=True) for m in modalities}
    return inputs, batch[MASK].to(device), batch[LABEL].to(device)


@torch.no_grad()
def predict_probs(model: torch.nn.Module, loader, device: torch.device, amp: bool,
                  removed: dict[str, list[str]] | None = None, on_batch=None) -> tuple[np.ndarray, dict[str, np.ndarray], list[str]]:
    """Class probabilities for every sample, once with all modalities ("full") and once per entry of
    ``removed`` (name -> modalities hidden from the model). Returns labels, probs by name, keys."""
    model.eval()
    modalities = list(getattr(model, "modalities", None) or model.module.modalities)
    variants = {"full": []} | {name: list(hidden) for name, hidden in (removed or {}).items()}
    probs: dict[str, list[np.ndarray]] = {name: [] for name in variants}
    labels: list[np.ndarray] = []
    keys: list[str] = []
    for batch in loader:
        inputs, mask, target = to_device(batch, modalities, device)
        for name, hidden in variants.items():
            keep = torch.tensor([m not in hidden for m in modalities], device=device, dtype=mask.dtype)
            with autocast(device, amp):
                logits = model(inputs, mask * keep)
            probs[name].append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
        labels.append(target.cpu().numpy())
        keys.extend(batch[fields.KEY])
        if on_batch:
            on_batch(len(target))
    if not labels:
        return np.zeros(0, dtype=np.int64), {name: np.zeros((0, 0)) for name in variants}, []
    return np.concatenate(labels), {name: np.concatenate(p) for name, p in probs.items()}, keys


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, label_names: list[str]) -> dict:
    """Accuracy, macro precision/recall/F1 over the classes present, per-class report, confusion."""
    ids = list(range(len(label_names)))
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, y_pred, labels=present, average="macro",
                                                               zero_division=0)
    per_p, per_r, per_f, support = precision_recall_fscore_support(y_true, y_pred, labels=ids, zero_division=0)
    return {
        "n_samples": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
        "macro_precision": float(precision),
        "macro_recall": float(recall),
        "macro_f1": float(f1),
        "per_class": {name: {"precision": float(per_p[i]), "recall": float(per_r[i]), "f1": float(per_f[i]),
                             "support": int(support[i])} for i, name in enumerate(label_names)},
        "confusion": confusion_matrix(y_true, y_pred, labels=ids).tolist(),
    }
