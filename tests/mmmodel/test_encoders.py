"""Encoders: grid pooling keeps position, input normalisations, shapes for odd map sizes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mmmodel.encoders import ConvEncoder, TimeConvEncoder, _pool_matrix


@pytest.mark.parametrize("size", [1, 4, 5, 13])
def test_pool_matrix_is_adaptive_average_pooling(size):
    maps = torch.randn(2, 3, size, 7)
    pooled = _pool_matrix(size, 4) @ maps @ _pool_matrix(7, 4).T
    assert torch.allclose(pooled, F.adaptive_avg_pool2d(maps, 4), atol=1e-6)


def test_grid_pooling_tells_apart_inputs_global_pooling_confuses():
    # The same blob early or late in time: a global average cannot tell the two apart, a grid can.
    early, late = torch.zeros(1, 8, 24), torch.zeros(1, 8, 24)
    early[0, 2:6, 1:5], late[0, 2:6, 17:21] = 1.0, 1.0  # 16 frames apart: a multiple of the pooling stride
    torch.manual_seed(0)
    for grid, differ in ((0, False), (4, True)):
        encoder = ConvEncoder(1, 4, 2, 6, 0.0, "center", 1, grid, (8, 24)).eval()
        # Circular padding makes the convolutions exactly shift-equivariant.
        for module in encoder.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.padding_mode = "circular"
        a, b = encoder(early), encoder(late)
        assert a.shape == (1, 6)
        assert (not torch.allclose(a, b, atol=1e-5)) == differ


def test_input_normalisations():
    x = torch.randn(3, 1, 5, 40) * 7 + torch.linspace(-30, 30, 5)[None, None, :, None]
    utterance = ConvEncoder(1, 4, 1, 6, 0.0, "utterance").normalize(x)
    assert torch.allclose(utterance.mean(dim=(1, 2, 3)), torch.zeros(3), atol=1e-4)
    cmvn = ConvEncoder(1, 4, 1, 6, 0.0, "cmvn").normalize(x)
    assert torch.allclose(cmvn.mean(dim=3), torch.zeros(3, 1, 5), atol=1e-4)  # each mel bin centred
    assert torch.allclose(cmvn.std(dim=3), torch.ones(3, 1, 5), atol=1e-2)
    with pytest.raises(ValueError, match="input_norm"):
        ConvEncoder(1, 4, 1, 6, 0.0, "bogus")


def test_time_conv_encoder_keeps_order_of_sounds_and_scale_of_input():
    # The same two sounds in the opposite order: segment pooling tells them apart.
    first, second = torch.zeros(1, 8, 32), torch.zeros(1, 8, 32)
    first[0, :4, 2:8], first[0, 4:, 20:26] = 1.0, 1.0
    second[0, 4:, 2:8], second[0, :4, 20:26] = 1.0, 1.0
    torch.manual_seed(0)
    encoder = TimeConvEncoder(8, 32, 8, 2, 6, 0.0, "utterance", segments=4).eval()
    a, b = encoder(first), encoder(second)
    assert a.shape == (1, 6) and not torch.allclose(a, b, atol=1e-5)
    # Utterance normalisation: a louder copy (a dB offset and scale) embeds the same.
    assert torch.allclose(encoder(first * 3 + 10), a, atol=1e-4)
    # No conv blocks: a linear model on segment means of the mel bins; odd frame counts pool too.
    assert TimeConvEncoder(8, 33, 8, 0, 6, 0.0, segments=4)(torch.randn(2, 8, 33)).shape == (2, 6)
