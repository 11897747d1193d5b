"""Directory source: grouping by stem, labels, and one row for every file, odd ones included."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from tests.mmdata.net.site import jpeg_bytes, png_bytes, wav_bytes


def ingest_dir(root, out, **overrides):
    run_ingest(IngestConfig(dirs=[str(root)], out=str(out), progress=False, **overrides))
    return read_raw_manifest(out)


def states(frame):
    return {(r.key, r.modality, r.status, r.reason) for r in frame.itertuples()}


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "corpus"
    (root / "cat" / "deeper").mkdir(parents=True)
    (root / "dog").mkdir()
    (root / "cat" / "0001.png").write_bytes(png_bytes(1))
    (root / "cat" / "deeper" / "0001.wav").write_bytes(wav_bytes())  # same stem, other folder: same sample
    (root / "cat" / "0001.txt").write_text("a small cat")
    (root / "dog" / "0002.png").write_bytes(jpeg_bytes())  # JPEG bytes behind a .png name
    (root / "dog" / "0003.png").write_bytes(wav_bytes())  # audio bytes behind a .png name
    (root / "dog" / "0004.txt").write_bytes(b"")
    (root / "dog" / "0001.png").write_bytes(png_bytes(2))  # a second image for key 0001
    (root / "dog" / "notes.zip").write_bytes(b"PK\x03\x04")
    (root / "dog" / ".DS_Store").write_bytes(b"\x00\x00")
    (root / "dog" / "ünï cödé.v2.txt").write_text("unicode name")
    (root / "dog" / ".tmp-leftover.png").write_bytes(b"half")  # a killed writer's temporary: not an input
    return root


def test_every_file_has_one_row_with_its_state(folder, tmp_path):
    frame = ingest_dir(folder, tmp_path / "raw")
    assert states(frame) == {
        ("0001", "image", "ok", ""), ("0001", "audio", "ok", ""), ("0001", "text", "ok", ""),
        ("0001", "image", "dropped", "duplicate_key: 0001 already has image from cat/0001.png"),
        ("0002", "image", "ok", ""),
        ("0003", "image", "dropped", "unexpected_type: audio/wav (expected image)"),
        ("0004", "text", "dropped", "empty_file"),
        ("notes", "unknown", "dropped", "unsupported_extension: .zip"),
        ("DS_Store", "unknown", "dropped", "hidden_file"),
        ("ünï_cödé_v2", "text", "ok", ""),
    }
    assert len(frame) == 10
    assert frame.loc[frame["key"] == "0002", "mime"].item() == "image/jpeg"
    labels = dict(zip(frame["key"], frame["label"], strict=False))
    assert labels["0001"] == "cat" and labels["0002"] == "dog"
    order = list(zip(frame["key"], frame["modality"], frame["uri"], strict=True))
    assert order == sorted(order)  # deterministic row order


def test_labels_file_wins_and_sets_group(folder, tmp_path):
    (folder / "labels.csv").write_text("key,label,group\n0001,feline,alice\n0002,canine,bob\n")
    frame = ingest_dir(folder, tmp_path / "raw")
    ok = frame[frame["status"] == "ok"].set_index(["key", "modality"])
    assert ok.loc[("0001", "audio"), ["label", "group"]].tolist() == ["feline", "alice"]
    assert ok.loc[("0002", "image"), ["label", "group"]].tolist() == ["canine", "bob"]
    assert "labels.csv" not in " ".join(frame["uri"])


def test_label_pattern_from_file_names(tmp_path):
    root = tmp_path / "flat"
    root.mkdir()
    for name in ("3_theo_1.png", "7_george_2.png"):
        cv2.imwrite(str(root / name), np.zeros((4, 4), np.uint8))
    frame = ingest_dir(root, tmp_path / "raw", label_pattern=r"^(?P<label>\d)_(?P<group>[a-z]+)_")
    assert sorted(zip(frame["key"], frame["label"], frame["group"], strict=True)) == [
        ("3_theo_1", "3", "theo"), ("7_george_2", "7", "george")]


def test_file_over_the_byte_cap_is_dropped_with_sizes(tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    (root / "long.txt").write_text("x" * 5000)
    frame = ingest_dir(root, tmp_path / "raw", max_bytes=1000)
    assert frame[["status", "reason"]].values.tolist() == [["dropped", "too_large: 5000 > cap 1000"]]


def test_missing_directory_is_one_failed_row(tmp_path):
    frame = ingest_dir(tmp_path / "nope", tmp_path / "raw")
    assert frame[["status", "reason"]].values.tolist() == [["failed", f"not_a_directory: {tmp_path / 'nope'}"]]


def test_special_files_and_undecodable_names_do_not_stop_the_run(tmp_path):
    import os

    root = tmp_path / "odd"
    root.mkdir()
    os.mkfifo(root / "pipe.txt")  # reading it would block forever
    (root / "dangling.png").symlink_to(root / "nowhere.png")
    name = os.fsencode(root) + b"/caf\xe9.txt"  # latin-1 byte in a file name: not UTF-8
    with open(name, "wb") as fh:
        fh.write(b"bonjour")
    frame = ingest_dir(root, tmp_path / "raw")
    by_key = {r.key: (r.status, r.reason) for r in frame.itertuples()}
    assert by_key["pipe"] == ("dropped", "not_a_regular_file")
    assert by_key["dangling"] == ("dropped", "not_a_regular_file")
    odd = frame[frame["status"] == "ok"]
    assert len(odd) == 1 and odd["uri"].item().endswith("caf\\udce9.txt")


def test_empty_folder_gives_an_empty_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    frame = ingest_dir(tmp_path / "empty", tmp_path / "raw")
    assert len(frame) == 0 and {"key", "status", "reason"} <= set(frame.columns)


def test_output_inside_the_source_folder_is_not_ingested(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    (root / "a.txt").write_text("words")
    ingest_dir(root, root / "raw")
    again = ingest_dir(root, root / "raw")  # the store, journal and manifest now live under root
    assert again["uri"].tolist() == [(root / "a.txt").as_posix()]
