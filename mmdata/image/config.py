"""Settings of image cleaning and standardization (params.yaml `build.image`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ImageConfig(BaseModel):
    """How a raw image becomes a fixed-size 3-channel encoded image."""

    max_pixels: int = 40_000_000  # checked from the header before decoding (decompression bombs)
    max_bytes: int = 50_000_000
    min_side: int = 8  # smaller images are dropped (image_too_small)
    max_aspect: float = 10.0  # long side / short side above this -> image_bad_aspect
    min_blur_var: float = 0.0  # Laplacian variance of the standardized image below this -> image_blurry
    denoise: bool = False  # fastNlMeansDenoisingColored before resizing (slow)
    size: int = 32  # output is size x size
    resize_mode: Literal["center_crop", "border", "keep_ratio"] = "center_crop"
    border_value: int = 0  # fill of the letterbox / keep_ratio padding
    format: Literal["jpg", "png", "webp"] = "png"
    quality: int = 95  # JPEG/WebP quality; PNG compression level is quality // 10 capped to 9
