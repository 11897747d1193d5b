"""Batch augmentation on the training device: small affine jitter, random erasing and pixel noise for
images; random stretch, time
shift and SpecAugment-style masks for log-mels. Random draws come from the torch RNG, which training
re-seeds every step, so a resumed run augments exactly as an uninterrupted one."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mmdata import fields


def jitter_images(images: torch.Tensor, shift: float, rotate_deg: float) -> torch.Tensor:
    """Random translation (fraction of the size) and rotation per image; borders fill with zeros."""
    batch = images.shape[0]
    angle = (torch.rand(batch, device=images.device) * 2 - 1) * math.radians(rotate_deg)
    offset = (torch.rand(batch, 2, device=images.device) * 2 - 1) * shift * 2  # grid units span [-1, 1]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack([torch.stack([cos, -sin, offset[:, 0]], 1), torch.stack([sin, cos, offset[:, 1]], 1)], 1)
    grid = F.affine_grid(theta.to(images.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="zeros", align_corners=False)


def erase_images(images: torch.Tensor, prob: float, max_area: float = 0.25) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020): with chance ``prob``, fill one rectangle covering up to
    ``max_area`` of each image with uniform noise spanning that image's value range."""
    batch, _, height, width = images.shape
    device = images.device
    area = torch.rand(batch, device=device) * max_area
    aspect = torch.exp((torch.rand(batch, device=device) * 2 - 1) * math.log(2))  # 1/2 .. 2
    h = (torch.sqrt(area * aspect) * height).long().clamp(1, height)
    w = (torch.sqrt(area / aspect) * width).long().clamp(1, width)
    top = (torch.rand(batch, device=device) * (height - h + 1).float()).long()
    left = (torch.rand(batch, device=device) * (width - w + 1).float()).long()
    rows = torch.arange(height, device=device)[None]
    cols = torch.arange(width, device=device)[None]
    inside = ((rows >= top[:, None]) & (rows < (top + h)[:, None]))[:, :, None] & \
        ((cols >= left[:, None]) & (cols < (left + w)[:, None]))[:, None, :]
    chosen = torch.rand(batch, device=device) < prob
    hidden = (inside & chosen[:, None, None])[:, None]  # broadcast over channels
    low = images.amin(dim=(1, 2, 3), keepdim=True)
    high = images.amax(dim=(1, 2, 3), keepdim=True)
    fill = low + torch.rand_like(images) * (high - low)
    return torch.where(hidden, fill, images)


def noise_images(images: torch.Tensor, std: float) -> torch.Tensor:
    """Add Gaussian pixel noise with standard deviation ``std`` times each image's own std."""
    scale = images.std(dim=(1, 2, 3), keepdim=True)
    return images + torch.randn_like(images) * std * scale


def mask_spectrograms(mels: torch.Tensor, max_fraction: float) -> torch.Tensor:
    """Roll each mel in time and blank one band of mel bins and one span of frames (SpecAugment)."""
    batch, n_mels, frames = mels.shape
    device = mels.device
    shifts = torch.randint(-int(frames * max_fraction), int(frames * max_fraction) + 1, (batch,), device=device)
    index = (torch.arange(frames, device=device)[None] - shifts[:, None]) % frames
    mels = torch.gather(mels, 2, index[:, None, :].expand(batch, n_mels, frames))
    fill = mels.mean(dim=(1, 2), keepdim=True)

    def band(size: int) -> tuple[torch.Tensor, torch.Tensor]:
        width = torch.randint(0, max(1, int(size * max_fraction)) + 1, (batch, 1), device=device)
        start = (torch.rand(batch, 1, device=device) * (size - width + 1)).long()
        positions = torch.arange(size, device=device)[None]
        return (positions >= start) & (positions < start + width), width

    freq_mask, _ = band(n_mels)
    time_mask, _ = band(frames)
    hidden = freq_mask[:, :, None] | time_mask[:, None, :]
    return torch.where(hidden, fill, mels)


def warp_spectrograms(mels: torch.Tensor, max_stretch: float) -> torch.Tensor:
    """Stretch each mel by a random factor in [1 - s, 1 + s] along the mel axis (anchored at the lowest
    bin, like vocal tract length perturbation) and, independently, along time (anchored at frame 0,
    a speaking-rate change). Cells read from beyond the input repeat its edge."""
    batch = mels.shape[0]
    scale = 1 + (torch.rand(batch, 2, device=mels.device) * 2 - 1) * max_stretch  # [:, 0] time, [:, 1] mel
    zero = torch.zeros(batch, device=mels.device)
    # Grid coordinates span [-1, 1]; reading at s * x + (s - 1) keeps the -1 edge where it is.
    theta = torch.stack([torch.stack([scale[:, 0], zero, scale[:, 0] - 1], 1),
                         torch.stack([zero, scale[:, 1], scale[:, 1] - 1], 1)], 1)
    images = mels.unsqueeze(1)
    grid = F.affine_grid(theta.to(mels.dtype), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, padding_mode="border", align_corners=False).squeeze(1)


def augment_batch(inputs: dict[str, torch.Tensor], shift: float, rotate_deg: float, spec_mask: float,
                  spec_warp: float = 0.0, image_erase: float = 0.0,
                  image_noise: float = 0.0) -> dict[str, torch.Tensor]:
    """A new inputs dict with images and mels augmented; tokens pass through."""
    out = dict(inputs)
    if fields.IMAGE in out and (shift > 0 or rotate_deg > 0):
        out[fields.IMAGE] = jitter_images(out[fields.IMAGE], shift, rotate_deg)
    if fields.IMAGE in out and image_erase > 0:
        out[fields.IMAGE] = erase_images(out[fields.IMAGE], image_erase)
    if fields.IMAGE in out and image_noise > 0:
        out[fields.IMAGE] = noise_images(out[fields.IMAGE], image_noise)
    if fields.AUDIO in out and spec_warp > 0:
        out[fields.AUDIO] = warp_spectrograms(out[fields.AUDIO], spec_warp)
    if fields.AUDIO in out and spec_mask > 0:
        out[fields.AUDIO] = mask_spectrograms(out[fields.AUDIO], spec_mask)
    return out
