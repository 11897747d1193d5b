"""Audio filters, datatrove style: ``filter(x) -> True`` or ``(False, reason)``."""

from __future__ import annotations

FilterResult = bool | tuple[bool, str]


class DurationFilter:
    """Keep recordings between ``min_s`` and ``max_s`` seconds."""

    def __init__(self, min_s: float, max_s: float):
        self.min_s, self.max_s = min_s, max_s

    def filter(self, duration_s: float) -> FilterResult:
        if duration_s < self.min_s:
            return False, "audio_too_short"
        if duration_s > self.max_s:
            return False, "audio_too_long"
        return True


class ClippingFilter:
    """Drop recordings with more than ``max_ratio`` of their samples at full scale."""

    def __init__(self, max_ratio: float):
        self.max_ratio = max_ratio

    def filter(self, ratio: float) -> FilterResult:
        if ratio > self.max_ratio:
            return False, "audio_clipped"
        return True


class SilenceFilter:
    """Drop recordings that are all silence (peak below ``min_peak``)."""

    def __init__(self, min_peak: float = 1e-4):
        self.min_peak = min_peak

    def filter(self, peak: float) -> FilterResult:
        if peak < self.min_peak:
            return False, "audio_silent"
        return True
