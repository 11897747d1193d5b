"""Audio kernels and filters on recordings made in code, including hostile ones."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest
import soundfile as sf

from mmdata.audio.config import AudioConfig
from mmdata.audio.filters import ClippingFilter, DurationFilter, SilenceFilter
from mmdata.audio.kernels import (
    AudioDropped,
    clipped_ratio,
    decode_audio,
    log_mel,
    normalize_lufs,
    pad_or_crop,
    resample,
    to_mono,
    trim_silence,
)
from mmdata.audio.process import process_audio


def tone(rate: int = 8000, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    mono = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return mono if channels == 1 else np.stack([mono] * channels, axis=1)


def encoded(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


@pytest.mark.parametrize(("check", "value", "reason"), [
    (DurationFilter(0.5, 2.0), 0.2, "audio_too_short"),
    (DurationFilter(0.5, 2.0), 3.0, "audio_too_long"),
    (ClippingFilter(0.01), 0.2, "audio_clipped"),
    (SilenceFilter(1e-4), 0.0, "audio_silent"),
])
def test_filters_drop_with_reason(check, value, reason):
    assert check.filter(value) == (False, reason)


@pytest.mark.parametrize(("check", "value"), [(DurationFilter(0.5, 2.0), 1.0), (ClippingFilter(0.01), 0.0),
                                              (SilenceFilter(1e-4), 0.5)])
def test_filters_keep(check, value):
    assert check.filter(value) is True


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("WAV", "PCM_24"), ("FLAC", "PCM_16"),
                                              ("OGG", "VORBIS"), ("WAV", "FLOAT")])
def test_formats_and_depths_decode(fmt, subtype):
    wave_, rate, channels, duration_s = decode_audio(encoded(tone(), 8000, fmt, subtype))
    assert channels == 1 and abs(duration_s - 0.5) < 0.01
    assert rate == 8000 and wave_.dtype == np.float32 and wave_.shape[1] == 1
    assert abs(np.abs(wave_).max() - 0.5) < 0.05


def test_output_is_fixed_rate_length_and_mel_shape():
    cfg = AudioConfig(sample_rate=16000, target_duration_s=1.0, n_mels=40, hop_length=160)
    for samples, rate in ((tone(96000, 0.7, channels=6), 96000), (tone(8000, 1.6), 8000)):
        result = process_audio(encoded(samples, rate, subtype="PCM_24"), cfg)
        assert result.ext == "wav" and result.encoded[:4] == b"RIFF"
        out, out_rate = sf.read(io.BytesIO(result.encoded))
        mel = np.load(io.BytesIO(result.mel_npy))
        assert out_rate == 16000 and out.shape == (16000,)
        assert mel.shape == (40, 101) and mel.dtype == np.float32
    assert result.stats["input_rate"] == 8000 and result.stats["input_channels"] == 1


def test_mfcc_optional():
    result = process_audio(encoded(tone(), 8000), AudioConfig(n_mfcc=13))
    assert np.load(io.BytesIO(result.mfcc_npy)).shape[0] == 13
    assert process_audio(encoded(tone(), 8000), AudioConfig()).mfcc_npy is None


def test_hostile_recordings_dropped_with_reasons():
    cfg = AudioConfig()
    with pytest.raises(AudioDropped, match="^audio_undecodable"):
        process_audio(b"RIFF\x00\x00\x00\x00WAVEfmt garbage", cfg)
    nan = tone()
    nan[100] = np.nan
    with pytest.raises(AudioDropped, match="^audio_non_finite$"):
        process_audio(encoded(nan, 8000, subtype="FLOAT"), cfg)
    inf = tone()
    inf[5] = np.inf
    with pytest.raises(AudioDropped, match="^audio_non_finite$"):
        process_audio(encoded(inf, 8000, subtype="FLOAT"), cfg)
    with pytest.raises(AudioDropped, match="^audio_silent$"):
        process_audio(encoded(np.zeros(8000, np.float32), 8000), cfg)
    with pytest.raises(AudioDropped, match="^audio_clipped$"):
        process_audio(encoded(np.clip(tone(amp=3.0), -1, 1), 8000), cfg)
    with pytest.raises(AudioDropped, match="^audio_too_long$"):
        process_audio(encoded(tone(8000, 3.0), 8000), AudioConfig(max_input_s=2.0))
    with pytest.raises(AudioDropped, match="^audio_too_short$"):
        process_audio(encoded(tone(8000, 0.02), 8000), cfg)


def test_truncated_wav_is_dropped_or_decoded_never_crashes():
    data = encoded(tone(), 8000)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"")
    for broken in (data[:30], data[:-1001], buffer.getvalue()):
        try:
            process_audio(broken, AudioConfig())
        except AudioDropped as drop:
            assert drop.args[0].startswith(("audio_undecodable", "audio_empty", "audio_too_short"))


def test_kernels():
    assert to_mono(np.stack([np.ones(4), np.zeros(4)], 1).astype(np.float32)).tolist() == [0.5] * 4
    assert resample(tone(8000, 1.0), 8000, 16000).shape == (16000,)
    padded = np.concatenate([np.zeros(4000, np.float32), tone(8000, 0.5), np.zeros(4000, np.float32)])
    assert 3900 < trim_silence(padded, 40.0).size < 4500
    assert pad_or_crop(np.ones(3, np.float32), 5).tolist() == [1, 1, 1, 0, 0]
    assert pad_or_crop(np.ones(9, np.float32), 5).size == 5
    assert clipped_ratio(np.array([1.0, 0.2, -1.0, 0.3], np.float32)) == 0.5
    import librosa

    mel = log_mel(tone(16000, 1.0), 16000, 400, 160, 40)
    reference = librosa.power_to_db(librosa.feature.melspectrogram(y=tone(16000, 1.0), sr=16000, n_fft=400,
                                                                   hop_length=160, n_mels=40), ref=1.0, top_db=80.0)
    assert mel.shape == (40, 101) and np.allclose(mel, reference, atol=1e-3)


def test_loudness_normalisation_reaches_target():
    import pyloudnorm

    quiet = tone(16000, 2.0, amp=0.02)
    louder, measured = normalize_lufs(quiet, 16000, -23.0)
    assert measured < -30
    assert abs(pyloudnorm.Meter(16000).integrated_loudness(louder.astype(np.float64)) + 23.0) < 0.5
    result = process_audio(encoded(quiet, 16000), AudioConfig(loudness="lufs", trim_silence=False, target_duration_s=2.0))
    assert result.stats["lufs"] < -30


def test_denoise_reduces_noise():
    rng = np.random.default_rng(0)
    noisy = tone(16000, 1.0, amp=0.3) + 0.05 * rng.standard_normal(16000).astype(np.float32)
    plain = process_audio(encoded(noisy, 16000, subtype="FLOAT"), AudioConfig(trim_silence=False, loudness="none"))
    cleaned = process_audio(encoded(noisy, 16000, subtype="FLOAT"),
                            AudioConfig(trim_silence=False, loudness="none", denoise=True))
    assert plain.encoded != cleaned.encoded


def test_mp3_decodes_through_libsndfile():
    result = process_audio(encoded(tone(16000, 0.5), 16000, "MP3"), AudioConfig())
    assert result.stats["input_rate"] == 16000 and abs(result.stats["input_duration_s"] - 0.5) < 0.06


def test_flac_output_is_the_same_clip_as_wav():
    data = encoded(tone(8000, 0.7), 8000)
    as_wav = process_audio(data, AudioConfig())
    as_flac = process_audio(data, AudioConfig(format="flac"))
    assert as_flac.ext == "flac" and as_flac.encoded[:4] == b"fLaC"
    assert len(as_flac.encoded) < len(as_wav.encoded)
    wav_samples, _ = sf.read(io.BytesIO(as_wav.encoded), dtype="int16")
    flac_samples, _ = sf.read(io.BytesIO(as_flac.encoded), dtype="int16")
    assert np.array_equal(wav_samples, flac_samples) and as_wav.mel_npy == as_flac.mel_npy
