"""Augmentation keeps shapes, changes content, is reproducible from the torch seed."""

from __future__ import annotations

import torch

from mmmodel.augment import augment_batch, mask_spectrograms, warp_spectrograms


def test_augmentation_is_seeded_and_shape_preserving():
    inputs = {"image": torch.rand(4, 3, 16, 16), "audio": torch.randn(4, 8, 20), "text": torch.ones(4, 5).long()}
    torch.manual_seed(3)
    first = augment_batch(inputs, 0.1, 10.0, 0.2)
    torch.manual_seed(3)
    second = augment_batch(inputs, 0.1, 10.0, 0.2)
    for name in inputs:
        assert first[name].shape == inputs[name].shape
        assert torch.equal(first[name], second[name])
    assert not torch.allclose(first["image"], inputs["image"])
    assert torch.equal(first["text"], inputs["text"])
    assert torch.equal(augment_batch(inputs, 0.0, 0.0, 0.0)["image"], inputs["image"])


def test_spectrogram_masks_blank_with_the_sample_mean():
    torch.manual_seed(0)
    mels = torch.arange(2 * 10 * 30, dtype=torch.float32).reshape(2, 10, 30)
    out = mask_spectrograms(mels, 0.3)
    assert out.shape == mels.shape
    # Each row is the input rolled in time, with some cells replaced by that sample's mean.
    for i in range(2):
        assert torch.isclose(out[i].mean(), mels[i].mean(), rtol=0.2)


def test_spectrogram_warp_is_identity_at_zero_and_anchored_at_the_low_edge():
    torch.manual_seed(0)
    mels = torch.randn(3, 12, 40)
    assert torch.allclose(warp_spectrograms(mels, 0.0), mels, atol=1e-5)
    warped = warp_spectrograms(mels, 0.2)
    assert warped.shape == mels.shape and not torch.allclose(warped, mels)
    # A pure ramp along the mel axis stays a ramp starting near its first value (stretch about bin 0).
    ramp = torch.arange(12.0)[None, :, None].expand(3, 12, 40).contiguous()
    out = warp_spectrograms(ramp, 0.2)
    assert (out[:, 0] < 1.0).all() and (out.diff(dim=1) >= -1e-5).all()


def test_image_erase_and_noise_change_pixels_only_when_enabled():
    from mmmodel.augment import erase_images, noise_images

    images = torch.rand(16, 3, 16, 16)
    inputs = {"image": images, "audio": torch.randn(16, 8, 20)}
    torch.manual_seed(0)
    # Disabled (the defaults): images pass through untouched.
    off = augment_batch(inputs, 0.0, 0.0, 0.0, 0.0, image_erase=0.0, image_noise=0.0)
    assert torch.equal(off["image"], images)
    for out in (erase_images(images, 1.0), noise_images(images, 0.5),
                augment_batch(inputs, 0.0, 0.0, 0.0, 0.0, image_erase=1.0, image_noise=0.2)["image"]):
        assert out.shape == images.shape and out.dtype == images.dtype
        assert not torch.equal(out, images)
    erased = erase_images(images, 1.0)
    changed = (erased != images).any(dim=1).flatten(1).float().mean(dim=1)
    assert (changed > 0).all() and (changed <= 0.3).all()  # one rectangle of at most ~1/4 per image
    assert erased.min() >= images.min() and erased.max() <= images.max()  # fill stays in the value range
    assert torch.equal(erase_images(images, 0.0), images)
    half = erase_images(images.half(), 1.0)
    assert half.dtype == torch.float16
