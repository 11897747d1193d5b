"""Settings of audio cleaning and standardization (params.yaml `build.audio`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class AudioConfig(BaseModel):
    """How a raw recording becomes a fixed-rate, fixed-length waveform plus log-mel features."""

    max_bytes: int = 200_000_000
    max_input_s: float = 600.0  # longer inputs are dropped from the header, before decoding
    sample_rate: int = 16_000
    trim_silence: bool = True
    trim_top_db: float = 40.0  # frames quieter than peak - top_db at the edges are trimmed
    loudness: Literal["lufs", "peak", "none"] = "peak"
    target_lufs: float = -23.0  # used when loudness == lufs (pyloudnorm, ITU-R BS.1770)
    target_peak: float = 0.9  # used when loudness == peak
    max_clipped_ratio: float = 0.01  # share of samples at full scale above this -> audio_clipped
    denoise: bool = False  # spectral gating (noisereduce); slow
    min_duration_s: float = 0.05  # after trimming; shorter -> audio_too_short
    max_duration_s: float = 60.0  # after trimming; longer -> audio_too_long
    target_duration_s: float = 1.0  # output is padded / cropped to exactly this length
    # Encoding of the standardized waveform: 16-bit PCM WAV writes at memory speed; FLAC is about
    # 40 % smaller on disk but its encoder costs as much as the rest of the audio path together.
    format: Literal["wav", "flac"] = "wav"
    n_fft: int = 400
    hop_length: int = 160
    n_mels: int = 40
    n_mfcc: int = 0  # > 0 adds mfcc.npy
