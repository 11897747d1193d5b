"""The nightly flow under Prefect: real training on tiny synthetic shards, real evaluation, real registry.

On the pair task (label = image bit x audio bit) a text-only model is at chance, a fused model is
not: that gives a challenger that is really worse and one that is really better.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from flows.nightly import nightly_flow
from mmmodel.registry import CHAMPION, FAILED, REJECTED, RETIRED, ModelRecord, Registry, champion_dir, utc_now
from tests.flows.conftest import read_artifacts
from tests.mmmodel.synthetic import write_synthetic_shards

torch.set_num_threads(1)
TINY = dict(dim=24, conv_width=8, conv_blocks=2, text_layers=1, epochs=2, batch_size=32, lr=4e-3, warmup_steps=4,
            progress=False, checkpoint_every=100, augment=False, modality_dropout=0.0)
WORSE = {"modalities": ["text"]}  # the text field carries no label signal


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("nightly") / "shards", {"train": 128, "val": 32, "test": 64},
                                  per_shard=64)


@pytest.fixture(autouse=True)
def private_lock(tmp_path, monkeypatch):
    monkeypatch.setenv("MMPIPE_WORKSPACE_LOCK", str(tmp_path / "workspace.lock"))


def write_params(tmp_path, shards, **nightly) -> str:
    params = {
        "ingest": {"dirs": []},
        "train": {"shards": str(shards), **TINY},
        "evaluate": {"shards": str(shards), "ablations": False, "progress": False},
        "nightly": {"ingest": False, "build": False, "models": str(tmp_path / "models"),
                    "registry": str(tmp_path / "models" / "registry.json"), "reports": str(tmp_path / "reports"),
                    **nightly},
    }
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return str(path)


def test_first_model_becomes_champion_and_a_worse_challenger_is_rejected(prefect_harness, shards, tmp_path):
    first = nightly_flow(params=write_params(tmp_path, shards))
    assert first["promoted"] and first["status"] == CHAMPION and first["champion_metrics"] is None
    registry = Registry(tmp_path / "models" / "registry.json")
    assert champion_dir(registry.path) == tmp_path / "models" / first["model_id"]
    assert (tmp_path / "models" / first["model_id"] / "model.pt").is_file()

    second = nightly_flow(params=write_params(tmp_path, shards, train=WORSE))
    assert not second["promoted"] and second["status"] == REJECTED
    assert second["metrics"]["macro_f1"] < second["champion_metrics"]["macro_f1"]
    records = {r.id: r for r in registry.records()}
    assert records[first["model_id"]].status == CHAMPION and records[second["model_id"]].status == REJECTED
    assert champion_dir(registry.path) == tmp_path / "models" / first["model_id"]
    rejected = records[second["model_id"]]
    # The record carries what made the model and how it compared.
    assert rejected.params["modalities"] == ["text"] and rejected.data_version["source"] == "shards"
    assert rejected.comparison["champion"] == first["model_id"] and rejected.comparison["promoted"] is False
    assert rejected.metrics["n_samples"] == 64 and rejected.git_revision
    # Both models were scored on the same held-out split, each into its own report.
    for role in ("champion", "challenger"):
        metrics = json.loads((tmp_path / "reports" / second["model_id"] / role / "metrics.json").read_text())
        assert metrics["split"] == "test" and metrics["n_samples"] == 64
    markdown = read_artifacts("nightly-comparison")[-1].data
    assert f"challenger `{second['model_id']}` rejected" in markdown and "| **macro_f1** |" in markdown


def test_a_better_challenger_is_promoted_and_the_old_champion_retired(prefect_harness, shards, tmp_path):
    weak = nightly_flow(params=write_params(tmp_path, shards, train=WORSE))
    assert weak["status"] == CHAMPION
    strong = nightly_flow(params=write_params(tmp_path, shards, margin=0.05))
    assert strong["promoted"] and strong["champion"] == strong["model_id"]
    assert strong["metrics"]["macro_f1"] >= strong["champion_metrics"]["macro_f1"] + 0.05
    records = {r.id: r for r in Registry(tmp_path / "models" / "registry.json").records()}
    assert records[weak["model_id"]].status == RETIRED and records[strong["model_id"]].status == CHAMPION
    assert [r.status for r in records.values()].count(CHAMPION) == 1
    markdown = read_artifacts("nightly-comparison")[-1].data
    assert f"challenger `{strong['model_id']}` promoted to champion" in markdown


def test_a_failing_challenger_is_recorded_and_the_champion_stays(prefect_harness, shards, tmp_path):
    registry = Registry(tmp_path / "models" / "registry.json")
    champion = registry.add(ModelRecord(id="champion-1", model_dir=str(tmp_path / "models" / "champion-1"),
                                        status=CHAMPION, created=utc_now()))
    with pytest.raises(Exception, match="no shards for split 'nowhere'"):
        nightly_flow(params=write_params(tmp_path, shards, train={"train_split": "nowhere"}))
    failed = [r for r in registry.records() if r.status == FAILED]
    assert len(failed) == 1 and "no shards for split 'nowhere'" in failed[0].reason
    assert registry.champion() == champion
    assert champion_dir(registry.path) == tmp_path / "models" / "champion-1"


def test_a_champion_that_cannot_be_scored_is_replaced(prefect_harness, shards, tmp_path):
    registry = Registry(tmp_path / "models" / "registry.json")
    registry.add(ModelRecord(id="gone", model_dir=str(tmp_path / "models" / "gone"), status=CHAMPION, created=utc_now()))
    result = nightly_flow(params=write_params(tmp_path, shards, train=WORSE))
    assert result["promoted"] and "could not be scored" in result["reason"]
    assert registry.get("gone").status == RETIRED and registry.champion().id == result["model_id"]
