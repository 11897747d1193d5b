"""Per-modality content of the demo corpus: each modality carries one factor of the label.

- image: a handwritten digit from scikit-learn's bundled ``load_digits`` (8x8, upsampled),
  shifted, rotated and overlaid with noise; the factor is which digit it shows.
- audio: a frequency sweep that rises or falls, at a session-specific pitch, among noise
  bursts and background hiss; the factor is the sweep's direction.
- text: a few sentences of filler with one mood word hidden in them; the factor is the mood.

All randomness comes from the generator passed in, so a seed fixes every byte.
"""

from __future__ import annotations

import io
from functools import lru_cache

import cv2
import numpy as np
import soundfile as sf

# The label is "<digit>-<sweep>-<mood>": one factor per modality, so any one modality alone can
# name at most a quarter of the classes and only all three together name the class.
DIGITS: tuple[int, ...] = (0, 1)
SWEEPS: tuple[str, ...] = ("rise", "fall")
MOODS: tuple[str, ...] = ("calm", "storm")

MOOD_WORDS: dict[str, tuple[str, ...]] = {
    "calm": ("calm", "quiet", "gentle", "still", "peaceful", "serene"),
    "storm": ("stormy", "windy", "wild", "rough", "turbulent", "violent"),
}
# Neutral words the filler is made of; they carry no information about the label.
_SUBJECTS = ("the harbour", "the valley", "our street", "the old mill", "the station", "the market", "the garden",
             "the north road", "the river bank", "the hill farm")
_TIMES = ("this morning", "at noon", "in the evening", "overnight", "before dawn", "after lunch", "all afternoon")
_FILLER = (
    "A delivery van passed by twice.", "Someone left a bicycle near the gate.", "The bakery opened a little late.",
    "Two boats were being painted.", "A dog barked at the postman.", "The clock on the tower is wrong again.",
    "Children walked to school in pairs.", "A train was counted at seven minutes past.", "The lamps were switched on.",
    "Sacks of flour were unloaded.", "A notice about the fair went up.", "The ferry timetable was changed.",
)

IMAGE_PX = 32  # written size; the build standardizes to params.yaml build.image.size anyway
AUDIO_S = 1.0


def label_of(digit: int, sweep: str, mood: str) -> str:
    """The class name of one factor combination, e.g. ``3-rise-calm``."""
    return f"{digit}-{sweep}-{mood}"


def all_labels() -> list[str]:
    """Every class of the demo task, in a fixed order."""
    return [label_of(d, s, m) for d in DIGITS for s in SWEEPS for m in MOODS]


@lru_cache(maxsize=1)
def _digit_pools() -> dict[int, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download

    digits = load_digits()
    images = (digits.images * (255.0 / 16.0)).astype(np.float32)
    return {d: images[digits.target == d] for d in DIGITS}


def digit_image(digit: int, index: int, rng: np.random.Generator, noise: float = 25.0) -> np.ndarray:
    """Grey uint8 image (IMAGE_PX square) of the ``index``-th bundled ``digit``, jittered and noisy."""
    pool = _digit_pools()[digit]
    small = pool[index % len(pool)]
    image = cv2.resize(small, (IMAGE_PX - 8, IMAGE_PX - 8), interpolation=cv2.INTER_CUBIC)
    image = cv2.copyMakeBorder(image, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=0)
    angle = rng.uniform(-15, 15)
    shift = rng.uniform(-3, 3, size=2)
    matrix = cv2.getRotationMatrix2D((IMAGE_PX / 2, IMAGE_PX / 2), angle, rng.uniform(0.85, 1.1))
    matrix[:, 2] += shift
    image = cv2.warpAffine(image, matrix, (IMAGE_PX, IMAGE_PX), flags=cv2.INTER_LINEAR, borderValue=0)
    image = image * rng.uniform(0.6, 1.0) + rng.normal(0.0, noise, size=image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def encode_image(image: np.ndarray, ext: str) -> bytes:
    """PNG or JPEG bytes (OpenCV's encoders are deterministic for a given build)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 6]
    ok, buf = cv2.imencode(f".{ext}", image, params)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {ext} image")
    return buf.tobytes()


def sweep_audio(sweep: str, base_hz: float, rng: np.random.Generator, sample_rate: int) -> np.ndarray:
    """Float32 mono clip of AUDIO_S seconds: a rising or falling sweep, noise bursts and hiss."""
    n = int(AUDIO_S * sample_rate)
    t = np.arange(n) / sample_rate
    audio = rng.normal(0.0, 0.02, size=n)  # background hiss keeps the clip from being trimmed away
    length_s = rng.uniform(0.45, 0.7)
    start_s = rng.uniform(0.05, AUDIO_S - length_s - 0.05)
    ratio = rng.uniform(3.0, 4.5)
    low, high = base_hz, base_hz * ratio
    f_start, f_end = (low, high) if sweep == "rise" else (high, low)
    local = t[(t >= start_s) & (t < start_s + length_s)] - start_s
    # Exponential sweep: instantaneous frequency f_start * k**(t / length), phase integrated exactly.
    k = f_end / f_start
    phase = 2 * np.pi * f_start * length_s / np.log(k) * (k ** (local / length_s) - 1.0)
    envelope = np.minimum(1.0, np.minimum(local, length_s - local) / 0.03)
    first = int(round(start_s * sample_rate))
    audio[first : first + len(local)] += rng.uniform(0.3, 0.6) * envelope * np.sin(phase)
    for _ in range(int(rng.integers(1, 4))):  # distractor bursts of band noise anywhere in the clip
        width = int(rng.uniform(0.03, 0.12) * sample_rate)
        at = int(rng.integers(0, n - width))
        burst = rng.normal(0.0, rng.uniform(0.05, 0.2), size=width) * np.hanning(width)
        audio[at : at + width] += burst
    return np.clip(audio, -0.95, 0.95).astype(np.float32)


def encode_audio(audio: np.ndarray, sample_rate: int, ext: str) -> bytes:
    """16-bit WAV or FLAC bytes via libsndfile."""
    buf = io.BytesIO()
    sf.write(buf, audio, sample_rate, format=ext.upper(), subtype="PCM_16")
    return buf.getvalue()


def mood_text(mood: str, rng: np.random.Generator) -> str:
    """Two sentences carrying a word of ``mood`` and zero to two of neutral filler, shuffled."""
    subject, when = _SUBJECTS[rng.integers(len(_SUBJECTS))], _TIMES[rng.integers(len(_TIMES))]
    first, second = rng.choice(MOOD_WORDS[mood], size=2, replace=False)
    sentences = [f"{subject.capitalize()} was {first} {when}.", f"Everyone said it felt {second}."]
    picks = rng.choice(len(_FILLER), size=int(rng.integers(0, 3)), replace=False)
    sentences += [_FILLER[i] for i in picks]
    order = rng.permutation(len(sentences))
    return " ".join(sentences[i] for i in order) + "\n"
