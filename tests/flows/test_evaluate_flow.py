"""The evaluate flow under Prefect and `mm evaluate` (train on one shard set, evaluate on another)."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from typer.testing import CliRunner

from flows.cli import app
from flows.evaluate import evaluate_flow
from mmmodel.config import EvaluateConfig, TrainConfig
from mmmodel.train import train
from tests.flows.conftest import read_artifacts
from tests.mmmodel.synthetic import write_synthetic_shards

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_and_shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalflow")
    shards = write_synthetic_shards(root / "shards", {"train": 64, "val": 32, "test": 32})
    other = write_synthetic_shards(root / "other", {"test": 24}, modalities=("image", "audio"), seed=9)
    cfg = TrainConfig(shards=str(shards), out=str(root / "model"), reports=str(root / "r"), dim=16, conv_width=4,
                      conv_blocks=2, epochs=1, progress=False)
    train(cfg)
    return cfg.out, shards, other


def test_evaluate_flow_writes_metrics_and_publishes_a_table(prefect_harness, model_and_shards, tmp_path):
    model, shards, _ = model_and_shards
    metrics = evaluate_flow(EvaluateConfig(model=model, shards=str(shards), out=str(tmp_path / "r"), progress=False))
    assert metrics["n_samples"] == 32
    assert json.loads((tmp_path / "r" / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    assert read_artifacts("evaluation")


def test_evaluate_flow_defaults_to_params_yaml(prefect_harness, model_and_shards, tmp_path, monkeypatch):
    model, shards, _ = model_and_shards
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"evaluate": {"model": model, "shards": str(shards),
                                                                       "split": "val", "progress": False}}))
    assert evaluate_flow()["split"] == "val"
    assert (tmp_path / "reports" / "metrics.json").is_file()


def test_mm_evaluate_on_another_shard_set_lacking_text(model_and_shards, tmp_path):
    model, _, other = model_and_shards
    result = CliRunner().invoke(app, ["evaluate", "--params", str(tmp_path / "none.yaml"), "--model", model,
                                      "--shards", str(other), "--split", "test", "--out", str(tmp_path / "r"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert metrics["n_samples"] == 24 and "without_text" in metrics["ablations"]
    assert (tmp_path / "r" / "confusion_matrix.png").is_file()
