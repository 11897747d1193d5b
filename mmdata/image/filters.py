"""Image filters, datatrove style: ``filter(x) -> True`` or ``(False, reason)``."""

from __future__ import annotations

FilterResult = bool | tuple[bool, str]


class PixelCapFilter:
    """Refuse images whose header announces more than ``max_pixels`` (before any decoding)."""

    def __init__(self, max_pixels: int):
        self.max_pixels = max_pixels

    def filter(self, size: tuple[int, int]) -> FilterResult:
        width, height = size
        if width * height > self.max_pixels:
            return False, "image_too_many_pixels"
        return True


class MinSizeFilter:
    """Drop images whose shorter side is below ``min_side``."""

    def __init__(self, min_side: int):
        self.min_side = min_side

    def filter(self, size: tuple[int, int]) -> FilterResult:
        if min(size) < self.min_side:
            return False, "image_too_small"
        return True


class AspectFilter:
    """Drop images whose long/short side ratio exceeds ``max_aspect``."""

    def __init__(self, max_aspect: float):
        self.max_aspect = max_aspect

    def filter(self, size: tuple[int, int]) -> FilterResult:
        if max(size) / max(1, min(size)) > self.max_aspect:
            return False, "image_bad_aspect"
        return True


class BlurFilter:
    """Drop images whose Laplacian variance is below ``min_variance``."""

    def __init__(self, min_variance: float):
        self.min_variance = min_variance

    def filter(self, variance: float) -> FilterResult:
        if variance < self.min_variance:
            return False, "image_blurry"
        return True
