"""Fusion modules: output shapes, and that a masked-out modality has no influence on the output."""

from __future__ import annotations

import pytest
import torch

from mmmodel.fusion import AttentionFusion, LateFusion, LowRankFusion, ProjectionFusion, build_fusion

KINDS = ("concat", "attention", "projection", "lowrank", "late")  # late: D plays the class count
B, M, D = 5, 3, 8


@pytest.mark.parametrize("kind", KINDS)
def test_output_shape_matches_out_dim(kind):
    fusion = build_fusion(kind, M, D, rank=2)
    z = fusion(torch.randn(B, M, D), torch.ones(B, M))
    assert z.shape == (B, fusion.out_dim)
    assert torch.isfinite(z).all()


@pytest.mark.parametrize("kind", KINDS)
def test_masked_modality_has_no_influence(kind):
    torch.manual_seed(0)
    fusion = build_fusion(kind, M, D, rank=2).eval()
    feats = torch.randn(B, M, D)
    mask = torch.ones(B, M)
    mask[:, 1] = 0.0
    changed = feats.clone()
    changed[:, 1] = torch.randn(B, D) * 100  # whatever sits in the slot of the absent modality
    assert torch.allclose(fusion(feats, mask), fusion(changed, mask), atol=1e-5)
    # ... while a present modality does change the output.
    changed[:, 0] += torch.linspace(0, 1, D)  # not a constant: late fusion's softmax ignores a shift
    assert not torch.allclose(fusion(feats, mask), fusion(changed, mask), atol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_sample_with_no_modality_stays_finite(kind):
    fusion = build_fusion(kind, M, D, rank=2)
    assert torch.isfinite(fusion(torch.randn(2, M, D), torch.zeros(2, M))).all()


def test_attention_weights_are_a_distribution_over_present_modalities():
    fusion = AttentionFusion(M, D)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    feats = torch.randn(3, M, D)
    z = fusion(feats, mask)
    weights = fusion.last_weights
    assert torch.allclose(weights.sum(1), torch.ones(3), atol=1e-5)
    assert weights[1, 1] == 0 and weights[2, 0] == 0 and weights[2, 1] == 0
    assert torch.allclose(z[2], feats[2, 2], atol=1e-5)  # one modality left: z is that modality


def test_projection_alignment_loss_prefers_aligned_pairs():
    torch.manual_seed(0)
    fusion = ProjectionFusion(2, D, temperature=0.1)
    with torch.no_grad():
        for layer in fusion.proj:
            layer.weight.copy_(torch.eye(D))
            layer.bias.zero_()
    x = torch.randn(16, D)
    aligned = torch.stack([x, x], dim=1)
    shuffled = torch.stack([x, x[torch.randperm(16)]], dim=1)
    ones = torch.ones(16, 2)
    assert fusion.alignment_loss(aligned, ones) < fusion.alignment_loss(shuffled, ones)
    # Pairs where one side is missing are left out; with fewer than two pairs there is no loss.
    assert fusion.alignment_loss(aligned, torch.tensor([[1.0, 0.0]] * 15 + [[1.0, 1.0]])) == 0


def test_lowrank_absent_modality_enters_as_its_bias_row():
    fusion = LowRankFusion(2, D, rank=3)
    feats = torch.randn(4, 2, D)
    mask = torch.tensor([[1.0, 0.0]] * 4)
    expected_factor = fusion.factors[1, :, -1, :]  # [rank, out]: the row multiplying the appended 1
    x0 = torch.cat([feats[:, 0], torch.ones(4, 1)], dim=1)
    first = torch.einsum("bd,rdo->bro", x0, fusion.factors[0])
    expected = (fusion.rank_weights @ (first * expected_factor)).squeeze(1) + fusion.bias
    assert torch.allclose(fusion(feats, mask), expected, atol=1e-5)


def test_late_fusion_is_a_product_of_the_present_experts():
    fusion = LateFusion(M, D)
    logits = torch.randn(4, M, D)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    probs = torch.softmax(fusion(logits, mask), dim=-1)
    experts = torch.softmax(logits, dim=-1)
    expected = torch.where(mask.unsqueeze(-1) > 0, experts, torch.ones_like(experts)).prod(dim=1)
    assert torch.allclose(probs, expected / expected.sum(-1, keepdim=True), atol=1e-5)
    assert torch.allclose(probs[2], experts[2, 1], atol=1e-5)  # one expert left: its own answer
    # Experts that agree sharpen the answer beyond either one alone.
    agree = torch.zeros(1, 2, D)
    agree[..., 0] = 2.0
    assert torch.softmax(LateFusion(2, D)(agree, torch.ones(1, 2)), -1)[0, 0] > torch.softmax(agree[0, 0], -1)[0]


def test_unknown_fusion_is_refused():
    with pytest.raises(ValueError, match="unknown fusion"):
        build_fusion("sum", M, D)
