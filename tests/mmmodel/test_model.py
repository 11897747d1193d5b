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
    # as written by older versions
    del info["train"]["pool_grid"], info["train"]["audio_encoder"], info["train"]["unimodal_loss_weight"]
    config.write_text(json.dumps(info))
    loaded, _, _ = load_model(tmp_path)
    inputs, mask = _inputs(), torch.ones(6, 3)
    assert torch.allclose(loaded(inputs, mask), model.eval()(inputs, mask))


def test_unimodal_heads_give_per_modality_logits_and_a_masked_auxiliary_loss():
    import pytest
    import torch.nn.functional as F

    from mmmodel.model import unimodal_loss

    torch.manual_seed(0)
    cfg = TrainConfig(dim=8, conv_width=4, conv_blocks=1, unimodal_loss_weight=0.5, modality_dropout=0.0)
    model = MultimodalClassifier(DIMS, cfg).train()
    inputs, target = _inputs(), torch.tensor([0, 1, 2, 0, 1, 2])
    mask = torch.ones(6, 3)
    mask[:, 2] = 0.0  # no text in this batch
    mask[0, 0] = 0.0
    per_modality = model.unimodal_logits(model.embed(inputs))
    assert per_modality.shape == (6, 3, 3)
    # The loss averages over the 11 (sample, modality) pairs present, nothing else.
    present = mask > 0
    by_hand = F.cross_entropy(per_modality[present], target.unsqueeze(1).expand(6, 3)[present])
    assert torch.allclose(unimodal_loss(per_modality, mask, target), by_hand, atol=1e-6)
    logits, aux = model(inputs, mask, target)
    assert logits.shape == (6, 3) and aux > 0
    aux.backward()
    # An absent modality's head learns nothing from the batch; a present one does.
    assert all(p.grad is None or not p.grad.any() for p in model.unimodal_heads["text"].parameters())
    assert any(p.grad is not None and p.grad.any() for p in model.unimodal_heads["audio"].parameters())
    # Off by default (and meaningless with one modality): no heads, no auxiliary loss.
    plain = MultimodalClassifier(DIMS, TrainConfig(dim=8, conv_width=4, conv_blocks=1)).train()
    assert plain.unimodal_heads is None and plain(inputs, mask, target)[1] == 0
    single = ModelDims(modalities=["image"], n_classes=3, image_shape=[3, 8, 8])
    assert MultimodalClassifier(single, cfg).unimodal_heads is None
    with pytest.raises(ValueError, match="unimodal_loss_weight"):
        TrainConfig(unimodal_loss_weight=-1.0)


def test_late_fusion_model_ignores_absent_modalities_and_answers_from_one():
    torch.manual_seed(0)
    model = MultimodalClassifier(DIMS, TrainConfig(dim=8, conv_width=4, conv_blocks=1, fusion="late")).eval()
    inputs = _inputs()
    mask = torch.tensor([[1.0, 0.0, 1.0]] * 6)
    changed = {**inputs, "audio": torch.randn(6, 4, 6) * 50}
    assert torch.allclose(model(inputs, mask), model(changed, mask), atol=1e-5)
    assert not torch.allclose(model(inputs, torch.ones(6, 3)), model(changed, torch.ones(6, 3)), atol=1e-4)
    only_image = torch.tensor([[1.0, 0.0, 0.0]] * 6)
    expert = model.unimodal_heads["image"](model.encoders["image"](inputs["image"]))
    assert torch.allclose(torch.softmax(model(inputs, only_image), -1), torch.softmax(expert, -1), atol=1e-5)


def test_hybrid_fusion_is_the_late_product_times_a_joint_concat_expert():
    torch.manual_seed(0)
    model = MultimodalClassifier(DIMS, TrainConfig(dim=8, conv_width=4, conv_blocks=1, fusion="hybrid")).eval()
    inputs, mask = _inputs(), torch.tensor([[1.0, 0.0, 1.0]] * 6)
    feats = model.embed(inputs)
    experts = torch.log_softmax(model.unimodal_logits(feats), -1) * mask.unsqueeze(-1)
    joint = torch.log_softmax(model.head(model.joint_fusion(feats, mask)), -1)
    expected = torch.softmax(experts.sum(1) + joint, -1)
    assert torch.allclose(torch.softmax(model(inputs, mask), -1), expected, atol=1e-5)
    changed = {**inputs, "audio": torch.randn(6, 4, 6) * 50}  # absent: ignored by every expert
    assert torch.allclose(model(inputs, mask), model(changed, mask), atol=1e-5)
    assert torch.isfinite(model(inputs, torch.zeros(6, 3))).all()


def _hybrid_in_training(**options) -> MultimodalClassifier:
    """A small hybrid model with per-modality losses and no randomness in its forward pass, same weights each time."""
    torch.manual_seed(0)
    cfg = TrainConfig(dim=8, conv_width=4, conv_blocks=1, fusion="hybrid", unimodal_loss_weight=1.0,
                      modality_dropout=0.0, dropout=0.0, **options)
    return MultimodalClassifier(DIMS, cfg).train()


def test_independent_experts_learn_from_their_own_loss_only():
    import pytest
    import torch.nn.functional as F

    inputs, target, mask = _inputs(), torch.tensor([0, 1, 2, 0, 1, 2]), torch.ones(6, 3)
    grads = {}
    for independent in (False, True):
        model = _hybrid_in_training(independent_experts=independent)
        logits, _ = model(inputs, mask, target)
        F.cross_entropy(logits, target).backward()  # the fused loss alone
        grads[independent] = {
            "experts": any(p.grad is not None and p.grad.any() for p in model.unimodal_heads.parameters()),
            "image_encoder": any(p.grad is not None and p.grad.any() for p in model.encoders["image"].parameters()),
            "joint": any(p.grad is not None and p.grad.any() for p in model.head.parameters()),
            "logits": logits.detach()}
    # Same weights, same answer; only where the fused loss's gradient goes differs.
    assert torch.allclose(grads[False]["logits"], grads[True]["logits"], atol=1e-6)
    assert grads[False]["experts"] and not grads[True]["experts"]
    # The joint expert still learns from the fused loss, and through it the encoders.
    assert grads[True]["joint"] and grads[True]["image_encoder"]
    with pytest.raises(ValueError, match="independent_experts"):
        TrainConfig(fusion="late", independent_experts=True)  # nothing would train the experts
    with pytest.raises(ValueError, match="independent_experts"):
        TrainConfig(fusion="concat", unimodal_loss_weight=1.0, independent_experts=True)


def test_detached_joint_expert_keeps_the_fused_loss_off_the_encoders():
    import pytest
    import torch.nn.functional as F

    inputs, target, mask = _inputs(), torch.tensor([0, 1, 2, 0, 1, 2]), torch.ones(6, 3)
    runs = {}
    for detached in (False, True):
        model = _hybrid_in_training(independent_experts=True, joint_expert_detached=detached)
        logits, aux = model(inputs, mask, target)
        fused = F.cross_entropy(logits, target)
        encoders = list(model.encoders.parameters())

        def grads(loss, params=encoders):
            return torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)

        from_fused, from_total, from_experts = grads(fused), grads(fused + aux), grads(aux)
        runs[detached] = {
            "logits": logits.detach(),
            "encoders_from_fused": any(g is not None and g.any() for g in from_fused),
            "total_is_experts_only": all(torch.equal(a, b) for a, b in zip(from_total, from_experts, strict=True)),
            "joint_head": grads(fused, list(model.head.parameters()))}
    # Same weights, same answer: detaching only moves where the fused loss's gradient goes.
    assert torch.allclose(runs[False]["logits"], runs[True]["logits"], atol=1e-6)
    assert runs[False]["encoders_from_fused"] and not runs[False]["total_is_experts_only"]
    # Detached, no gradient of the fused loss reaches any encoder: each learns from its own expert only.
    assert not runs[True]["encoders_from_fused"] and runs[True]["total_is_experts_only"]
    # The joint head still learns from the fused loss, exactly as before.
    for a, b in zip(runs[False]["joint_head"], runs[True]["joint_head"], strict=True):
        assert torch.allclose(a, b, atol=1e-6) and b.any()
    for refused in (dict(fusion="hybrid", unimodal_loss_weight=1.0),  # experts still pass the fused loss on
                    dict(fusion="late", unimodal_loss_weight=1.0, independent_experts=True),  # no joint expert
                    dict(fusion="concat", unimodal_loss_weight=1.0)):
        with pytest.raises(ValueError, match="joint_expert_detached needs fusion hybrid and independent_experts"):
            TrainConfig(joint_expert_detached=True, **refused)
