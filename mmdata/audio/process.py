"""Raw audio bytes -> a fixed-rate, fixed-length 16-bit clip (WAV or FLAC) plus log-mel (and MFCC) features."""

from __future__ import annotations

import dataclasses

import numpy as np

from mmdata.audio.config import AudioConfig
from mmdata.audio.filters import ClippingFilter, DurationFilter, SilenceFilter
from mmdata.audio.kernels import (
    ENCODERS,
    AudioDropped,
    clipped_ratio,
    decode_audio,
    denoise_audio,
    log_mel,
    mfcc_from_log_mel,
    normalize_lufs,
    normalize_peak,
    npy_bytes,
    pad_or_crop,
    resample,
    to_mono,
    trim_silence,
)


@dataclasses.dataclass(frozen=True)
class CleanAudio:
    encoded: bytes  # the standardized clip, in ``ext`` format
    ext: str
    mel_npy: bytes
    mfcc_npy: bytes | None
    stats: dict


def _check(verdict) -> None:
    if verdict is not True:
        raise AudioDropped(verdict[1])


def process_audio(data: bytes, cfg: AudioConfig) -> CleanAudio:
    """Header check -> decode -> mono -> checks -> trim -> resample -> loudness -> pad/crop -> log-mel."""
    if len(data) > cfg.max_bytes:
        raise AudioDropped("audio_too_large")
    wave, in_rate, channels, in_duration = decode_audio(data, cfg.max_input_s)
    wave = to_mono(wave)
    clipping = clipped_ratio(wave)
    _check(ClippingFilter(cfg.max_clipped_ratio).filter(clipping))
    peak = float(np.max(np.abs(wave)))
    _check(SilenceFilter().filter(peak))
    if cfg.trim_silence:
        # Trimmed at the input rate, before resampling: less to resample, and the edges are the same.
        wave = trim_silence(wave, cfg.trim_top_db)
    wave = resample(wave, in_rate, cfg.sample_rate)
    rate = cfg.sample_rate
    if cfg.denoise:
        wave = denoise_audio(wave, rate)
    duration_s = wave.size / rate
    _check(DurationFilter(cfg.min_duration_s, cfg.max_duration_s).filter(duration_s))
    lufs = None
    if cfg.loudness == "lufs":
        wave, lufs = normalize_lufs(wave, rate, cfg.target_lufs)
    elif cfg.loudness == "peak":
        wave = normalize_peak(wave, cfg.target_peak)
    signal_length = wave.size
    wave = pad_or_crop(wave, round(cfg.target_duration_s * rate))
    mel = log_mel(wave, rate, cfg.n_fft, cfg.hop_length, cfg.n_mels, signal_length)
    mfcc = npy_bytes(mfcc_from_log_mel(mel, cfg.n_mfcc)) if cfg.n_mfcc > 0 else None
    stats = {"input_rate": in_rate, "input_channels": channels, "input_duration_s": round(in_duration, 4),
             "duration_s": round(duration_s, 4), "clipped_ratio": round(clipping, 6), "peak": round(peak, 6)}
    if lufs is not None:
        stats["lufs"] = round(lufs, 3) if np.isfinite(lufs) else None
    return CleanAudio(ENCODERS[cfg.format](wave, rate), cfg.format, npy_bytes(mel), mfcc, stats)
