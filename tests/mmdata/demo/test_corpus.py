"""Demo corpus: deterministic bytes, real decodable formats, labels.csv, broken items, and a task
that needs all three modalities (checked with plain scikit-learn models on simple features)."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest
import soundfile as sf
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_predict, cross_val_score
from threadpoolctl import threadpool_limits

from mmdata.demo import write_demo_corpus
from mmdata.demo.generators import MOOD_WORDS, all_labels

SMALL = dict(per_class=16, sessions=16)


def files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def labels_of(root) -> list[dict]:
    with open(root / "labels.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "corpus"
    return out, write_demo_corpus(out, seed=0, **SMALL)


def good_samples(root) -> list[dict]:
    """Per good sample: label, group and its three decoded files."""
    samples = []
    for row in labels_of(root):
        if row["group"] == "bad":
            continue
        folder = root / row["group"]
        image = next(p for p in folder.glob(f"{row['key']}.*") if p.suffix in (".png", ".jpg"))
        audio = next(p for p in folder.glob(f"{row['key']}.*") if p.suffix in (".wav", ".flac"))
        samples.append({**row, "image": image, "audio": audio, "text": folder / f"{row['key']}.txt"})
    return samples


def test_same_seed_same_bytes_other_seed_other_bytes(corpus, tmp_path):
    out, _ = corpus
    first = files(out)
    write_demo_corpus(tmp_path / "again", seed=0, **SMALL)
    assert files(tmp_path / "again") == first
    write_demo_corpus(tmp_path / "other", seed=1, **SMALL)
    other = files(tmp_path / "other")
    assert other.keys() == first.keys()  # same layout, other content
    assert sum(other[k] != first[k] for k in first if k.startswith("session-")) == 3 * 16 * 8


def test_rerun_keeps_unchanged_files_and_prunes_what_it_no_longer_writes(tmp_path):
    out = tmp_path / "demo"
    write_demo_corpus(out, **SMALL)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    write_demo_corpus(out, **SMALL)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == mtimes  # ingest re-reads nothing
    summary = write_demo_corpus(out, per_class=4, sessions=4)
    assert summary["removed_stale"] > 0
    assert len([r for r in labels_of(out) if r["group"] != "bad"]) == 4 * 8
    assert len(list(out.glob("session-*/*.txt"))) == 4 * 8


def test_refuses_a_folder_it_did_not_write(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_demo_corpus(tmp_path / "mine")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "recipe.json").write_text(json.dumps({"recipe": "avmnist"}))
    with pytest.raises(FileExistsError):
        write_demo_corpus(tmp_path / "other")
    assert (tmp_path / "mine" / "thesis.txt").read_text() == "keep me"


def test_labels_csv_names_every_sample_with_balanced_classes_and_session_groups(corpus):
    out, summary = corpus
    rows = labels_of(out)
    assert list(rows[0]) == ["key", "label", "group"]
    good = [r for r in rows if r["group"] != "bad"]
    assert len(good) == summary["samples"] == 16 * 8
    assert {r["label"]: sum(x["label"] == r["label"] for x in good) for r in good} == dict.fromkeys(all_labels(), 16)
    for row in good:
        assert len(list((out / row["group"]).glob(f"{row['key']}.*"))) == 3
    assert json.loads((out / "recipe.json").read_text())["recipe"] == "demo"


def test_files_decode_with_the_real_libraries(corpus):
    out, _ = corpus
    samples = good_samples(out)
    suffixes = {s["image"].suffix for s in samples} | {s["audio"].suffix for s in samples}
    assert suffixes == {".png", ".jpg", ".wav", ".flac"}
    for sample in samples:
        image = cv2.imread(str(sample["image"]), cv2.IMREAD_UNCHANGED)
        assert image is not None and image.shape == (32, 32) and image.dtype == np.uint8
        audio, rate = sf.read(sample["audio"])
        assert rate in (16_000, 22_050) and audio.ndim == 1 and len(audio) == rate  # one second, mono
        assert 0.2 < np.abs(audio).max() < 1.0
        mood = sample["label"].split("-")[2]
        words = sample["text"].read_text(encoding="utf-8").lower().replace(".", " ").split()
        assert any(w in words for w in MOOD_WORDS[mood])
        assert not any(w in words for m, ws in MOOD_WORDS.items() if m != mood for w in ws)


def test_broken_items_are_there_to_be_dropped(corpus):
    out, summary = corpus
    bad = out / "bad"
    assert (bad / "bad-empty-image.png").stat().st_size == 0
    assert (bad / "bad-empty-text.txt").stat().st_size == 0
    assert not (bad / "bad-blank-text.txt").read_text().strip()
    with pytest.raises(sf.LibsndfileError):
        sf.read(bad / "bad-garbage-audio.wav")
    with pytest.raises(sf.LibsndfileError):
        sf.read(bad / "bad-truncated-audio.flac")
    copies = list(bad.glob("*-copy.*"))
    original = copies[0].name.split("-copy")[0]
    assert len(copies) == 3 and all((out / "session-00" / p.name.replace("-copy", "")).read_bytes() == p.read_bytes()
                                    for p in copies), original
    assert (out / "unlabelled-0001.txt").is_file()
    assert "unlabelled-0001" not in {r["key"] for r in labels_of(out)}
    assert len(summary["bad_items"]) == 8


def _audio_features(path) -> list[float]:
    """Slope (octaves per second) and mean of the strongest tonal frequency over the loud frames."""
    audio, rate = sf.read(path)
    frame, hop = 512, 256
    frames = np.lib.stride_tricks.sliding_window_view(audio, frame)[::hop] * np.hanning(frame)
    spectrum = np.abs(np.fft.rfft(frames, axis=1))
    peak_bin = spectrum[:, 2:].argmax(axis=1) + 2
    strength = spectrum.max(axis=1) / (np.median(spectrum, axis=1) + 1e-9)
    tonal = strength > np.quantile(strength, 0.6)
    times = np.arange(len(frames))[tonal] * hop / rate
    octaves = np.log2(peak_bin[tonal] * rate / frame)
    slope, intercept = np.polyfit(times, octaves, 1)
    return [slope, float(octaves.mean())]


@threadpool_limits.wrap(limits=1)  # 128 samples: BLAS threads only wait on each other (slow on a busy machine)
def test_no_single_modality_solves_the_task_but_all_three_do(corpus):
    out, _ = corpus
    samples = good_samples(out)
    y = np.array([s["label"] for s in samples])
    factors = np.array([s["label"].split("-") for s in samples])
    image = np.array([cv2.resize(cv2.imread(str(s["image"]), cv2.IMREAD_GRAYSCALE), (8, 8), interpolation=cv2.INTER_AREA)
                      .ravel() / 255.0 for s in samples])
    audio = np.array([_audio_features(s["audio"]) for s in samples])
    text = CountVectorizer().fit_transform([s["text"].read_text() for s in samples]).toarray()
    views = {"image": image, "audio": audio, "text": text}

    def standardized(x):
        return (x - x.mean(0)) / (x.std(0) + 1e-9)

    def cv_accuracy(x, target):
        return cross_val_score(LogisticRegression(max_iter=1000), standardized(x), target, cv=4).mean()

    evidence = {}
    for column, (name, x) in enumerate(views.items()):
        assert cv_accuracy(x, factors[:, column]) > 0.9, f"{name} does not carry its factor"
        # Knowing one of three binary factors names at most a quarter of the 8 classes.
        assert cv_accuracy(x, y) < 0.4, f"{name} alone comes too close to solving the task"
        # Out-of-fold probability of this modality's factor: the evidence it brings to a fusion.
        evidence[name] = cross_val_predict(LogisticRegression(max_iter=1000), standardized(x),
                                           factors[:, column], cv=4, method="predict_proba")[:, 1]
    fused = np.column_stack(list(evidence.values()))
    assert cv_accuracy(fused, y) > 0.8  # measured 0.88 (seed 0); alone 0.21-0.30, pairs 0.44-0.52
    for left_out in range(3):  # any two modalities still miss a factor: at most half the classes
        assert cv_accuracy(np.delete(fused, left_out, axis=1), y) < 0.6
