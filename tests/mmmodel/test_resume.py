"""A training process SIGKILLed after checkpoints resumes to the same result as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("run_train.py")


def _start(cfg_path: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(RUNNER), str(cfg_path), str(out)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _kill_after_new_checkpoint(proc: subprocess.Popen, checkpoint: Path, timeout_s: float = 120) -> bool:
    """SIGKILL ``proc`` as soon as it writes a checkpoint newer than the one present now."""
    before = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        if checkpoint.exists() and checkpoint.stat().st_mtime_ns != before:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    return False


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_sigkill_then_resume_matches_uninterrupted_run(tmp_path, pair_shards, ema_decay):
    # With ema_decay the weight average is resumed too: model.pt and the best epoch are scored on it.
    common = dict(epochs=3, checkpoint_every=4, modalities=["image", "audio"], fusion="attention", ema_decay=ema_decay)
    reference = train(tiny_config(tmp_path / "clean", pair_shards, **common))

    cfg = tiny_config(tmp_path / "killed", pair_shards, **common)
    cfg_path = tmp_path / "cfg.json"
    cfg_path.write_text(cfg.model_dump_json())
    checkpoint = Path(cfg.out) / "checkpoints" / "last.pt"
    kills = 0
    for _ in range(2):  # kill twice: a resumed run must itself survive a kill
        proc = _start(cfg_path, tmp_path)
        if _kill_after_new_checkpoint(proc, checkpoint):
            assert proc.returncode == -signal.SIGKILL
            kills += 1
        else:
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
    assert kills >= 1, "the run finished before any checkpoint could be interrupted"
    resumed = train(cfg)
    assert not list(Path(cfg.out).rglob(".tmp-*"))

    assert resumed["steps"] == reference["steps"] and resumed["epochs_run"] == reference["epochs_run"]
    assert ("ema_weights_sha256" in resumed) == (ema_decay > 0)
    clean = torch.load(tmp_path / "clean" / "model" / "model.pt", weights_only=True)
    after_kill = torch.load(Path(cfg.out) / "model.pt", weights_only=True)
    for name, tensor in clean.items():
        assert torch.allclose(tensor, after_kill[name], atol=1e-5), name
    if ema_decay > 0:  # the average at the end, not only at the best epoch
        averages = [torch.load(folder / "checkpoints" / "last.pt", weights_only=False)["ema"]
                    for folder in (tmp_path / "clean" / "model", Path(cfg.out))]
        assert all(torch.allclose(tensor, averages[1][name], atol=1e-5) for name, tensor in averages[0].items())
    for ref_row, row in zip(reference["history"], resumed["history"], strict=True):
        assert abs(ref_row["val_macro_f1"] - row["val_macro_f1"]) <= 0.02
        assert abs(ref_row["train_loss"] - row["train_loss"]) <= 1e-3
    assert json.loads((Path(cfg.out) / "config.json").read_text())["best_epoch"] == reference["best_epoch"]


def test_resume_refuses_a_checkpoint_of_other_settings(tmp_path, pair_shards):
    common = dict(epochs=1, modalities=["image", "audio"])
    first = train(tiny_config(tmp_path, pair_shards, fusion="concat", **common))
    checkpoint = tmp_path / "model" / "checkpoints" / "last.pt"
    assert checkpoint.is_file()
    with pytest.raises(ValueError, match=r"other settings \(fusion: 'concat' -> 'attention'\)"):
        train(tiny_config(tmp_path, pair_shards, fusion="attention", **common))
    # How or where it runs may change: the finished run is picked up, not retrained.
    again = train(tiny_config(tmp_path, pair_shards, fusion="concat", num_workers=0, progress=False,
                              checkpoint_every=7, **common))
    assert again["steps"] == first["steps"] and again["weights_sha256"] == first["weights_sha256"]
    fresh = train(tiny_config(tmp_path, pair_shards, fusion="attention", resume=False, **common))
    assert fresh["weights_sha256"] != first["weights_sha256"]
