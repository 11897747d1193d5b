"""The hostile corpus through the real ingest and build: every item ends in its expected state."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from mmdata.build.config import BuildConfig
from mmdata.build.run import run_build
from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.safety import safe_tar_samples, validate_shard
from tests.robustness.hostile_corpus import observe, write_hostile_corpus, write_missing_columns_table


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    cases = write_hostile_corpus(root, big=True)
    try:
        run_ingest(IngestConfig(dirs=[str(root / "corpus")], tables=[str(root / "table.csv")],
                                out=str(root / "raw"), progress=False))
    finally:
        (root / "corpus" / "dog" / "text_100mb.txt").unlink(missing_ok=True)  # 100 MB: never keep it
    run_build(BuildConfig(raw=str(root / "raw"), out=str(root / "shards"), partitions=2))
    raw = pd.read_parquet(root / "raw" / "manifest.parquet")
    built = pd.read_parquet(root / "shards" / "manifest.parquet")
    return root, cases, raw, built


def test_corpus_has_at_least_thirty_kinds_across_modalities(hostile_run):
    _, cases, _, _ = hostile_run
    assert len({c.name for c in cases}) >= 30
    assert {"image", "audio", "text"} <= {c.modality for c in cases}


def test_every_case_reaches_its_expected_state(hostile_run):
    root, cases, raw, built = hostile_run
    mismatches = [r for r in observe(cases, root, raw, built) if not (r["ingest_pass"] and r["build_pass"])]
    assert mismatches == []


def test_every_raw_item_has_one_state_and_every_sample_one_build_row(hostile_run):
    _, _, raw, built = hostile_run
    assert set(raw["status"]) <= {"ok", "dropped", "failed"}
    assert raw.loc[raw["status"] != "ok", "reason"].str.len().min() > 0
    assert not built["key"].duplicated().any()
    assert set(raw["key"]) == set(built["key"])  # nothing vanishes between ingest and build
    assert built.loc[built["status"] != "ok", "reason"].str.len().min() > 0
    # Reasons are the same bytes on every run: no object addresses from library messages.
    assert not raw["reason"].str.contains(" at 0x").any() and not built["reason"].str.contains(" at 0x").any()


def test_shards_are_safe_and_hold_only_clean_text(hostile_run):
    root, _, _, built = hostile_run
    shards = sorted((root / "shards").glob("*/shard-*.tar"))
    assert shards
    for shard in shards:
        validate_shard(shard)
    # Shard keys are made tar-safe (ASCII, no dots); json["key"] keeps the manifest's key.
    samples = {json.loads(s["json"])["key"]: s for s in safe_tar_samples(shards)}
    assert set(samples) == set(built.loc[built["status"] == "ok", "key"])
    html = samples["html_script_style_iframe"]["txt"].decode()
    assert "rivers and mountains" in html
    assert "SCRIPTPAYLOAD" not in html and "IFRAMEPAYLOAD" not in html and "color:red" not in html
    assert "Café" in samples["text_latin1"]["txt"].decode()
    assert "café" in samples["text_mojibake"]["txt"].decode().lower()
    assert "\x07" not in samples["text_control_chars"]["txt"].decode()
    for sample in samples.values():
        meta = json.loads(sample["json"])
        assert meta["split"] in {"train", "val", "test"}


def test_hostile_keys_stay_inside_the_output(hostile_run):
    root, _, _, _ = hostile_run
    for shard in (root / "shards").glob("*/shard-*.tar"):
        with tarfile.open(shard) as tar:
            for name in tar.getnames():
                assert not name.startswith("/") and ".." not in Path(name).parts
                assert name.count(".") >= 1 and "." not in name.split(".")[0]  # key before the first dot
    outside = [p for p in root.parent.rglob("escape*") if root not in p.parents]
    assert outside == []


def test_table_without_modality_columns_keeps_every_row_with_a_reason(tmp_path):
    table = write_missing_columns_table(tmp_path)
    run_ingest(IngestConfig(tables=[str(table)], out=str(tmp_path / "raw"), progress=False))
    raw = pd.read_parquet(tmp_path / "raw" / "manifest.parquet")
    assert sorted(raw["key"]) == ["x1", "x2"]
    assert (raw["status"] == "dropped").all() and raw["reason"].str.startswith("no_media").all()


def test_standardized_outputs_have_fixed_shapes_whatever_the_input(hostile_run):
    root, _, _, _ = hostile_run
    build = BuildConfig(raw=str(root / "raw"), out=str(root / "shards"))
    images = audios = 0
    for sample in safe_tar_samples(sorted((root / "shards").glob("*/shard-*.tar"))):
        image_field = next((f for f in ("png", "jpg", "webp") if f in sample), None)
        if image_field:  # CMYK, 16-bit, palette, alpha, GIF all become 3-channel 8-bit of one size
            decoded = np.asarray(Image.open(io.BytesIO(sample[image_field])))
            assert decoded.shape == (build.image.size, build.image.size, 3) and decoded.dtype == np.uint8
            images += 1
        if "wav" in sample:  # 24-bit, 96 kHz, 6-channel all become mono at one rate and length
            wave, rate = sf.read(io.BytesIO(sample["wav"]), dtype="float32")
            assert wave.ndim == 1 and rate == build.audio.sample_rate
            assert len(wave) == round(build.audio.target_duration_s * rate) and np.isfinite(wave).all()
            mel = np.load(io.BytesIO(sample["mel.npy"]))
            assert mel.shape[0] == build.audio.n_mels and np.isfinite(mel).all()
            audios += 1
    assert images >= 10 and audios >= 10
