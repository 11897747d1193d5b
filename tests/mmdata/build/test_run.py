"""End-to-end build on a tiny corpus made in code: outputs, determinism, resume, lock, reuse."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import webdataset as wds

from mmdata.build.config import BuildConfig
from mmdata.build.lock import BuildLocked, build_lock
from mmdata.build.partition import partition_paths
from mmdata.build.plan import plan_partitions
from mmdata.build.run import process_partition, run_build
from mmdata.build.standardize import Standardizer
from mmdata.manifest import objects_dir
from mmdata.store import RawStore
from mmdata.text.tokens import build_vocab
from tests.mmdata.build.corpus import make_raw_corpus, png_bytes

EXTRA = [
    {"key": "broken_image", "modality": "image", "uri": "file:broken.png", "data": b"\x89PNG\r\n\x1a\nnot really",
     "label": "0"},
    {"key": "unlabelled", "modality": "text", "uri": "file:u.txt", "data": b"some words without a label", "label": ""},
    {"key": "fetch_failed", "modality": "image", "uri": "http://x/y.png", "status": "failed",
     "reason": "HTTPError: 404", "label": "1"},
    # the same bytes as sample 0_000's image alone -> a different sample, image only, not an exact duplicate
    {"key": "zz_image_only", "modality": "image", "uri": "file:zz.png", "data": png_bytes(0), "label": "2"},
]


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return make_raw_corpus(tmp_path_factory.mktemp("corpus") / "raw", per_class=4, speakers=4, extra_rows=[dict(r) for r in EXTRA])


@pytest.fixture(scope="module")
def built(raw, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("build") / "shards"
    stats = run_build(BuildConfig(raw=str(raw), out=str(out), partitions=3, shards={"maxcount": 3}))
    return out, stats


def _shard_bytes(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/shard-*"))}


def test_every_raw_key_ends_in_one_state(built, raw):
    out, stats = built
    manifest = pd.read_parquet(out / "manifest.parquet").set_index("key")
    raw_keys = set(pd.read_parquet(raw / "manifest.parquet")["key"])
    assert set(manifest.index) == raw_keys
    assert manifest.at["broken_image", "status"] == "dropped"
    assert manifest.at["broken_image", "reason"].startswith("image:image_undecodable")
    assert manifest.at["unlabelled", "reason"] == "missing_label"
    assert manifest.at["fetch_failed", "reason"] == "raw_failed: HTTPError: 404"
    assert (manifest.loc[manifest["status"] == "ok", "shard"] != "").all()
    assert stats["samples"] == {"total": len(raw_keys), "ok": 13, "dropped": 3, "failed": 0}
    assert stats["drop_reasons"] == {"image:image_undecodable": 1, "missing_label": 1, "raw_failed": 1}


def test_shards_are_plain_webdataset_with_key_ext_members(built):
    out, _ = built
    urls = sorted(str(p) for p in out.glob("*/shard-*.tar"))
    samples = list(wds.WebDataset(urls, shardshuffle=False))
    assert len(samples) == 13
    full = next(s for s in samples if s["__key__"] == "0_000")
    assert {"png", "wav", "mel.npy", "txt", "tok.npy", "json", "cls"} <= set(full)
    meta = json.loads(full["json"])
    assert meta["label"] == "0" and meta["label_id"] == 0 and meta["group"] == "spk0"
    assert meta["quality"]["audio"]["input_rate"] == 8000
    mel = np.load(io.BytesIO(full["mel.npy"]))
    assert mel.dtype == np.float32 and mel.shape == (40, 101)
    assert np.load(io.BytesIO(full["tok.npy"])).dtype == np.int32
    listing = subprocess.run(["tar", "tf", urls[0]], capture_output=True, text=True, check=True).stdout.split()
    assert all("." in name and "/" not in name for name in listing)
    with tarfile.open(urls[0]) as tar:
        assert {m.mtime for m in tar.getmembers()} == {0}


def test_maxcount_and_sidecar_per_shard(built):
    out, _ = built
    for tar_path in out.glob("*/shard-*.tar"):
        with tarfile.open(tar_path) as tar:
            keys = {m.name.split(".", 1)[0] for m in tar.getmembers()}
        sidecar = pd.read_parquet(tar_path.with_suffix(".parquet"))
        assert len(keys) <= 3
        assert set(sidecar["shard_key"]) == keys


def test_metadata_files(built, tmp_path):
    out, _ = built
    assert json.loads((out / "labels.json").read_text()) == ["0", "1", "2"]
    vocab = json.loads((out / "vocab.json").read_text())
    assert vocab[:2] == ["<pad>", "<unk>"] and len(vocab) > 2
    preprocess = (out / "preprocess.json").read_text()
    assert str(out.parent) not in preprocess and json.loads(preprocess)["audio"]["sample_rate"] == 16000
    assert not (out / ".work").exists()


def test_vocabulary_comes_from_train_split_only(built):
    out, _ = built
    vocab = set(json.loads((out / "vocab.json").read_text()))
    train_text = " ".join(s["txt"].decode() for s in wds.WebDataset(sorted(str(p) for p in (out / "train").glob("*.tar")), shardshuffle=False))
    held_out = wds.WebDataset(sorted(str(p) for p in out.glob("[tv]*/shard-*.tar") if "train" not in str(p)),
                              shardshuffle=False)
    numbers = {s["txt"].decode().split()[-1].rstrip(".") for s in held_out if "txt" in s}
    assert numbers and not (numbers & vocab)  # "sample <n>." numbers of val/test never enter the vocabulary
    assert {n.rstrip(".") for n in train_text.split() if n.rstrip(".").isdigit()} <= vocab


def test_vocabulary_is_the_train_tokens_ranked_by_count_then_name(built):
    out, _ = built
    std = Standardizer.from_dir(out)
    train = wds.WebDataset(sorted(str(p) for p in (out / "train").glob("*.tar")), shardshuffle=False)
    tokens = [std.process({"text": s["txt"]}).tokens for s in train if "txt" in s]
    assert json.loads((out / "vocab.json").read_text()) == build_vocab(tokens, std.text.vocab_min_freq, std.text.vocab_max_size)


def test_groups_never_span_splits(built):
    out, _ = built
    manifest = pd.read_parquet(out / "manifest.parquet")
    ok = manifest[manifest["status"] == "ok"]
    grouped = ok[ok["group"] != ""]
    assert grouped["group"].nunique() == 4
    assert (grouped.groupby("group")["split"].nunique() == 1).all()
    assert ok["split"].nunique() == 3


def test_standardizer_reproduces_the_shard_fields(built, raw):
    out, _ = built
    standardizer = Standardizer.from_dir(out)
    store = RawStore(objects_dir(raw))
    rows = pd.read_parquet(raw / "manifest.parquet")
    rows = rows[rows["key"] == "1_002"]
    fields = standardizer.standardize({r.modality: store.get(r.sha256) for r in rows.itertuples()})
    sample = next(s for s in wds.WebDataset(sorted(str(p) for p in out.glob("*/*.tar")), shardshuffle=False)
                  if s["__key__"] == "1_002")
    for name in ("png", "wav", "mel.npy", "txt", "tok.npy"):
        assert fields[name] == sample[name], name


def test_same_output_for_1_and_2_workers_and_a_rerun(raw, built, tmp_path):
    out, _ = built
    reference = _shard_bytes(out)
    two = tmp_path / "two"
    run_build(BuildConfig(raw=str(raw), out=str(two), partitions=3, workers=2, shards={"maxcount": 3}))
    assert _shard_bytes(two) == reference
    run_build(BuildConfig(raw=str(raw), out=str(two), partitions=3, workers=1, shards={"maxcount": 3}))
    assert _shard_bytes(two) == reference
    assert (two / "manifest.parquet").read_bytes() == (out / "manifest.parquet").read_bytes()


def test_resume_keeps_finished_partitions(raw, built, tmp_path):
    out, _ = built
    cfg = BuildConfig(raw=str(raw), out=str(tmp_path / "resumed"), partitions=3, shards={"maxcount": 3})
    partitions = plan_partitions(cfg)
    first = process_partition(cfg, partitions[0])
    assert first["resumed"] is False
    marker = partition_paths(cfg, 0)[1]
    stamp = marker.stat().st_mtime_ns
    # A killed run: partition 0 finished, partition 1 left a temporary behind.
    (marker.parent / ".tmp-part-00001.tar.x").write_bytes(b"partial")
    assert process_partition(cfg, partitions[0])["resumed"] is True
    assert marker.stat().st_mtime_ns == stamp
    run_build(cfg)
    assert _shard_bytes(tmp_path / "resumed") == _shard_bytes(out)
    assert not list((tmp_path / "resumed").rglob(".tmp-*"))


def test_work_files_skip_fsync_but_a_new_boot_discards_them(raw, built, tmp_path, monkeypatch):
    """Scratch files are not fsynced; their fingerprint carries the boot id, so after a crash (a new boot)
    finished partitions are redone rather than trusted. Shards and the other outputs are still fsynced."""
    import os

    from mmdata.build import plan as plan_module

    out, _ = built
    boot = tmp_path / "boot_id"
    boot.write_text("boot-1\n")
    monkeypatch.setattr(plan_module, "_BOOT_ID", boot)
    synced: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd)))
    cfg = BuildConfig(raw=str(raw), out=str(tmp_path / "rebooted"), partitions=3, shards={"maxcount": 3})
    partitions = plan_partitions(cfg)
    assert {p.boot_id for p in partitions} == {"boot-1"}
    process_partition(cfg, partitions[0])
    marker = partition_paths(cfg, 0)[1]
    assert marker.is_file() and not [p for p in synced if "part-" in p]
    boot.write_text("boot-2\n")  # the machine restarted: partition 0 may be incomplete on disk
    partitions = plan_partitions(cfg)
    assert not marker.exists()
    assert process_partition(cfg, partitions[0])["resumed"] is False
    synced.clear()
    run_build(cfg)
    assert _shard_bytes(tmp_path / "rebooted") == _shard_bytes(out)
    assert {Path(p).name.split(".tmp-")[-1].split(".")[0] for p in synced} >= {"shard-000000", "manifest", "stats"}


def test_a_missing_raw_object_fails_its_sample_alone(tmp_path):
    raw = make_raw_corpus(tmp_path / "raw", per_class=2, speakers=2)
    rows = pd.read_parquet(raw / "manifest.parquet")
    sha = rows[rows["key"] == "1_001"]["sha256"].iloc[0]
    (raw / "objects" / sha[:2] / sha).unlink()
    stats = run_build(BuildConfig(raw=str(raw), out=str(tmp_path / "out"), partitions=2))
    manifest = pd.read_parquet(tmp_path / "out" / "manifest.parquet").set_index("key")
    assert manifest.at["1_001", "status"] == "failed"
    assert manifest.at["1_001", "reason"].startswith(f"KeyError: 'object {sha} is not in the raw store")
    assert stats["samples"] == {"total": 6, "ok": 5, "dropped": 0, "failed": 1}


def test_a_second_build_on_the_same_output_is_refused(raw, tmp_path):
    out = tmp_path / "locked"
    with build_lock(str(out)), pytest.raises(BuildLocked, match="another build is already writing"):
        run_build(BuildConfig(raw=str(raw), out=str(out), partitions=2))
    assert not out.exists() or not list(out.glob("*/shard-*"))


def test_reuse_from_puts_everything_in_one_split_with_training_vocab(raw, built, tmp_path):
    out, _ = built
    evaluation = tmp_path / "eval"
    stats = run_build(BuildConfig(raw=str(raw), out=str(evaluation), split="test", reuse_from=str(out), partitions=2,
                                  audio={"sample_rate": 8000}))
    assert set(stats["splits"]) == {"test"}
    assert (evaluation / "vocab.json").read_text() == (out / "vocab.json").read_text()
    assert (evaluation / "labels.json").read_text() == (out / "labels.json").read_text()
    # the training build's audio settings win over the ones passed for the new corpus
    assert json.loads((evaluation / "preprocess.json").read_text())["audio"]["sample_rate"] == 16000
    with pytest.raises(ValueError, match="is the output itself"):
        run_build(BuildConfig(raw=str(raw), out=str(out), split="test", reuse_from=str(out)))


def test_sigkill_mid_build_then_rerun_gives_the_clean_output(raw, built, tmp_path):
    import os
    import signal
    import sys
    import time

    out, _ = built
    target = tmp_path / "killed"
    code = ("import sys; sys.path.insert(0, sys.argv[1]);"
            "from mmdata.build.config import BuildConfig; from mmdata.build.run import run_build;"
            "run_build(BuildConfig(raw=sys.argv[2], out=sys.argv[3], partitions=3, shards={'maxcount': 3}))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(Path.cwd()), str(raw), str(target)],
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if list((target / ".work").glob("part-*.parquet")):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_build(BuildConfig(raw=str(raw), out=str(target), partitions=3, shards={"maxcount": 3}))
    assert _shard_bytes(target) == _shard_bytes(out)
    assert not list(target.rglob(".tmp-*"))


def test_awkward_keys_and_empty_payloads(tmp_path):
    extra = [
        {"key": "../escape", "modality": "text", "uri": "file:e.txt", "data": b"path traversal key text", "label": "0"},
        {"key": "dots.and spaces", "modality": "text", "uri": "file:d.txt", "data": b"dotted key words here", "label": "1"},
        {"key": "ünïcode", "modality": "text", "uri": "file:u.txt", "data": "café crème".encode(), "label": "2"},
        {"key": "empty_image", "modality": "image", "uri": "file:z.png", "data": b"", "label": "0"},
        {"key": "empty_audio", "modality": "audio", "uri": "file:z.wav", "data": b"", "label": "0"},
        {"key": "empty_text", "modality": "text", "uri": "file:z.txt", "data": b"", "label": "0"},
        {"key": "huge_text", "modality": "text", "uri": "file:h.txt", "data": b"word " * 3000, "label": "0"},
    ]
    raw = make_raw_corpus(tmp_path / "raw", per_class=1, speakers=1, extra_rows=extra)
    out = tmp_path / "out"
    run_build(BuildConfig(raw=str(raw), out=str(out), partitions=2, splits={"train": 1.0}, text={"max_bytes": 10_000}))
    manifest = pd.read_parquet(out / "manifest.parquet").set_index("key")
    assert manifest.at["empty_image", "reason"].startswith("image:image_undecodable")
    assert manifest.at["empty_audio", "reason"].startswith("audio:audio_undecodable")
    assert manifest.at["empty_text", "reason"] == "text:text_too_short"
    assert manifest.at["huge_text", "reason"] == "text:text_too_large"
    samples = {json.loads(s["json"])["key"]: s for s in wds.WebDataset(sorted(str(p) for p in out.glob("*/*.tar")),
                                                                          shardshuffle=False)}
    for key in ("../escape", "dots.and spaces", "ünïcode"):
        assert manifest.at[key, "status"] == "ok"
        shard_key = samples[key]["__key__"]
        assert shard_key != key and "." not in shard_key and "/" not in shard_key and shard_key.isascii()
    assert samples["ünïcode"]["txt"].decode() == "café crème"


def test_without_near_dedup_no_signatures_are_computed_and_shards_are_the_same(raw, built, tmp_path, monkeypatch):
    """near: false skips MinHash and pHash (they only serve that search); nothing else in the output changes."""
    import mmdata.image.process as image_process
    import mmdata.text.process as text_process

    def refuse(*args, **kwargs):
        raise AssertionError("a near-duplicate signature was computed with dedup.near off")

    monkeypatch.setattr(text_process, "words_minhash", refuse)
    monkeypatch.setattr(image_process, "perceptual_hash", refuse)
    out, reference_stats = built
    plain = tmp_path / "plain"
    stats = run_build(BuildConfig(raw=str(raw), out=str(plain), partitions=3, shards={"maxcount": 3},
                                  dedup={"exact": True, "near": False}))
    assert stats["samples"] == reference_stats["samples"]  # no sample failed on a missing signature
    assert _shard_bytes(plain) == _shard_bytes(out)  # the fixture corpus has no near-duplicates to drop


def test_near_duplicates_are_dropped_with_the_kept_key_and_kept_when_near_is_off(tmp_path):
    """Text (MinHash) and image (pHash) near-duplicates across partitions: the earliest key wins."""
    prose = ("the committee met on tuesday to discuss the new library building plans and the budget for "
             "books furniture and staff training over the coming three years of the project")
    image = cv2.imdecode(np.frombuffer(png_bytes(5, size=64), np.uint8), cv2.IMREAD_COLOR)
    brighter = cv2.imencode(".png", cv2.convertScaleAbs(image, alpha=1.0, beta=3))[1].tobytes()
    rows = [
        {"key": "t_a", "modality": "text", "uri": "file:t_a.txt", "data": prose.encode(), "label": "0"},
        {"key": "t_b", "modality": "text", "uri": "file:t_b.txt", "data": (prose + " ahead").encode(), "label": "0"},
        {"key": "t_c", "modality": "text", "uri": "file:t_c.txt", "label": "0",
         "data": b"an entirely different note about river fish weather and the harvest festival in the old town square"},
        {"key": "i_a", "modality": "image", "uri": "file:i_a.png", "data": png_bytes(5, size=64), "label": "1"},
        {"key": "i_b", "modality": "image", "uri": "file:i_b.png", "data": brighter, "label": "1"},
        {"key": "i_c", "modality": "image", "uri": "file:i_c.png", "data": png_bytes(6, size=64), "label": "1"},
    ]
    raw = make_raw_corpus(tmp_path / "raw", per_class=0, extra_rows=[dict(r) for r in rows])
    for near in (True, False):
        out = tmp_path / f"near_{near}"
        run_build(BuildConfig(raw=str(raw), out=str(out), partitions=3, dedup={"exact": True, "near": near},
                              image={"size": 32, "min_side": 16, "min_blur_var": 0.0}))
        reasons = pd.read_parquet(out / "manifest.parquet").set_index("key")["reason"].to_dict()
        if near:
            assert reasons == {"t_a": "", "t_b": "near_duplicate_of:t_a", "t_c": "",
                               "i_a": "", "i_b": "near_duplicate_of:i_a", "i_c": ""}
        else:
            assert set(reasons.values()) == {""}
