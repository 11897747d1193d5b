"""`mm predict` standardizes raw files exactly as the build did: a raw file's probabilities equal the
model's probabilities for the shard sample built from the same bytes."""

from __future__ import annotations

import io
import json

import cv2
import numpy as np
import pytest
import soundfile as sf
import torch
import webdataset as wds
from typer.testing import CliRunner

from flows.cli import app
from mmdata import fields
from mmmodel.config import ModelDims
from mmmodel.data import ShardStream, make_loader, shard_paths
from mmmodel.metrics import predict_probs
from mmmodel.modeldir import load_model
from mmmodel.predict import PredictError, predict_paths
from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config

standardize = pytest.importorskip("mmdata.build.standardize")
build_config = pytest.importorskip("mmdata.build.config")


def _raw(index: int) -> dict[str, bytes]:
    rng = np.random.default_rng(index)
    image = rng.integers(0, 255, size=(20, 24, 3), dtype=np.uint8)
    audio = io.BytesIO()
    sf.write(audio, 0.3 * np.sin(np.linspace(0, 200 + 40 * index, 8000)) + 0.01 * rng.normal(size=8000), 8000,
             format="WAV")
    return {"image": cv2.imencode(".png", image)[1].tobytes(), "audio": audio.getvalue(),
            "text": f"sample number {index} says hello".encode()}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A shard set standardized by the build's own Standardizer, and a model trained on it."""
    root = tmp_path_factory.mktemp("predict")
    std = standardize.Standardizer(build_config.TextConfig(), build_config.ImageConfig(), build_config.AudioConfig(),
                                   vocab=["<pad>", "<unk>", "sample", "number", "says", "hello"], labels=["a", "b"])
    shards = root / "shards"
    for split in ("train", "test"):
        (shards / split).mkdir(parents=True)
        with wds.TarWriter(str(shards / split / "shard-000000.tar")) as sink:
            for i in range(8):
                sample = std.standardize(_raw(i))
                sink.write({**sample, fields.KEY: f"s{i}", fields.CLASS: str(i % 2).encode()})
    (shards / "preprocess.json").write_text(json.dumps(std.settings()))
    (shards / "vocab.json").write_text(json.dumps(std.vocab))
    (shards / "labels.json").write_text(json.dumps(["a", "b"]))
    cfg = tiny_config(root, shards, epochs=1, batch_size=4, val_split="none")
    train(cfg)
    raw_dir = root / "raw"
    raw_dir.mkdir()
    for i in range(3):
        raw = _raw(i)
        (raw_dir / f"s{i}.png").write_bytes(raw["image"])
        (raw_dir / f"s{i}.wav").write_bytes(raw["audio"])
        (raw_dir / f"s{i}.txt").write_bytes(raw["text"])
    return cfg.out, shards, raw_dir


def test_predict_matches_the_model_on_the_built_shards(built):
    model_dir, shards, raw_dir = built
    results = {r["key"]: dict(r["labels"]) for r in predict_paths(model_dir, sorted(raw_dir.iterdir()))}
    assert set(results) == {"s0", "s1", "s2"}
    model, info, names = load_model(model_dir)
    stream = ShardStream(shard_paths(shards, "test"), ModelDims.model_validate(info["dims"]), train=False)
    _, probs, keys = predict_probs(model, make_loader(stream, 8, 0), torch.device("cpu"), False)
    for key, row in zip(keys, probs["full"], strict=True):
        if key in results:
            for label, p in zip(names, row, strict=True):
                assert results[key][label] == pytest.approx(float(p), abs=1e-5)
    assert all(abs(sum(r.values()) - 1) < 1e-5 for r in results.values())


def test_mm_predict_prints_labels_and_refuses_unknown_files(built, tmp_path):
    model_dir, _, raw_dir = built
    result = CliRunner().invoke(app, ["predict", str(raw_dir / "s0.png"), str(raw_dir / "s0.wav"), "--model", model_dir])
    assert result.exit_code == 0, result.output
    assert "s0" in result.output
    (tmp_path / "x.xyz").write_text("?")
    with pytest.raises(PredictError, match="unknown file type"):
        predict_paths(model_dir, [tmp_path / "x.xyz"])
