"""Model: modality dropout during training, any subset of modalities at test time."""

from __future__ import annotations

import json

import torch

from mmmodel.config import ModelDims, TrainConfig
from mmmodel.model import MultimodalClassifier

DIMS = ModelDims(modalities=["image", "audio", "text"], n_classes=3, image_shape=[3, 8, 8], mel_shape=[4, 6],
                 vocab_size=10, max_tokens=5)


def _inputs(batch=6):
    return {"image": torch.rand(batch, 3, 8, 8), "audio": torch.randn(batch, 4, 6),
            "text": torch.randint(0, 10, (batch, 5))}


def test_modality_dropout_hides_modalities_but_never_all():
    torch.manual_seed(0)
    model = MultimodalClassifier(DIMS, TrainConfig(dim=8, conv_width=4, conv_blocks=1, modality_dropout=0.6)).train()
    mask = torch.ones(2000, 3)
    mask[:1000, 2] = 0
    dropped = model.drop_modalities(mask)
    assert (dropped <= mask).all()
    assert (dropped.sum(1) >= 1).all()
    assert 0.3 < 1 - dropped[1000:].mean() < 0.6
    assert torch.equal(model.eval().drop_modalities(mask), mask)  # no dropout at test time


def test_any_subset_of_modalities_gives_probabilities():
    model = MultimodalClassifier(DIMS, TrainConfig(dim=8, conv_width=4, conv_blocks=1, fusion="attention")).eval()
    for subset in ([1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 1, 1]):
        mask = torch.tensor([subset] * 6, dtype=torch.float32)
        logits = model(_inputs(), mask)
        assert logits.shape == (6, 3) and torch.isfinite(logits).all()


def test_model_directory_from_before_pool_grid_and_audio_encoder_still_loads(tmp_path):
    from mmmodel.modeldir import WEIGHTS, load_model, write_config

    cfg = TrainConfig(dim=8, conv_width=4, conv_blocks=1, pool_grid=0, audio_encoder="conv2d")
    model = MultimodalClassifier(DIMS, cfg)
    torch.save(model.state_dict(), tmp_path / WEIGHTS)
    write_config(tmp_path, cfg, DIMS, {})
    config = tmp_path / "config.json"
    info = json.loads(config.read_text())
    del info["train"]["pool_grid"], info["train"]["audio_encoder"]  # as written by older versions
    config.write_text(json.dumps(info))
    loaded, _, _ = load_model(tmp_path)
    inputs, mask = _inputs(), torch.ones(6, 3)
    assert torch.allclose(loaded(inputs, mask), model.eval()(inputs, mask))
