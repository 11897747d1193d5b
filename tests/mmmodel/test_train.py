"""Training reaches a set accuracy on a task only fusion can solve; works with modalities missing."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mmmodel.config import EvaluateConfig, ModelDims, TrainConfig
from mmmodel.evaluate import evaluate
from mmmodel.model import MultimodalClassifier
from mmmodel.train import (
    check_resumable,
    class_weight_tensor,
    clip_gradients,
    is_better,
    lr_factor,
    make_optimizer,
    train,
    unimodal_config,
    validation_loss,
)
from tests.mmmodel.conftest import tiny_config
from tests.mmmodel.synthetic import write_synthetic_shards


@pytest.mark.parametrize("fusion", ["concat", "lowrank"])
def test_fused_model_learns_a_task_no_single_modality_solves(tmp_path, pair_shards, fusion):
    cfg = tiny_config(tmp_path, pair_shards, fusion=fusion, epochs=10, modalities=["image", "audio"],
                      modality_dropout=0.1, early_stopping_patience=0)
    summary = train(cfg)
    assert summary["best_val_macro_f1"] >= 0.9
    metrics = evaluate(EvaluateConfig(model=cfg.out, shards=str(pair_shards), out=str(tmp_path / "eval"), progress=False))
    assert metrics["accuracy"] >= 0.9
    # Each modality alone tells only half the label: removing one must cost about half the accuracy.
    for ablation in metrics["ablations"].values():
        assert ablation["accuracy"] < 0.65
    for name in ("model.pt", "config.json", "labels.json", "vocab.json", "preprocess.json", "checkpoints/last.pt"):
        assert (tmp_path / "model" / name).is_file()
    curves = (tmp_path / "reports" / "curves.csv").read_text().splitlines()
    assert curves[0].startswith("epoch,step,lr,train_loss,val_accuracy,val_macro_f1") and len(curves) == 11


def test_hybrid_fusion_with_per_modality_losses_still_learns_an_interaction_only_task(tmp_path):
    # xor: neither modality alone beats chance, so a product of per-modality experts (late) cannot
    # learn it; hybrid's joint expert can, even with heavily weighted per-modality losses.
    shards = write_synthetic_shards(tmp_path / "shards", {"train": 320, "val": 64, "test": 64}, per_shard=80,
                                    task="xor")
    cfg = tiny_config(tmp_path, shards, fusion="hybrid", unimodal_loss_weight=8.0, epochs=10,
                      modalities=["image", "audio"], modality_dropout=0.1, early_stopping_patience=0)
    assert train(cfg)["best_val_macro_f1"] >= 0.9
    # With independent experts the joint expert alone learns from the fused loss: still enough.
    independent = cfg.model_copy(update={"out": str(tmp_path / "independent"), "independent_experts": True})
    assert train(independent)["best_val_macro_f1"] >= 0.9


def test_train_and_evaluate_with_modalities_missing_entirely(tmp_path, image_only_shards, pair_shards):
    cfg = tiny_config(tmp_path, image_only_shards, epochs=1)
    summary = train(cfg)
    assert summary["modalities"] == ["image"]
    metrics = evaluate(EvaluateConfig(model=cfg.out, shards=str(image_only_shards), out=str(tmp_path / "e1"),
                                      progress=False))
    assert metrics["n_samples"] == 32 and metrics["ablations"] == {}
    # A fused model evaluated on shards that lack its audio and text: the mask hides them.
    fused = tiny_config(tmp_path / "fused", pair_shards, epochs=1)
    train(fused)
    metrics = evaluate(EvaluateConfig(model=fused.out, shards=str(image_only_shards), out=str(tmp_path / "e2"),
                                      progress=False))
    assert metrics["n_samples"] == 32 and set(metrics["ablations"]) == {"without_image", "without_audio", "without_text"}


def test_early_stopping_stops_when_val_f1_stalls(tmp_path, image_only_shards):
    # lr 0: weights never change, so val macro-F1 never improves after epoch 1.
    summary = train(tiny_config(tmp_path, image_only_shards, epochs=6, lr=0.0, early_stopping_patience=2))
    assert summary["stopped_early"] and summary["epochs_run"] == 3 and summary["best_epoch"] == 1


def test_model_selection_breaks_f1_ties_by_validation_loss():
    # A saturated macro-F1 (1.0 from some epoch on) must not freeze the first epoch that reached it.
    assert is_better(1.0, 0.05, best_f1=1.0, best_loss=0.20)
    assert not is_better(1.0, 0.30, best_f1=1.0, best_loss=0.20)
    assert not is_better(1.0, 0.20, best_f1=1.0, best_loss=0.20)  # no gain at all: not an improvement
    assert is_better(0.9, 9.0, best_f1=0.8, best_loss=0.1)  # F1 comes first, whatever the loss
    assert not is_better(0.8, 0.01, best_f1=0.9, best_loss=1.0)
    assert is_better(0.0, 2.0, best_f1=-1.0, best_loss=float("inf"))  # the first epoch always counts
    probs = np.array([[0.9, 0.1], [0.2, 0.8]])
    assert validation_loss(np.array([0, 1]), probs) == pytest.approx(-(np.log(0.9) + np.log(0.8)) / 2)


def test_config_json_holds_the_full_config_and_dims(tmp_path, image_only_shards):
    cfg = tiny_config(tmp_path, image_only_shards, epochs=1, fusion="attention")
    train(cfg)
    saved = json.loads((tmp_path / "model" / "config.json").read_text())
    assert saved["train"] == json.loads(cfg.model_dump_json())
    assert saved["dims"]["image_shape"] == [3, 16, 16] and saved["dims"]["n_classes"] == 4


def test_warmup_then_cosine_schedule():
    assert lr_factor(0, 10, 100, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(10, 10, 100, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 10, 100, 0.1) == pytest.approx(0.55)
    assert lr_factor(100, 10, 100, 0.1) == pytest.approx(0.1)


def test_class_weights_balance_rare_classes():
    weights = class_weight_tensor(Counter({0: 90, 1: 10}), 3)
    assert weights[1] == pytest.approx(9 * weights[0]) and weights[2] == 0
    # The loss scale stays the same: the average weight per training sample is 1.
    assert (90 * weights[0] + 10 * weights[1]) / 100 == pytest.approx(1.0)


def test_unimodal_baseline_is_the_same_model_whatever_the_fusion(tmp_path):
    plain = unimodal_config(TrainConfig(), "audio", tmp_path / "m", tmp_path / "r")
    for fusion, detached in (("late", False), ("hybrid", True)):
        tuned = TrainConfig(fusion=fusion, unimodal_loss_weight=1.0, modality_dropout=0.5, contrastive_weight=0.3,
                            independent_experts=True, expert_clip_scaled=True, joint_expert_detached=detached)
        baseline = unimodal_config(tuned, "audio", tmp_path / "m", tmp_path / "r")
        assert baseline == plain
        # Saved into the baseline's config.json, it must load again (fusion-only options reset to valid values).
        assert TrainConfig.model_validate(baseline.model_dump()) == baseline
    assert baseline.modalities == ["audio"] and baseline.fusion == "concat" and not baseline.unimodal_baselines


def test_resume_refuses_a_checkpoint_trained_with_the_joint_expert_attached(tmp_path):
    attached = TrainConfig(fusion="hybrid", unimodal_loss_weight=8.0, independent_experts=True)
    detached = attached.model_copy(update={"joint_expert_detached": True})
    with pytest.raises(ValueError, match=r"joint_expert_detached: False -> True"):
        check_resumable(attached.model_dump(), TrainConfig.model_validate(detached.model_dump()), tmp_path / "last.pt")
    check_resumable(detached.model_dump(), detached, tmp_path / "last.pt")  # the same run resumes


def test_independent_experts_clip_each_expert_on_its_own():
    dims = ModelDims(modalities=["image", "audio"], n_classes=3, image_shape=[1, 8, 8], mel_shape=[4, 6])
    torch.manual_seed(0)
    inputs = {"image": torch.rand(6, 1, 8, 8), "audio": torch.randn(6, 4, 6)}
    target = torch.tensor([0, 1, 2, 0, 1, 2])

    def clipped_audio_grads(independent: bool, image_scale: float) -> list[torch.Tensor]:
        torch.manual_seed(0)
        cfg = TrainConfig(dim=8, conv_width=4, conv_blocks=1, fusion="late", unimodal_loss_weight=1.0,
                          dropout=0.0, independent_experts=independent)
        model = MultimodalClassifier(dims, cfg).train()
        per_modality = model.unimodal_logits(model.embed(inputs))
        image_loss, audio_loss = (F.cross_entropy(per_modality[:, i], target) for i in range(2))
        (image_scale * image_loss + audio_loss).backward()
        clip_gradients(model, 1e-3)  # small enough to clip every branch
        return [p.grad.clone() for p in model.expert_branches()[1]]

    for independent in (False, True):
        plain, loud_image = clipped_audio_grads(independent, 1.0), clipped_audio_grads(independent, 1000.0)
        same = all(torch.allclose(a, b, rtol=1e-5, atol=1e-12) for a, b in zip(plain, loud_image, strict=True))
        # A global norm lets the image expert's gradient shrink the audio expert's step.
        assert same == independent
        assert torch.linalg.vector_norm(torch.stack([g.norm() for g in loud_image])) <= 1e-3 * (1 + 1e-5)


def test_scaled_expert_clip_makes_steps_independent_of_the_loss_weight():
    # AdamW ignores a constant loss scale; the clip bound must scale with the weight too, or at weight 8
    # clipping normalises steps that a separately trained expert (weight 1) would take unclipped.
    dims = ModelDims(modalities=["image", "audio"], n_classes=3, image_shape=[1, 8, 8], mel_shape=[4, 6])
    generator = torch.Generator().manual_seed(0)
    batches = [({"image": torch.rand(6, 1, 8, 8, generator=generator),
                 "audio": 3 * scale * torch.randn(6, 4, 6, generator=generator)}, torch.tensor([0, 1, 2, 0, 1, 2]))
               for scale in (1.0, 4.0)]
    mask = torch.ones(6, 2)

    def expert_logits_after_two_steps(weight: float, grad_clip: float, scaled: bool = True) -> torch.Tensor:
        torch.manual_seed(0)
        cfg = TrainConfig(dim=8, conv_width=4, conv_blocks=1, fusion="late", unimodal_loss_weight=weight,
                          dropout=0.0, modality_dropout=0.0, independent_experts=True, expert_clip_scaled=scaled,
                          lr=1e-2, grad_clip=grad_clip)
        model = MultimodalClassifier(dims, cfg).train()
        optimizer = make_optimizer(model, cfg)
        for inputs, target in batches:
            logits, aux = model(inputs, mask, target)
            optimizer.zero_grad()
            (F.cross_entropy(logits, target) + aux).backward()
            clip_gradients(model, cfg.grad_clip, cfg.expert_clip_scaled)
            optimizer.step()
        with torch.no_grad():  # outputs, not raw weights: a conv bias before GroupNorm only holds Adam noise
            return torch.cat([model.eval().unimodal_logits(model.embed(inputs)) for inputs, _ in batches])

    # At weight 1 the audio expert's gradient norm is ~2.0 on the first step (clipped at 1.5), ~1.1 on
    # the second (not clipped): clipping changes the result, so the check below is not vacuous.
    unclipped = expert_logits_after_two_steps(1.0, 1e9)
    plain = expert_logits_after_two_steps(1.0, 1.5)
    assert not torch.allclose(plain, unclipped, atol=1e-3)
    assert torch.allclose(expert_logits_after_two_steps(8.0, 1.5), plain, atol=2e-4)
    # Unscaled, weight 8 clips both steps: a different expert.
    assert not torch.allclose(expert_logits_after_two_steps(8.0, 1.5, scaled=False), plain, atol=1e-3)


def test_expert_clip_scaled_needs_independent_experts():
    with pytest.raises(ValueError, match="independent_experts"):
        TrainConfig(fusion="late", unimodal_loss_weight=8.0, expert_clip_scaled=True)
