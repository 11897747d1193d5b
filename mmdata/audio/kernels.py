"""Pure audio kernels on float32 numpy waveforms (mono: [n]; multi-channel: [n, channels])."""

from __future__ import annotations

import functools
import io
import struct

import numpy as np
import soundfile as sf

from mmdata.errors import describe_error


class AudioDropped(Exception):
    """The recording was rejected; ``args[0]`` is the reason."""


def _flac_stream_info(data: bytes) -> tuple[int, int, int, int] | None:
    """(sample_rate, channels, bits_per_sample, frames) from a FLAC stream's STREAMINFO, or None.

    STREAMINFO is the mandatory first metadata block: "fLaC", a 4-byte block header (type 0), then
    16+16+24+24 bits of block/frame sizes, 20 bits rate, 3 bits channels - 1, 5 bits bits - 1 and
    36 bits of total frames (0 = unknown).
    """
    if len(data) < 42 or data[:4] != b"fLaC" or data[4] & 0x7F != 0:
        return None
    packed = int.from_bytes(data[18:26], "big")
    rate, channels, bits, frames = packed >> 44, (packed >> 41 & 0x7) + 1, (packed >> 36 & 0x1F) + 1, packed & (2**36 - 1)
    return (rate, channels, bits, frames) if rate > 0 and frames > 0 else None


def _decode_flac16(data: bytes, max_input_s: float | None) -> tuple[np.ndarray, int, int, float] | None:
    """``decode_audio`` of a 16-bit FLAC with dr_flac (miniaudio), or None to leave it to soundfile.

    libsndfile opens every FLAC with a fresh libFLAC decoder that probes the CPU with ``cpuid``, an
    instruction that traps to the hypervisor on a VM: 85 of its ~160 us per one-second clip. FLAC is
    lossless, so both decoders give the same int16 samples, and libsndfile's float samples are those
    divided by 32768 (``test_flac_fast_path_equals_soundfile``). Anything unusual (other bit depths,
    an unknown length, a decode that stops short or fails) goes to soundfile, whose errors are the
    ones recorded.
    """
    info = _flac_stream_info(data)
    if info is None or info[2] != 16:
        return None
    rate, channels, _, frames = info
    if max_input_s is not None and frames / rate > max_input_s:
        raise AudioDropped("audio_too_long")
    import miniaudio  # its library loads in ~60 ms, so only once a FLAC arrives

    try:
        decoded = miniaudio.flac_read_s16(data)
    except miniaudio.MiniaudioError:  # soundfile decides, and words the error
        return None
    if (decoded.sample_rate, decoded.nchannels, len(decoded.samples)) != (rate, channels, frames * channels):
        return None
    wave = np.frombuffer(decoded.samples, dtype=np.int16).reshape(frames, channels)
    return np.multiply(wave, np.float32(1 / 0x8000), dtype=np.float32), rate, channels, frames / rate


def decode_audio(data: bytes, max_input_s: float | None = None) -> tuple[np.ndarray, int, int, float]:
    """Decode WAV/FLAC/OGG/MP3 with soundfile to float32 [n, channels]; reject NaN/inf samples.

    Returns ``(wave, sample_rate, channels, duration_s)``. The header is checked before any sample
    is read, so an overlong input (``max_input_s``) costs nothing to refuse. 16-bit FLAC takes a
    faster decoder with the same output (``_decode_flac16``).
    """
    fast = _decode_flac16(data, max_input_s)
    if fast is not None:
        return fast
    try:
        with sf.SoundFile(io.BytesIO(data)) as audio_file:
            rate, channels, frames = audio_file.samplerate, audio_file.channels, audio_file.frames
            if rate <= 0 or channels <= 0:
                raise AudioDropped("audio_undecodable: bad header")
            duration_s = frames / rate
            if max_input_s is not None and duration_s > max_input_s:
                raise AudioDropped("audio_too_long")
            wave = audio_file.read(dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as err:
        # The bundled libsndfile (>= 1.1) also reads MP3; anything it cannot open is undecodable.
        raise AudioDropped(f"audio_undecodable: {describe_error(err)}") from None
    if wave.size == 0:
        raise AudioDropped("audio_empty")
    if not np.isfinite(wave).all():
        raise AudioDropped("audio_non_finite")
    return wave, int(rate), int(channels), duration_s


def to_mono(wave: np.ndarray) -> np.ndarray:
    """Average the channels ([n, c] -> [n]); mono input is returned unchanged."""
    if wave.ndim == 1:
        return wave
    return wave[:, 0].copy() if wave.shape[1] == 1 else wave.mean(axis=1, dtype=np.float32)


def resample(wave: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """High-quality resampling (soxr HQ, the resampler librosa's ``soxr_hq`` uses)."""
    if rate == target_rate:
        return wave
    import soxr

    return soxr.resample(wave, rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def clipped_ratio(wave: np.ndarray, level: float = 0.999) -> float:
    """Share of samples at (or beyond) full scale."""
    return float(np.count_nonzero(np.abs(wave) >= level)) / max(1, wave.size)


def _padded(wave: np.ndarray, before: int, after: int) -> np.ndarray:
    """``wave`` with zeros around it (``np.pad(mode="constant")`` without its per-call overhead)."""
    out = np.zeros(wave.size + before + after, dtype=wave.dtype)
    out[before : before + wave.size] = wave
    return out


def _frames(signal: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """Read-only [frames, frame_length] view of a 1-D signal: ``sliding_window_view(...)[::hop]`` for less overhead."""
    count = 1 + (signal.size - frame_length) // hop_length
    step = signal.strides[0]
    return np.lib.stride_tricks.as_strided(signal, (count, frame_length), (hop_length * step, step), writeable=False)


def trim_silence(wave: np.ndarray, top_db: float, frame_length: int = 512, hop_length: int = 128) -> np.ndarray:
    """Cut leading/trailing frames quieter than ``peak - top_db``: ``librosa.effects.trim`` on a mono wave.

    The same centered frame RMS, dB conversion and threshold, in the same float32 operations (so the
    same cut points), without librosa's per-call validation and framing, which cost more than the
    arithmetic on short clips. ``test_trim_cuts_where_librosa_cuts`` holds it to librosa's cut points.
    """
    half = frame_length // 2
    squares = _padded(np.square(wave, dtype=np.float32), half, half)
    frames = _frames(squares, frame_length, hop_length)
    magnitude = np.sqrt(frames.mean(axis=-1, dtype=np.float32))
    amin = 1e-5**2  # librosa.amplitude_to_db's amin, squared as it does
    power = np.square(magnitude)
    db = 10.0 * np.log10(np.maximum(amin, power))
    db -= 10.0 * np.log10(np.maximum(amin, magnitude.max() ** 2))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return wave[:0]
    return wave[int(loud[0]) * hop_length : min(wave.size, (int(loud[-1]) + 1) * hop_length)]


def normalize_peak(wave: np.ndarray, target_peak: float) -> np.ndarray:
    """Scale so the absolute peak equals ``target_peak`` (silence stays silence)."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    return wave if peak <= 0 else (wave * (target_peak / peak)).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _k_weighting(rate: int) -> tuple[tuple[np.ndarray, np.ndarray, float], ...]:
    """(b, a, gain) of pyloudnorm's two K-weighting stages at ``rate``, designed once.

    pyloudnorm's filter objects redesign their coefficients on every access, i.e. for every clip.
    """
    from pyloudnorm.iirfilter import IIRfilter

    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"), IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))
    return tuple((stage.b, stage.a, stage.passband_gain) for stage in stages)


def integrated_loudness(wave: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS, BS.1770-4) of a mono wave: ``pyloudnorm.Meter(rate).integrated_loudness``.

    The same filters, 400 ms blocks with 75 % overlap and two gates in the same float64 operations,
    with the filter design cached and the gating vectorised (``test_loudness_matches_pyloudnorm``).
    The wave must be longer than one block.
    """
    import scipy.signal

    filtered = wave.astype(np.float64)
    for b, a, gain in _k_weighting(rate):
        filtered = gain * scipy.signal.lfilter(b, a, filtered)
    block_s, step = 0.4, 0.25
    n_blocks = int(np.round((filtered.size / rate - block_s) / (block_s * step))) + 1
    starts = np.arange(n_blocks) * step
    lower = (block_s * starts * rate).astype(np.int64)  # truncated like pyloudnorm's int(), bound by bound
    upper = (block_s * (starts + 1) * rate).astype(np.int64)
    squares = np.square(filtered)
    bounds = zip(lower.tolist(), upper.tolist(), strict=True)
    energy = np.fromiter((squares[lo:up].sum() for lo, up in bounds), np.float64, n_blocks) * (1.0 / (block_s * rate))
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10.0 * np.log10(energy)
        above_absolute = block_lufs >= -70.0
        if not above_absolute.any():
            return float("-inf")
        relative_gate = -0.691 + 10.0 * np.log10(np.mean(energy[above_absolute])) - 10.0
        gated = (block_lufs > relative_gate) & (block_lufs > -70.0)
        return float(-0.691 + 10.0 * np.log10(np.mean(energy[gated]) if gated.any() else 0.0))


def normalize_lufs(wave: np.ndarray, rate: int, target_lufs: float) -> tuple[np.ndarray, float]:
    """Loudness-normalise to ``target_lufs`` (BS.1770, as pyloudnorm); returns (wave, measured LUFS).

    Clips shorter than one 400 ms gating block have no integrated loudness: they fall back to
    peak normalisation and report -inf.
    """
    if wave.size < int(0.4 * rate) + 1:
        return normalize_peak(wave, 0.9), float("-inf")
    measured = integrated_loudness(wave, rate)
    if not np.isfinite(measured):
        return wave, float(measured)
    gain = 10.0 ** ((target_lufs - measured) / 20.0)
    # Scaled in float64, then rounded once to float32 (a float32 product moves samples by an ulp).
    return np.clip(wave.astype(np.float64) * gain, -1.0, 1.0).astype(np.float32), float(measured)


def denoise_audio(wave: np.ndarray, rate: int) -> np.ndarray:
    """Spectral gating (noisereduce, stationary)."""
    import noisereduce

    return noisereduce.reduce_noise(y=wave, sr=rate, stationary=True).astype(np.float32)


def pad_or_crop(wave: np.ndarray, length: int) -> np.ndarray:
    """Zero-pad at the end or crop from the start to exactly ``length`` samples."""
    if wave.size >= length:
        return np.ascontiguousarray(wave[:length])
    return _padded(wave, 0, length - wave.size)


@functools.lru_cache(maxsize=8)
def mel_basis(rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """The mel filterbank, built once per setting (librosa rebuilds it on every call otherwise)."""
    import librosa

    return librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _hann(n_fft: int) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", n_fft, fftbins=True).astype(np.float32)


def power_spectrogram(wave: np.ndarray, n_fft: int, hop_length: int, frames: int | None = None) -> np.ndarray:
    """|STFT|^2 [1 + n_fft/2, frames], as ``librosa.stft`` (centered, zero-padded, periodic Hann).

    Framed with a strided view and one batched real FFT: librosa's per-call checks and padding
    cost more than the transform itself on one-second clips. ``frames`` limits the transform to
    the first ``frames`` frames (the ones that can hold signal; see ``log_mel``).
    """
    import scipy.fft

    padded = _padded(wave, n_fft // 2, n_fft // 2)
    windows = _frames(padded, n_fft, hop_length)[:frames]
    spectrum = scipy.fft.rfft(windows * _hann(n_fft), axis=-1)
    return (spectrum.real**2 + spectrum.imag**2).T


# The dB of a zero power in float32 arithmetic (10 * log10(float32(1e-10)) = -100.00001, not -100).
_ZERO_POWER_DB = (10.0 * np.log10(np.maximum(1e-10, np.zeros(1, dtype=np.float32))))[0]


def frame_count(length: int, n_fft: int, hop_length: int) -> int:
    """Frames of a centered STFT of ``length`` samples (librosa's count)."""
    return 1 + (length + 2 * (n_fft // 2) - n_fft) // hop_length


def log_mel(wave: np.ndarray, rate: int, n_fft: int, hop_length: int, n_mels: int,
            signal_length: int | None = None) -> np.ndarray:
    """Log-mel spectrogram in dB (float32 [n_mels, frames]) of the already-resampled waveform.

    Same values as ``librosa.feature.melspectrogram`` + ``power_to_db(ref=1, top_db=80)``; the dB
    step is ``power_to_db``'s arithmetic inlined (with ref=1 its reference term is 0).

    ``signal_length``: samples after it are known to be zero padding (``pad_or_crop``). A frame
    that starts past the signal sees only zeros: its power is exactly 0, i.e. -100 dB before the
    top_db floor, which is what it is given without transforming it. Short clips padded to a fixed
    length then cost only their own frames, with the same values (to the last float bit at most:
    ``test_log_mel_skips_padding_without_changing_values``).
    """
    total = frame_count(wave.size, n_fft, hop_length)
    active = total
    if signal_length is not None and signal_length < wave.size:
        # Frame t covers wave[t * hop - n_fft/2 : t * hop + n_fft/2]; it holds signal iff t * hop - n_fft/2 < signal_length.
        active = min(total, -(-(signal_length + n_fft // 2) // hop_length))
    mel = mel_basis(rate, n_fft, n_mels) @ power_spectrogram(wave, n_fft, hop_length, active)
    db = np.full((n_mels, total), _ZERO_POWER_DB, dtype=np.float32)
    db[:, :active] = 10.0 * np.log10(np.maximum(1e-10, mel))
    return np.maximum(db, db.max() - 80.0)


def mfcc_from_log_mel(log_mel_db: np.ndarray, n_mfcc: int) -> np.ndarray:
    """MFCCs (float32 [n_mfcc, frames]) from a dB log-mel, so the mel is computed once."""
    import librosa

    return librosa.feature.mfcc(S=log_mel_db, n_mfcc=n_mfcc).astype(np.float32)


def pcm16(wave: np.ndarray) -> np.ndarray:
    """int16 samples of a float wave, as libsndfile converts floats to 16 bits: x * 32768, clipped, rounded half to even.

    ``test_pcm16_is_libsndfiles_float_conversion`` holds it to the bundled libsndfile.
    """
    scaled = np.multiply(wave, np.float32(0x8000), dtype=np.float32)
    return np.rint(np.clip(scaled, -0x8000, 0x7FFF, out=scaled), out=scaled).astype(np.int16)


def encode_flac(wave: np.ndarray, rate: int) -> bytes:
    """16-bit FLAC bytes of a mono waveform (no tags: same samples -> same bytes).

    Compression level 0: encoding at the default level costs about as much as the log-mel,
    for a few percent smaller files. The samples are handed over as int16 (``pcm16``, the
    conversion libsndfile would do itself, but vectorised): same bytes, less time in the encoder.
    """
    buffer = io.BytesIO()
    sf.write(buffer, pcm16(wave), rate, format="FLAC", subtype="PCM_16", compression_level=0.0)
    return buffer.getvalue()


def encode_wav(wave: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV bytes of a mono waveform: the 44-byte canonical header libsndfile writes, then ``pcm16``.

    Byte-identical to ``soundfile.write(..., format="WAV", subtype="PCM_16")``
    (``test_wav_bytes_equal_libsndfile``) in a few microseconds: the standardized clip is then
    written at memory speed, where a FLAC encode costs as much as decoding, resampling and the log-mel together.
    """
    samples = pcm16(wave).astype("<i2", copy=False).tobytes()
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(samples), b"WAVE", b"fmt ", 16, 1, 1, rate,
                         rate * 2, 2, 16, b"data", len(samples))
    return header + samples


ENCODERS = {"wav": encode_wav, "flac": encode_flac}


@functools.lru_cache(maxsize=4096)  # token arrays come in many lengths
def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """What ``np.save`` writes before the data of a C-ordered array of this dtype and shape: format 1.0,
    as np.save chooses whenever the header fits (always, for the few dimensions a sample field has)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def npy_bytes(array: np.ndarray) -> bytes:
    """``.npy`` bytes of ``array`` (what ``np.save`` writes; the header is built once per dtype and shape)."""
    if not array.flags.c_contiguous:  # np.save keeps Fortran order (and says so in the header)
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        return buffer.getvalue()
    return _npy_header(np.lib.format.dtype_to_descr(array.dtype), array.shape) + array.tobytes()
