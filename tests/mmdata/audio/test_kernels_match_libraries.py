"""Hand-written audio kernels give the library's own results: on generated signals and on real FSDD clips."""

from __future__ import annotations

import io
import os
from pathlib import Path

import librosa
import numpy as np
import pytest
import soundfile as sf

from mmdata.audio.kernels import (
    AudioDropped,
    _decode_flac16,
    decode_audio,
    encode_flac,
    encode_wav,
    log_mel,
    pad_or_crop,
    pcm16,
    resample,
    to_mono,
    trim_silence,
)

FSDD = Path(os.environ.get("MMPIPE_SHARED_DATA", Path(__file__).resolve().parents[4] / "shared" / "data")) / "fsdd"


def generated_signals() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    t = np.arange(8000, dtype=np.float32) / 8000
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    silence = np.zeros(3000, np.float32)
    return [
        np.concatenate([silence, tone, silence]),
        np.concatenate([1e-4 * rng.standard_normal(2500).astype(np.float32), tone[:3000], silence[:700]]),
        (0.3 * rng.standard_normal(5000)).astype(np.float32),
        np.concatenate([silence[:100], np.float32([0.8]), silence[:2000], tone[:257]]),  # a click, then a tone
        tone[:300],  # shorter than one trim frame
        np.zeros(4000, np.float32),  # silence is kept whole, as librosa does
    ]


def fsdd_waves(count: int = 120) -> list[np.ndarray]:
    files = sorted(FSDD.glob("*.flac"))[:count]
    if not files:
        pytest.skip(f"no FSDD clips under {FSDD}")
    return [to_mono(decode_audio(f.read_bytes())[0]) for f in files]


def flac_via_float(wave: np.ndarray, rate: int) -> bytes:
    """What encode_flac wrote before: float samples, converted to 16 bits by libsndfile itself."""
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(wave, -1.0, 1.0), rate, format="FLAC", subtype="PCM_16", compression_level=0.0)
    return buffer.getvalue()


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_trim_cuts_where_librosa_cuts(source):
    waves = generated_signals() if source == "generated" else fsdd_waves()
    trimmed_some = 0
    for top_db in (20.0, 40.0):  # FSDD clips are tightly cut: at 40 dB few of them lose anything
        for wave in waves:
            expected, _ = librosa.effects.trim(wave, top_db=top_db, frame_length=512, hop_length=128)
            ours = trim_silence(wave, top_db)
            assert np.array_equal(ours, expected), (top_db, wave.size, ours.size, expected.size)
            trimmed_some += ours.size < wave.size
    assert trimmed_some >= 2  # the comparison covered real cuts, not only untouched signals


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_log_mel_matches_librosa(source):
    waves = generated_signals() if source == "generated" else fsdd_waves(60)
    for wave in waves:
        wave = np.resize(resample(wave, 8000, 16000), 16000).astype(np.float32)
        if not wave.any():
            wave[::97] = 0.01
        reference = librosa.power_to_db(
            librosa.feature.melspectrogram(y=wave, sr=16000, n_fft=400, hop_length=160, n_mels=64),
            ref=1.0, top_db=80.0)
        ours = log_mel(wave, 16000, 400, 160, 64)
        assert ours.dtype == np.float32 and ours.shape == reference.shape
        assert np.max(np.abs(ours - reference)) < 2e-3


def test_pcm16_is_libsndfiles_float_conversion():
    edges = np.float32([0.0, 1.0, -1.0, 0.99999, -0.99999, 1.5 / 32768, 2.5 / 32768, -0.5 / 32768, 32766.5 / 32768,
                        1.2, -1.2])
    samples = pcm16(edges)
    decoded, _ = sf.read(io.BytesIO(flac_via_float(edges, 16000)), dtype="int16")
    assert samples.dtype == np.int16 and np.array_equal(samples, decoded)
    assert samples[:3].tolist() == [0, 32767, -32768]


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_flac_bytes_equal_libsndfiles_own_conversion(source):
    rng = np.random.default_rng(3)
    waves = generated_signals() if source == "generated" else fsdd_waves(60)
    waves = [*waves, np.clip(rng.uniform(-1.3, 1.3, 4000), -1, 1).astype(np.float32)]
    for wave in waves:
        wave = (wave * np.float32(0.9 / max(1e-6, float(np.abs(wave).max())))).astype(np.float32)
        assert encode_flac(wave, 16000) == flac_via_float(wave, 16000)


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_wav_bytes_equal_libsndfile(source):
    """Same header as libsndfile's WAV writer and the same 16-bit samples as the FLAC path (``pcm16``).

    (libsndfile itself scales floats by 32767 for WAV but by 32768 for FLAC; the clip must not
    depend on the container, so both containers get ``pcm16``'s samples.)"""
    waves = generated_signals() if source == "generated" else fsdd_waves(30)
    for rate in (8000, 16000, 44100):
        for wave in waves:
            wave = np.clip(wave * np.float32(1.1), -1.2, 1.2).astype(np.float32)
            buffer = io.BytesIO()
            sf.write(buffer, pcm16(wave), rate, format="WAV", subtype="PCM_16")
            assert encode_wav(wave, rate) == buffer.getvalue()
            flac_samples, _ = sf.read(io.BytesIO(encode_flac(wave, rate)), dtype="int16")
            wav_samples, wav_rate = sf.read(io.BytesIO(encode_wav(wave, rate)), dtype="int16")
            assert wav_rate == rate and np.array_equal(wav_samples, flac_samples)


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_log_mel_skips_padding_without_changing_values(source):
    """Skipping the all-zero frames after the signal changes no value, whatever the signal length.

    Values agree to float rounding (a smaller FFT batch and matrix product may round the last bit
    differently); frames past the signal all sit at the output's floor."""
    waves = generated_signals() if source == "generated" else fsdd_waves(60)
    lengths = 0
    for wave in waves:
        wave = resample(wave, 8000, 16000)
        for cut in (wave.size, 1, 159, 160, 161, 399, 400, 7777):
            signal = wave[: min(cut, wave.size)]
            padded = pad_or_crop(signal, 16000)
            full = log_mel(padded, 16000, 400, 160, 64)
            skipped = log_mel(padded, 16000, 400, 160, 64, signal_length=min(signal.size, 16000))
            assert skipped.dtype == full.dtype and np.allclose(skipped, full, rtol=0, atol=1e-4), (wave.size, cut)
            past = -(-(signal.size + 200) // 160)  # first frame that starts after the signal
            assert (skipped[:, past:] == skipped.min()).all(), (wave.size, cut)
            lengths += signal.size < 16000
    assert lengths > 10  # most cases really had padding to skip


def loudness_cases() -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(11)
    t = np.arange(2 * 16000) / 16000
    speech_like = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)).astype(np.float32)
    fading = np.arange(6 * 16000) / 16000
    fading = (0.5 * rng.standard_normal(fading.size) * 10 ** (-2 * fading / 6)).astype(np.float32)
    return [
        (speech_like, 16000),  # loud blocks and silent blocks: both gates decide
        (fading, 16000),  # block loudness falls 40 dB in steps under 1 dB: a gate moved by 1 dB changes the result
        ((0.02 * rng.standard_normal(22050 * 3)).astype(np.float32), 22050),
        (np.concatenate([np.zeros(8000, np.float32), (0.5 * rng.standard_normal(4000)).astype(np.float32)]), 8000),
        ((1e-5 * rng.standard_normal(16000)).astype(np.float32), 16000),  # below the -70 LUFS absolute gate
        (np.zeros(6401, np.float32), 16000),  # silence: -inf
        ((0.1 * np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100)).astype(np.float32), 44100),
    ]


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_loudness_matches_pyloudnorm(source):
    import pyloudnorm

    from mmdata.audio.kernels import integrated_loudness

    if source == "generated":
        cases = loudness_cases()
    else:
        waves = [w for w in fsdd_waves(80) if w.size > 0.4 * 8000 + 1]
        cases = [(w, 8000) for w in waves] + [(resample(w, 8000, 16000), 16000) for w in waves[:20]]
    assert len(cases) >= 6
    for wave, rate in cases:
        expected = pyloudnorm.Meter(rate).integrated_loudness(wave.astype(np.float64))
        ours = integrated_loudness(wave, rate)
        if np.isinf(expected):
            assert ours == expected
        else:
            assert abs(ours - expected) < 1e-9, (rate, wave.size, ours, expected)


@pytest.mark.parametrize("array", [
    np.arange(12, dtype=np.float32).reshape(3, 4),
    np.arange(12, dtype=np.int32).reshape(3, 4).T,  # Fortran order
    np.zeros((0, 5), np.float32),
    np.ones((), np.float64),
    np.arange(7, dtype=">i4"),
])
def test_npy_bytes_are_what_np_save_writes(array):
    from mmdata.audio.kernels import npy_bytes

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    assert npy_bytes(array) == buffer.getvalue()
    assert npy_bytes(array) == buffer.getvalue()  # again, from the cached header


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_lufs_normalised_samples_equal_pyloudnorm_based_ones(source):
    import pyloudnorm

    from mmdata.audio.kernels import normalize_lufs

    if source == "generated":
        cases = [(w, r) for w, r in loudness_cases() if np.abs(w).max() > 1e-3]
    else:
        cases = [(resample(w, 8000, 16000), 16000) for w in fsdd_waves(40) if w.size > 0.4 * 8000 + 1]
    for wave, rate in cases:
        measured = pyloudnorm.Meter(rate).integrated_loudness(wave.astype(np.float64))
        expected = np.clip(wave * 10.0 ** ((-23.0 - measured) / 20.0), -1.0, 1.0).astype(np.float32)
        ours, ours_measured = normalize_lufs(wave, rate, -23.0)
        assert abs(ours_measured - measured) < 1e-9
        assert np.array_equal(ours, expected), (rate, wave.size)


def test_npy_bytes_match_np_save_across_header_padding_boundaries():
    """Header lengths change with the shape's digits: every length up to 2000 and a few large ones."""
    from mmdata.audio.kernels import npy_bytes

    shapes = [(n,) for n in range(2001)] + [(10**k,) for k in range(4, 8)] + [(64, n) for n in (1, 99, 101, 1000)]
    for shape in shapes:
        array = np.zeros(shape, np.int32 if len(shape) == 1 else np.float32)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        assert npy_bytes(array) == buffer.getvalue(), shape


def soundfile_decode(data: bytes) -> tuple[np.ndarray, int]:
    return sf.read(io.BytesIO(data), dtype="float32", always_2d=True)


def flac(samples: np.ndarray, rate: int, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC", subtype=subtype)
    return buffer.getvalue()


def generated_flacs() -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    full_scale = np.array([-32768, 32767, 0, -1, 1], np.int16).repeat(40)
    return {
        "mono 8k": flac(rng.integers(-32768, 32768, 8000, dtype=np.int16), 8000),
        "stereo 44.1k": flac(rng.integers(-2000, 2000, (30000, 2), dtype=np.int16), 44100),
        "six channels": flac(rng.integers(-32768, 32768, (999, 6), dtype=np.int16), 48000),
        "full scale": flac(full_scale, 16000),
        "one frame": flac(np.int16([1234]), 22050),
        "long, many blocks": flac((8000 * np.sin(np.arange(200_000) / 7)).astype(np.int16), 16000),
    }


@pytest.mark.parametrize("source", ["generated", "fsdd"])
def test_flac_fast_path_equals_soundfile(source):
    """16-bit FLAC decoded by dr_flac: exactly libsndfile's float samples, rate and channel count."""
    if source == "generated":
        clips = list(generated_flacs().values())
    else:
        clips = [f.read_bytes() for f in sorted(FSDD.glob("*.flac"))[:300]] or pytest.skip(f"no FSDD clips under {FSDD}")
    for data in clips:
        fast = _decode_flac16(data, None)
        assert fast is not None  # the fast path was taken, not the fallback
        wave, rate, channels, duration_s = fast
        expected, expected_rate = soundfile_decode(data)
        assert wave.dtype == np.float32 and np.array_equal(wave, expected)
        assert (rate, channels, duration_s) == (expected_rate, expected.shape[1], expected.shape[0] / expected_rate)


def test_flac_fast_path_leaves_other_streams_to_soundfile():
    """Other bit depths, other formats and damaged streams go to soundfile, which decodes or words the error."""
    rng = np.random.default_rng(5)
    deep = flac(rng.uniform(-0.9, 0.9, 4000), 16000, subtype="PCM_24")
    good = generated_flacs()["mono 8k"]
    for data in (deep, encode_wav(np.zeros(100, np.float32), 8000)):
        assert _decode_flac16(data, None) is None
        wave, rate, *_ = decode_audio(data)
        expected, expected_rate = soundfile_decode(data)
        assert rate == expected_rate and np.array_equal(wave, expected)
    truncated = good[: len(good) // 2]  # the header promises more frames than the stream holds
    assert _decode_flac16(truncated, None) is None
    corrupt = good[:60] + bytes(len(good) - 60)  # frames zeroed after the header
    assert _decode_flac16(corrupt, None) is None
    with pytest.raises(AudioDropped, match="audio_undecodable"):
        decode_audio(b"fLaC" + bytes(100))  # a FLAC marker without a STREAMINFO block


def test_flac_fast_path_refuses_overlong_input_from_the_header():
    data = generated_flacs()["long, many blocks"]  # 12.5 s
    with pytest.raises(AudioDropped, match="audio_too_long"):
        decode_audio(data, max_input_s=10.0)
    assert decode_audio(data, max_input_s=13.0)[3] == pytest.approx(12.5)
