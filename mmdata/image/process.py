"""Raw image bytes -> standardized encoded image, quality stats and a perceptual hash."""

from __future__ import annotations

import dataclasses

from mmdata.image.config import ImageConfig
from mmdata.image.filters import AspectFilter, BlurFilter, MinSizeFilter, PixelCapFilter
from mmdata.image.kernels import (
    ImageDropped,
    blur_variance,
    decode_image,
    denoise_image,
    encode_image,
    jpeg_reduction,
    perceptual_hash,
    probe_header,
    resize_image,
)

_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}


@dataclasses.dataclass(frozen=True)
class CleanImage:
    encoded: bytes
    ext: str
    stats: dict
    phash: str | None  # None when not asked for (no near-duplicate search)


def _check(verdict) -> None:
    if verdict is not True:
        raise ImageDropped(verdict[1])


def process_image(data: bytes, cfg: ImageConfig, signature: bool = True) -> CleanImage:
    """Header check -> decode -> filters -> (denoise) -> resize -> encode; raise ``ImageDropped(reason)``.

    ``signature=False`` skips the perceptual hash, for callers that do no near-duplicate search.
    """
    if len(data) > cfg.max_bytes:
        raise ImageDropped("image_too_large")
    width, height, fmt, mode = probe_header(data)
    _check(PixelCapFilter(cfg.max_pixels).filter((width, height)))
    _check(MinSizeFilter(cfg.min_side).filter((width, height)))
    _check(AspectFilter(cfg.max_aspect).filter((width, height)))
    has_alpha = mode in _ALPHA_MODES or (mode == "P" and fmt in {"png", "gif"})
    reduction = jpeg_reduction(width, height, cfg.size, cfg.resize_mode) if fmt == "jpeg" and not cfg.denoise else 1
    img = decode_image(data, has_alpha, reduction)
    if cfg.denoise:
        img = denoise_image(img)
    out = resize_image(img, cfg.size, cfg.resize_mode, cfg.border_value)
    # Blur and hash are measured on the standardized image: cheap, and what the model sees.
    variance = blur_variance(out)
    _check(BlurFilter(cfg.min_blur_var).filter(variance))
    stats = {"width": width, "height": height, "format": fmt, "mode": mode,
             "blur_var": round(variance, 3)}
    return CleanImage(encode_image(out, cfg.format, cfg.quality), cfg.format, stats,
                      perceptual_hash(out) if signature else None)
