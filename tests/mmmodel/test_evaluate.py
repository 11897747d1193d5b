"""Evaluate: metrics.json contract, confusion PNG, predictions, unimodal baselines with the same budget."""

from __future__ import annotations

import json

import pytest

from mmmodel.config import EvaluateConfig
from mmmodel.evaluate import evaluate
from mmmodel.modeldir import load_model
from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config


def test_metrics_report_and_trained_unimodal_baselines(tmp_path, pair_shards):
    cfg = tiny_config(tmp_path, pair_shards, epochs=2, modalities=["image", "audio"])
    train(cfg)
    out = tmp_path / "report"
    metrics = evaluate(EvaluateConfig(model=cfg.out, shards=str(pair_shards), out=str(out), progress=False,
                                      train_baselines=True))
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("accuracy", "macro_f1", "macro_precision", "macro_recall", "n_samples", "per_class", "ablations",
                "unimodal"):
        assert key in saved
    assert saved["n_samples"] == 64
    assert sum(c["support"] for c in saved["per_class"].values()) == 64
    assert sum(map(sum, saved["confusion"])) == 64
    assert set(saved["ablations"]) == {"without_image", "without_audio"}
    assert set(saved["unimodal"]) == {"image", "audio"}
    # Baselines are trained with the fused model's budget and kept beside it for the next evaluation.
    for modality in ("image", "audio"):
        baseline, info, _ = load_model(tmp_path / "model" / "unimodal" / modality)
        assert baseline.modalities == [modality] and info["train"]["epochs"] == cfg.epochs
    png = (out / "confusion_matrix.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "key,actual,predicted" and len(rows) == 65


def test_evaluating_a_folder_that_is_not_a_model_is_a_clear_error(tmp_path, pair_shards):
    with pytest.raises(FileNotFoundError, match="not a model directory"):
        evaluate(EvaluateConfig(model=str(tmp_path), shards=str(pair_shards), out=str(tmp_path / "r"), progress=False))
