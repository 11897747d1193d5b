"""bench/model_bench.py --merge: with several seeds the AV-MNIST targets are judged over all of them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "model_bench.py"
_spec = importlib.util.spec_from_file_location("model_bench", BENCH)
model_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(model_bench)


def _run(tmp_path: Path, variant: str, seed: int, fused: float, margin: float) -> Path:
    result = {"held_out_speaker": "theo", "fused_accuracy": fused, "image_only_accuracy": 0.6,
              "audio_only_accuracy": round(fused - margin / 100, 4), "fused_minus_best_unimodal_points": margin,
              "train_params": {"seed": seed}}
    report = {"command": f"run {variant} {seed}", "machine": {}, "quick": False,
              "avmnist": {variant: result, "targets": model_bench.targets({variant: result})}}
    path = tmp_path / f"{variant}_seed{seed}.json"
    path.write_text(json.dumps(report))
    return path


def test_one_seed_per_variant_keeps_one_verdict_per_target(tmp_path):
    runs = [_run(tmp_path, "clean", 0, 0.992, 0.2), _run(tmp_path, "noisy", 0, 0.878, 11.6)]
    merged = model_bench.merge_reports(runs, tmp_path / "model.json")
    assert merged["avmnist"]["targets"] == {"clean_fused_ge_0.99": True,
                                            "noisy_fused_ge_best_unimodal_plus_10_points": True}


def test_several_seeds_judge_each_target_on_the_mean_and_count_the_seeds(tmp_path):
    noisy = [(0, 0.878, 11.6), (1, 0.858, 8.8), (2, 0.884, 8.0)]
    clean = [(0, 0.992, 0.2), (1, 0.988, 0.4), (2, 0.986, 0.4)]
    runs = [_run(tmp_path, "noisy", *row) for row in noisy] + [_run(tmp_path, "clean", *row) for row in clean]
    targets = model_bench.merge_reports(runs, tmp_path / "model.json")["avmnist"]["targets"]
    # Seed 0 alone meets both targets; over three seeds the noisy mean (+9.47) and the clean mean (0.9887) do not.
    noisy_verdict = targets["noisy_fused_ge_best_unimodal_plus_10_points"]
    assert noisy_verdict["met_on_mean"] is False and noisy_verdict["seeds_met"] == "1/3"
    assert noisy_verdict["mean"] == 9.4667 and not noisy_verdict["met_on_every_seed"]
    assert "NOT met on the mean of 3 seeds" in noisy_verdict["verdict"] and "not on seeds 1, 2" in noisy_verdict["verdict"]
    clean_verdict = targets["clean_fused_ge_0.99"]
    assert clean_verdict["met_on_mean"] is False and clean_verdict["seeds_met"] == "1/3"
