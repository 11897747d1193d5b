"""The train flow under Prefect (summary, curve artifact, params.yaml default) and `mm train`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from typer.testing import CliRunner

from flows.cli import app
from flows.train import train_flow
from mmmodel.config import TrainConfig
from tests.flows.conftest import read_artifacts
from tests.mmmodel.synthetic import write_synthetic_shards

torch.set_num_threads(1)
TINY = dict(dim=16, conv_width=4, conv_blocks=2, epochs=1, batch_size=32, progress=False)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return write_synthetic_shards(tmp_path_factory.mktemp("flow") / "shards", {"train": 64, "val": 32, "test": 32})


def test_train_flow_reads_params_yaml_and_publishes_the_curve(prefect_harness, shards, tmp_path, monkeypatch):

    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"shards": str(shards), "out": "models/m", **TINY}}))
    summary = train_flow()
    assert summary["model_dir"] == "models/m" and summary["epochs_run"] == 1
    assert (tmp_path / "models/m/model.pt").is_file()
    assert (tmp_path / "reports/train/curves.csv").is_file()
    assert read_artifacts("train-curve")


def test_train_flow_with_explicit_config(prefect_harness, shards, tmp_path):
    cfg = TrainConfig(shards=str(shards), out=str(tmp_path / "m"), reports=str(tmp_path / "r"), fusion="projection",
                      contrastive_weight=0.1, **TINY)
    summary = train_flow(cfg)
    assert summary["fusion"] == "projection" and summary["modalities"] == ["image", "audio", "text"]



LOADER_AFTER_A_FLOW = """
import sys
from prefect import flow
from prefect.testing.utilities import prefect_test_harness
from mmmodel.data import ShardStream, make_loader, probe_shards, shard_paths

@flow
def noop():
    return 1

with prefect_test_harness():
    noop()
shards = sys.argv[1]
dims, _ = probe_shards(shards, "test", 8, None)
batches = list(make_loader(ShardStream(shard_paths(shards, "test"), dims, train=False), 8, 2))
print("samples", sum(len(b["label"]) for b in batches))
"""


def test_loader_workers_work_in_a_process_that_ran_a_flow(shards, tmp_path):
    # Prefect's service threads leave exit hooks behind; forked loader workers must not run them
    # (they used to die with exit code 1 at the end of every pass).
    script = tmp_path / "loader_after_flow.py"
    script.write_text(LOADER_AFTER_A_FLOW)
    done = subprocess.run([sys.executable, str(script), str(shards)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "samples 32" in done.stdout

def test_mm_train_options_override_params(shards, tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"train": {"shards": "does/not/exist", "fusion": "concat", **TINY}}))
    result = CliRunner().invoke(app, ["train", "--params", str(params), "--shards", str(shards), "--out",
                                      str(tmp_path / "m"), "--reports", str(tmp_path / "r"), "--fusion", "lowrank",
                                      "--modality", "image", "--modality", "audio"])
    assert result.exit_code == 0, result.output
    saved = (tmp_path / "m" / "config.json").read_text()
    assert '"fusion": "lowrank"' in saved and '"modalities": [\n   "image",\n   "audio"\n  ]' in saved


def test_mm_train_on_a_missing_shard_set_fails_with_a_clear_message(tmp_path):
    result = CliRunner().invoke(app, ["train", "--params", str(tmp_path / "none.yaml"), "--shards",
                                      str(tmp_path / "nowhere"), "--out", str(tmp_path / "m"), "--no-progress"])
    assert result.exit_code == 2
    assert "no shards for split 'train'" in result.output
