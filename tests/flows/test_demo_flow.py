"""The demo flow end to end under Prefect, in a fresh folder, with the project's demo-sized params."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from typer.testing import CliRunner

from flows.cli import app

torch.set_num_threads(1)
PROJECT_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture(scope="module")
def demo_run(prefect_harness, tmp_path_factory):
    """One demo run in a fresh working folder (relative paths, as `make demo` has them)."""
    from flows.demo import demo_flow

    root = tmp_path_factory.mktemp("demo")
    project = yaml.safe_load(PROJECT_PARAMS.read_text())
    params = {
        "ingest": {"dirs": ["data/demo"], "out": "data/raw", "progress": False},
        "build": {**project["build"], "workers": 1},
        # The project's demo training settings with fewer epochs (fused ~0.9 accuracy, ablations ~0.5).
        "train": {**project["train"], "epochs": 10, "progress": False},
        "evaluate": {**project["evaluate"], "progress": False},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    cwd = Path.cwd()
    os.chdir(root)
    try:
        result = demo_flow(unimodal_baselines=False)
    finally:
        os.chdir(cwd)
    return root, result


def test_demo_leaves_every_stage_output(demo_run):
    root, result = demo_run
    assert (root / "data/demo/labels.csv").is_file()
    assert (root / "data/raw/manifest.parquet").is_file()
    assert sorted(p.name for p in (root / "data/shards").iterdir() if p.is_dir()) == ["test", "train", "val"]
    assert list((root / "data/shards/train").glob("shard-*.tar"))
    assert (root / "models/current/model.pt").is_file() and (root / "models/current/labels.json").is_file()
    assert (root / "reports/confusion_matrix.png").stat().st_size > 0
    metrics = json.loads((root / "reports/metrics.json").read_text())
    assert metrics["n_samples"] == result["metrics"]["n_samples"] > 40
    assert result["outputs"]["model"] == "models/current" and result["metrics"]["unimodal"] == {}
    champion = json.loads((root / "models/registry.json").read_text())["models"][0]
    assert (champion["model_dir"], champion["status"]) == ("models/current", "champion")  # what mm predict uses


def test_every_corpus_file_has_a_manifest_row_with_a_status(demo_run):
    root, _ = demo_run
    corpus = root / "data/demo"
    on_disk = {p.relative_to(root).as_posix() for p in corpus.rglob("*")
               if p.is_file() and p.name not in ("labels.csv", "recipe.json")}
    raw = pd.read_parquet(root / "data/raw/manifest.parquet")
    assert set(raw["uri"]) == on_disk and len(raw) == len(on_disk)
    assert set(raw["status"]) == {"ok", "dropped"}
    assert (raw.loc[raw["status"] != "ok", "reason"].str.len() > 0).all()
    dropped = dict(zip(raw.loc[raw.status == "dropped", "uri"].str.rsplit("/", n=1).str[-1],
                       raw.loc[raw.status == "dropped", "reason"], strict=True))
    assert dropped["bad-empty-image.png"] == "empty_file" and dropped["bad-empty-text.txt"] == "empty_file"
    assert dropped["bad-garbage-audio.wav"].startswith("unsupported_type")
    assert dropped["bad-unsupported.docx"].startswith("unsupported_extension")

    built = pd.read_parquet(root / "data/shards/manifest.parquet").set_index("key")
    assert set(built.index) == set(raw["key"])  # every sample keeps a row, kept or dropped
    reasons = built.loc[built.status != "ok", "reason"].to_dict()
    assert reasons["unlabelled-0001"] == "missing_label"
    assert reasons["bad-truncated-audio"].startswith("audio:")
    assert reasons["bad-blank-text"] == "text:text_too_short"
    assert reasons["s00-0000-copy"] == "exact_duplicate_of:s00-0000"
    assert built.loc["bad-empty-image", "status"] == "ok"  # its image was dropped; audio and text remain


def test_fused_model_beats_every_ablation(demo_run):
    _, result = demo_run
    metrics = result["metrics"]
    assert metrics["modalities"] == ["image", "audio", "text"]
    assert set(metrics["ablations"]) == {"without_image", "without_audio", "without_text"}
    for name, scores in metrics["ablations"].items():
        assert metrics["macro_f1"] > scores["macro_f1"] + 0.2, name
        assert metrics["accuracy"] > scores["accuracy"] + 0.2, name
    assert metrics["accuracy"] > 0.7


def test_mm_demo_corpus_only_writes_just_the_corpus(tmp_path):
    result = CliRunner().invoke(app, ["demo", "--corpus-only", "--corpus", str(tmp_path / "c"), "--seed", "3",
                                      "--params", str(tmp_path / "none.yaml")])
    assert result.exit_code == 0, result.output
    assert "320 samples" in result.output
    assert (tmp_path / "c/labels.csv").is_file() and not (tmp_path / "data").exists()
    assert json.loads((tmp_path / "c/recipe.json").read_text())["seed"] == 3
    foreign = tmp_path / "f"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a demo folder")
    refused = CliRunner().invoke(app, ["demo", "--corpus-only", "--corpus", str(foreign)])
    assert refused.exit_code == 2 and "recipe.json" in refused.output
