"""The embedded demo corpus: a directory source written offline from what installed packages carry.

Layout (the DESIGN.md directory source)::

    <out>/session-07/s07-0123.png|.jpg   the digit (image factor)
    <out>/session-07/s07-0123.wav|.flac  the sweep (audio factor)
    <out>/session-07/s07-0123.txt        the mood (text factor)
    <out>/bad/...                         deliberately broken items and an exact copy (dropped, with reasons)
    <out>/unlabelled-0001.*               a sample labels.csv does not name (dropped: missing label)
    <out>/labels.csv                      key,label,group (group = recording session)
    <out>/recipe.json                     origin, license and settings

The class is ``<digit>-<sweep>-<mood>`` (2 x 2 x 2 = 8 classes), so each modality alone can tell
only one factor apart (a quarter of the classes at best) and only the fused model names the class.
Each sample draws from its own generator seeded by ``(seed, index)``: the bytes are fixed by the
seed. A session shares one pitch range and one file format, so a group-aware split keeps a
session's voice out of the other splits.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from mmdata.atomic import TMP_MARKER
from mmdata.demo import generators as gen
from mmdata.recipes.common import RECIPE_MARKER, check_output_dir, write_labels
from mmdata.sources.directory import SIDECAR_FILES

# Demo files this module writes; pruning on re-run touches nothing else.
_OWN_SUFFIXES = (".png", ".jpg", ".wav", ".flac", ".txt", ".docx")


def _write_if_changed(path: Path, data: bytes, written: set[Path]) -> None:
    # Unchanged files keep their mtime, so a re-run of the demo ingests incrementally.
    # Renamed into place but not fsynced: a demo file lost to a crash is simply rewritten next run.
    if not (path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{TMP_MARKER}{path.name}")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    written.add(path)


def _sample_files(index: int, label: tuple[int, str, str], session: int, seed: int, digit_index: int) -> dict[str, bytes]:
    """``{extension: bytes}`` of one good sample."""
    digit, sweep, mood = label
    rng = np.random.default_rng([seed, index])
    session_rng = np.random.default_rng([seed, 10_000 + session])
    base_hz = float(session_rng.uniform(200.0, 500.0))
    # Formats vary by session so both encoders (and resampling from 22.05 kHz) are exercised.
    audio_ext, sample_rate = ("flac", 16_000) if session % 2 == 0 else ("wav", 22_050)
    image_ext = "png" if session % 3 else "jpg"
    image = gen.digit_image(digit, digit_index, rng)
    audio = gen.sweep_audio(sweep, base_hz * float(rng.uniform(0.9, 1.1)), rng, sample_rate)
    return {
        image_ext: gen.encode_image(image, image_ext),
        audio_ext: gen.encode_audio(audio, sample_rate, audio_ext),
        "txt": gen.mood_text(mood, rng).encode("utf-8"),
    }


def _bad_items(good: dict[str, dict[str, bytes]], labels: dict[str, str], seed: int) -> dict[str, tuple[dict, str, str]]:
    """``key -> (files, label, what is wrong)`` for the deliberately broken demo items."""
    rng = np.random.default_rng([seed, 99_999])
    first_key = min(good)
    image_ext = next(e for e in good[first_key] if e in ("png", "jpg"))
    audio_ext = next(e for e in good[first_key] if e in ("wav", "flac"))
    base = good[first_key]
    text = gen.mood_text("calm", rng).encode()
    wav = gen.encode_audio(gen.sweep_audio("rise", 400.0, rng, 16_000), 16_000, "wav")
    png = gen.encode_image(gen.digit_image(gen.DIGITS[0], 7, rng), "png")
    flac = gen.encode_audio(gen.sweep_audio("fall", 400.0, rng, 16_000), 16_000, "flac")
    rise, fall = gen.label_of(gen.DIGITS[0], "rise", "calm"), gen.label_of(gen.DIGITS[0], "fall", "calm")
    return {
        "bad-empty-image": ({"png": b"", "wav": wav, "txt": text}, rise, "zero-byte PNG"),
        "bad-garbage-audio": ({"png": png, "wav": rng.bytes(3000), "txt": text}, rise, "WAV of random bytes"),
        "bad-truncated-audio": ({"png": png, "flac": flac[:300], "txt": text}, fall, "FLAC cut after 300 bytes"),
        "bad-empty-text": ({"png": png, "wav": wav, "txt": b""}, rise, "zero-byte text"),
        "bad-blank-text": ({"png": png, "wav": wav, "txt": b"  \n\t\n"}, rise, "whitespace-only text"),
        "bad-unsupported": ({"docx": b"PK\x03\x04 not really a document"}, rise, "unsupported file type"),
        # Sorts after the original, so the build keeps the original and drops this copy.
        f"{first_key}-copy": ({image_ext: base[image_ext], audio_ext: base[audio_ext], "txt": base["txt"]},
                          labels[first_key], f"exact copy of {first_key}"),
    }


def _check_is_demo_folder(out: Path) -> None:
    # Re-runs prune files, so only a folder this module wrote (or an empty one) is accepted.
    check_output_dir(out)
    marker = out / RECIPE_MARKER
    if marker.is_file() and json.loads(marker.read_text() or "{}").get("recipe") != "demo":
        raise FileExistsError(f"{out} holds another recipe's corpus ({marker}): give a new or empty folder")


def _prune(out: Path, written: set[Path]) -> int:
    removed = 0
    for path in out.rglob("*"):
        if path.is_file() and path.suffix in _OWN_SUFFIXES and path not in written and path.name not in SIDECAR_FILES:
            path.unlink()
            removed += 1
    return removed


def write_demo_corpus(
    out: str | os.PathLike, seed: int = 0, per_class: int = 40, sessions: int = 40, bad_items: bool = True
) -> dict[str, Any]:
    """Write the demo corpus into ``out`` (new, empty or an earlier demo folder); return a summary.

    ``per_class`` samples of each of the 8 classes, spread over ``sessions`` groups; with
    ``bad_items`` a few broken items are added so the manifests show dropped rows with reasons.
    Re-running with the same arguments leaves byte-identical files (and their mtimes) in place.
    """
    if per_class < 1 or sessions < 1:
        raise ValueError("per_class and sessions must be >= 1")
    out = Path(out)
    _check_is_demo_folder(out)
    factors = [(d, s, m) for d in gen.DIGITS for s in gen.SWEEPS for m in gen.MOODS]
    order = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(factors)), per_class))
    written: set[Path] = set()
    rows: list[tuple[str, str, str]] = []
    good: dict[str, dict[str, bytes]] = {}
    labels: dict[str, str] = {}
    used_per_digit = dict.fromkeys(gen.DIGITS, 0)
    for index, factor_index in enumerate(order):
        factor = factors[int(factor_index)]
        session = index % sessions
        key = f"s{session:02d}-{index:04d}"
        files = _sample_files(index, factor, session, seed, used_per_digit[factor[0]])
        used_per_digit[factor[0]] += 1  # distinct bundled images while the pool lasts
        for ext, data in files.items():
            _write_if_changed(out / f"session-{session:02d}" / f"{key}.{ext}", data, written)
        good[key], labels[key] = files, gen.label_of(*factor)
        rows.append((key, labels[key], f"session-{session:02d}"))

    broken: dict[str, str] = {}
    if bad_items:
        for key, (files, label, what) in _bad_items(good, labels, seed).items():
            for ext, data in files.items():
                _write_if_changed(out / "bad" / f"{key}.{ext}", data, written)
            rows.append((key, label, "bad"))
            broken[key] = what
        # Not in labels.csv and at the root (no parent folder to name it): the build drops it unlabelled.
        for ext, data in _sample_files(len(order), factors[0], 0, seed, 0).items():
            _write_if_changed(out / f"unlabelled-0001.{ext}", data, written)
        broken["unlabelled-0001"] = "not named in labels.csv"

    removed = _prune(out, written)
    write_labels(out, rows, {
        "recipe": "demo", "seed": seed, "per_class": per_class, "sessions": sessions, "bad_items": broken,
        "classes": gen.all_labels(),
        "factors": {"image": list(gen.DIGITS), "audio": list(gen.SWEEPS), "text": list(gen.MOODS)},
        "sources": {"image": "scikit-learn load_digits (UCI Optical Recognition of Handwritten Digits, CC BY 4.0)",
                    "audio": "generated sweeps and noise", "text": "generated sentences"},
    })
    return {"out": str(out), "samples": len(order), "files": len(written), "classes": gen.all_labels(),
            "bad_items": broken, "removed_stale": removed, "marker": str(out / RECIPE_MARKER)}


def default_corpus_dir(ingest_dirs: list[str]) -> str:
    """Where the demo corpus goes when no folder is given: the first ingest source folder, else data/demo."""
    return ingest_dirs[0] if ingest_dirs else "data/demo"
