"""The model directory: model.pt, config.json, labels.json, vocab.json, preprocess.json, checkpoints/.

Every file is written atomically, so a killed run never leaves a half-written model behind.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import torch

from mmdata.atomic import write_bytes_atomic, write_text_atomic
from mmmodel.config import ModelDims, TrainConfig
from mmmodel.model import MultimodalClassifier
from mmmodel.shardfs import join, read_optional

WEIGHTS = "model.pt"
CONFIG = "config.json"
LABELS = "labels.json"
SIDECARS = ("labels.json", "vocab.json", "preprocess.json")  # copied from the build's shard folder
CHECKPOINTS = "checkpoints"
LAST_CHECKPOINT = "last.pt"


def save_torch_atomic(obj, target: str | Path) -> None:
    """torch.save to a temporary beside ``target``, then rename."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    write_bytes_atomic(target, buffer.getvalue())


def copy_sidecars(shards: str | Path, out: str | Path, n_classes: int) -> list[str]:
    """Copy the build's labels/vocab/preprocess files (local or fsspec URL) to ``out``; return the label names."""
    out = Path(out)
    for name in SIDECARS:
        data = read_optional(join(shards, name))
        if data is not None:
            write_bytes_atomic(out / name, data)
    labels_path = out / LABELS
    names = json.loads(labels_path.read_text()) if labels_path.is_file() else []
    if len(names) < n_classes:  # shards without labels.json: name classes by their index
        names = [str(i) for i in range(n_classes)]
        write_text_atomic(labels_path, json.dumps(names))
    return [str(n) for n in names]


def write_config(out: str | Path, cfg: TrainConfig, dims: ModelDims, extra: dict) -> None:
    """config.json: the full TrainConfig, the model dims and training facts (best epoch, ...)."""
    body = {"train": cfg.model_dump(), "dims": dims.model_dump(), **extra}
    write_text_atomic(Path(out) / CONFIG, json.dumps(body, indent=1) + "\n")


def load_model(model_dir: str | Path, device: torch.device | str = "cpu") -> tuple[MultimodalClassifier, dict, list[str]]:
    """Rebuild the trained model (eval mode) with its config.json and label names."""
    model_dir = Path(model_dir)
    missing = [n for n in (WEIGHTS, CONFIG) if not (model_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{model_dir} is not a model directory (missing {', '.join(missing)}); "
                                "train one with `mm train --shards S --out M`")
    info = json.loads((model_dir / CONFIG).read_text())
    # Models saved before ``pool_grid`` existed pooled their CNN maps globally; models saved before
    # ``audio_encoder`` existed encoded audio with the 2-D CNN; models saved before
    # ``unimodal_loss_weight`` existed have no per-modality heads. Settings whose default is what older
    # models did (independent_experts, joint_expert_detached, ema_decay = 0: no average) need no entry.
    saved = {"pool_grid": 0, "audio_encoder": "conv2d", "unimodal_loss_weight": 0.0, **info["train"]}
    cfg, dims = TrainConfig.model_validate(saved), ModelDims.model_validate(info["dims"])
    model = MultimodalClassifier(dims, cfg)
    model.load_state_dict(torch.load(model_dir / WEIGHTS, map_location="cpu", weights_only=True))
    labels_path = model_dir / LABELS
    labels = json.loads(labels_path.read_text()) if labels_path.is_file() else [str(i) for i in range(dims.n_classes)]
    return model.to(device).eval(), info, [str(n) for n in labels]
