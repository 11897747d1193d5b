"""Weight EMA: the closed-form average, what training saves with it, and that decay 0 changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from mmmodel.config import TrainConfig
from mmmodel.ema import WeightEMA
from mmmodel.train import check_resumable, train, unimodal_config
from tests.mmmodel.conftest import tiny_config


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.register_buffer("counter", torch.zeros(()))


def test_ema_equals_the_closed_form_average_and_copies_buffers():
    torch.manual_seed(0)
    model, decay = _Toy(), 0.8
    ema = WeightEMA(model, decay)
    iterates = [[p.detach().clone() for p in model.parameters()]]  # w_0: the average starts at the initial weights
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(1, 6):
        optimizer.zero_grad()
        model.linear(torch.randn(4, 3)).pow(2).sum().backward()
        optimizer.step()
        model.counter.fill_(step)
        ema.update(model)
        iterates.append([p.detach().clone() for p in model.parameters()])
    n = len(iterates) - 1
    for i, averaged in enumerate(ema.module.parameters()):
        # ema_n = d^n w_0 + sum_k (1 - d) d^(n-k) w_k
        expected = decay**n * iterates[0][i] + sum((1 - decay) * decay ** (n - k) * iterates[k][i]
                                                    for k in range(1, n + 1))
        assert torch.allclose(averaged, expected, atol=1e-6)
        assert not torch.allclose(averaged, iterates[-1][i], atol=1e-3)  # an average, not the last iterate
        assert not averaged.requires_grad
    assert ema.module.counter.item() == 5  # buffers are copied, not averaged


def test_decay_must_lie_in_zero_one():
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="ema_decay"):
            TrainConfig(ema_decay=bad)
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(_Toy(), 0.0)  # decay 0 means no average: training makes none


def _saved(cfg: TrainConfig) -> tuple[dict, dict]:
    out = Path(cfg.out)
    return (torch.load(out / "model.pt", weights_only=True),
            torch.load(out / "checkpoints" / "last.pt", map_location="cpu", weights_only=False))


def test_training_saves_and_scores_the_average(tmp_path, pair_shards):
    # No val split: every epoch counts as best, so model.pt holds the weights scored at the last epoch.
    common = dict(epochs=2, modalities=["image", "audio"], val_split="none")
    summary = train(tiny_config(tmp_path / "ema", pair_shards, ema_decay=0.9, unimodal_baselines=True, **common))
    exported, checkpoint = _saved(tiny_config(tmp_path / "ema", pair_shards, **common))
    assert all(torch.equal(exported[k], checkpoint["ema"][k]) for k in exported)
    assert not all(torch.equal(exported[k], checkpoint["model"][k]) for k in exported)
    assert summary["ema_weights_sha256"] != summary["weights_sha256"]
    # The unimodal baselines follow the same recipe, average included.
    for modality in ("image", "audio"):
        baseline = torch.load(Path(summary["unimodal"][modality]["model_dir"]) / "checkpoints" / "last.pt",
                              weights_only=False)
        assert baseline["config"]["ema_decay"] == 0.9 and baseline["ema"] is not None
    assert unimodal_config(TrainConfig(ema_decay=0.99), "audio", tmp_path, tmp_path).ema_decay == 0.99


def test_decay_zero_trains_and_saves_the_plain_weights(tmp_path, pair_shards):
    common = dict(epochs=2, modalities=["image", "audio"], val_split="none")
    plain = train(tiny_config(tmp_path / "plain", pair_shards, **common))
    zero = train(tiny_config(tmp_path / "zero", pair_shards, ema_decay=0.0, **common))
    assert zero["weights_sha256"] == plain["weights_sha256"] and "ema_weights_sha256" not in zero
    exported, checkpoint = _saved(tiny_config(tmp_path / "zero", pair_shards, **common))
    assert checkpoint["ema"] is None
    assert all(torch.equal(exported[k], checkpoint["model"][k]) for k in exported)


def test_resume_refuses_another_decay_or_a_checkpoint_without_an_average(tmp_path, pair_shards):
    plain = TrainConfig(fusion="hybrid", unimodal_loss_weight=8.0, independent_experts=True)
    averaged = plain.model_copy(update={"ema_decay": 0.99})
    with pytest.raises(ValueError, match=r"ema_decay: 0.0 -> 0.99"):
        check_resumable(plain.model_dump(), TrainConfig.model_validate(averaged.model_dump()), tmp_path / "last.pt")
    check_resumable(averaged.model_dump(), averaged, tmp_path / "last.pt")  # the same run resumes

    # A checkpoint from before ema_decay existed: its config lacks the key, so the settings check
    # passes, but there is no average to continue.
    common = dict(epochs=1, modalities=["image", "audio"])
    train(tiny_config(tmp_path, pair_shards, **common))
    path = tmp_path / "model" / "checkpoints" / "last.pt"
    old = torch.load(path, weights_only=False)
    del old["ema"], old["config"]["ema_decay"]
    torch.save(old, path)
    with pytest.raises(ValueError, match="holds no weight average"):
        train(tiny_config(tmp_path, pair_shards, ema_decay=0.9, **common))
