"""DDP: two CPU processes under torchrun (gloo) split the data and end with identical weights."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.mmmodel.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_train.py")


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_torchrun_two_cpu_processes(tmp_path, pair_shards, ema_decay):
    cfg = tiny_config(tmp_path, pair_shards, epochs=2, batch_size=16, modalities=["image", "audio"], device="cpu",
                      ema_decay=ema_decay)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(cfg.model_dump_json())
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           str(RUNNER), str(cfg_path), str(tmp_path)], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"summary-rank{r}.json").read_text()) for r in (0, 1)]
    assert all(s["world_size"] == 2 for s in ranks)
    # 320 samples / (2 ranks x 16) = 10 steps per epoch on each rank: the data is split, not repeated.
    assert [s["steps"] for s in ranks] == [20, 20]
    # Gradients were all-reduced: both ranks hold the same weights although they saw different samples.
    assert ranks[0]["weights_sha256"] == ranks[1]["weights_sha256"]
    # Each rank averages its own (identical) replica: the averages are identical too.
    assert ranks[0].get("ema_weights_sha256") == ranks[1].get("ema_weights_sha256")
    assert ("ema_weights_sha256" in ranks[0]) == (ema_decay > 0)
    assert (Path(cfg.out) / "model.pt").is_file() and (Path(cfg.out) / "checkpoints" / "last.pt").is_file()
