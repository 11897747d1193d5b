"""Evaluation of a model directory on one split: metrics, per-class report, confusion-matrix PNG,
ablations (each modality removed at test time) and unimodal baselines (same training budget)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from mmdata.atomic import atomic_path, write_text_atomic
from mmmodel.config import EvaluateConfig, ModelDims, TrainConfig
from mmmodel.data import ShardStream, make_loader, shard_paths
from mmmodel.metrics import classification_metrics, predict_probs
from mmmodel.modeldir import load_model
from mmmodel.train import resolve_device, train, unimodal_config

HEADLINE = ("accuracy", "macro_f1", "macro_precision", "macro_recall", "n_samples")


def _headline(scores: dict) -> dict:
    return {k: scores[k] for k in HEADLINE}


def score_model(model_dir: str | Path, shards: str | Path, split: str, cfg: EvaluateConfig,
                with_ablations: bool, console: Console) -> tuple[dict, dict, np.ndarray, np.ndarray, list[str]]:
    """Score one model on a split; return (full metrics, ablations, labels, predictions, keys)."""
    device = resolve_device(cfg.device)
    model, info, label_names = load_model(model_dir, device)
    dims = ModelDims.model_validate(info["dims"])
    stream = ShardStream(shard_paths(shards, split), dims, train=False)
    loader = make_loader(stream, cfg.batch_size, 0, pin_memory=device.type == "cuda")
    removed = {f"without_{m}": [m] for m in dims.modalities} if with_ablations and len(dims.modalities) > 1 else {}
    with Progress(console=console, disable=not cfg.progress, transient=True) as progress:
        task = progress.add_task(f"evaluate {Path(model_dir).name} on {split}", total=None)
        y_true, probs, keys = predict_probs(model, loader, device, amp=True, removed=removed,
                                            on_batch=lambda n: progress.advance(task, n))
    if len(y_true) == 0:
        raise ValueError(f"split {split!r} of {shards} holds no samples")
    full = classification_metrics(y_true, probs["full"].argmax(1), label_names)
    ablations = {name: _headline(classification_metrics(y_true, probs[name].argmax(1), label_names))
                 | {"removed": hidden} for name, hidden in removed.items()}
    return full, ablations, y_true, probs["full"].argmax(1), keys


def plot_confusion(confusion: list[list[int]], label_names: list[str], path: Path, title: str) -> None:
    """Confusion matrix as a PNG (counts annotated, rows = true class)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.array(confusion)
    size = max(4.0, 0.5 * len(label_names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(label_names)), label_names, rotation=45, ha="right")
    ax.set_yticks(range(len(label_names)), label_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", color="white" if count > threshold else "black", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def _unimodal(cfg: EvaluateConfig, info: dict, console: Console) -> dict:
    """Scores of the single-modality baselines found (or, if asked, trained) beside the model."""
    modalities = info["dims"]["modalities"]
    if len(modalities) < 2:
        return {}
    results = {}
    for modality in modalities:
        baseline = Path(cfg.model) / "unimodal" / modality
        if not (baseline / "model.pt").is_file():
            if not cfg.train_baselines:
                continue
            base_cfg = TrainConfig.model_validate(info["train"])
            sub = unimodal_config(base_cfg, modality, baseline, Path(cfg.out) / "unimodal" / modality)
            sub = sub.model_copy(update={"progress": cfg.progress})
            console.print(f"training unimodal baseline {modality} (same budget as the fused model)")
            train(sub, console)
        full, _, _, _, _ = score_model(baseline, cfg.shards, cfg.split, cfg, False, console)
        results[modality] = _headline(full)
    return results


def evaluate(cfg: EvaluateConfig, console: Console | None = None) -> dict:
    """Evaluate ``cfg.model`` on ``cfg.shards/cfg.split``; write metrics.json and confusion_matrix.png."""
    console = console or Console(stderr=True)
    out = Path(cfg.out)
    _, info, label_names = load_model(cfg.model, "cpu")
    full, ablations, y_true, y_pred, keys = score_model(cfg.model, cfg.shards, cfg.split, cfg, cfg.ablations, console)
    metrics = {
        **_headline(full),
        "split": cfg.split, "shards": str(cfg.shards), "model": str(cfg.model),
        "fusion": info["train"]["fusion"], "modalities": info["dims"]["modalities"],
        "per_class": full["per_class"], "confusion": full["confusion"], "labels": label_names,
        "ablations": ablations, "unimodal": _unimodal(cfg, info, console),
    }
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "metrics.json", json.dumps(metrics, indent=1) + "\n")
    plot_confusion(full["confusion"], label_names, out / "confusion_matrix.png",
                   f"{cfg.split}: accuracy {full['accuracy']:.3f}, macro-F1 {full['macro_f1']:.3f}")
    rows = ["key,actual,predicted"] + [f"{k},{label_names[t]},{label_names[p]}" for k, t, p in zip(keys, y_true, y_pred, strict=True)]
    write_text_atomic(out / "predictions.csv", "\n".join(rows) + "\n")  # for `dvc plots` confusion templates
    console.print(metrics_table(metrics))
    return metrics


def metrics_table(metrics: dict) -> Table:
    """Fused model vs each modality removed vs unimodal baselines."""
    table = Table(title=f"evaluation on {metrics['split']} ({metrics['n_samples']} samples)")
    for column in ("model", "accuracy", "macro-F1"):
        table.add_column(column)
    table.add_row(f"fused ({metrics['fusion']})", f"{metrics['accuracy']:.4f}", f"{metrics['macro_f1']:.4f}")
    for name, scores in metrics["ablations"].items():
        table.add_row(name.replace("_", " "), f"{scores['accuracy']:.4f}", f"{scores['macro_f1']:.4f}")
    for name, scores in metrics["unimodal"].items():
        table.add_row(f"{name} only (trained)", f"{scores['accuracy']:.4f}", f"{scores['macro_f1']:.4f}")
    return table
