"""Asterisk and icons recipes: logic on trees made in code; the real Debian packages when installed."""

from __future__ import annotations

import gzip

import pytest

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from mmdata.recipes.asterisk import SOUNDS_DIR, prepare_asterisk
from mmdata.recipes.common import RecipeSourceMissing
from mmdata.recipes.icons import THEME_DIR, icon_words, prepare_icons
from tests.mmdata.net.site import png_bytes, wav_bytes


def labels_of(out):
    return {tuple(line.split(",")[:2]) for line in (out / "labels.csv").read_text().splitlines()[1:]}


def test_asterisk_categories_and_transcripts(tmp_path):
    sounds = tmp_path / "sounds"
    (sounds / "digits").mkdir(parents=True)
    (sounds / "silence").mkdir()
    for name in ("vm-goodbye", "vm-hello", "beep", "digits/1", "silence/1"):
        (sounds / f"{name}.wav").write_bytes(wav_bytes())
    transcripts = tmp_path / "core-sounds-en.txt.gz"
    with gzip.open(transcripts, "wt") as fh:
        fh.write("; comment\nvm-goodbye: Goodbye.\nvm-hello: Hello there.\ndigits/1: One.\n")
    out = prepare_asterisk(tmp_path / "out", sounds, transcripts, min_per_category=2)
    assert labels_of(out) == {("vm-goodbye", "vm"), ("vm-hello", "vm"), ("beep", "misc"), ("digits_1", "digits")}
    assert (out / "vm" / "vm-goodbye.txt").read_text() == "Goodbye.\n"
    assert not (out / "misc" / "beep.txt").exists()  # no transcript: audio only
    assert not list(out.rglob("silence*"))


def test_icons_context_labels_and_words(tmp_path):
    theme = tmp_path / "Adwaita" / "48x48"
    for context, name in (("places", "folder-pictures"), ("devices", "audio-speakers-symbolic.symbolic"), ("legacy", "x")):
        (theme / context).mkdir(parents=True)
        (theme / context / f"{name}.png").write_bytes(png_bytes())
    out = prepare_icons(tmp_path / "out", tmp_path / "Adwaita")
    assert labels_of(out) == {("folder-pictures", "places"), ("audio-speakers-symbolic_symbolic", "devices")}
    assert (out / "devices" / "audio-speakers-symbolic_symbolic.txt").read_text() == "audio speakers symbolic\n"
    assert icon_words("edit_copy-rtl") == "edit copy rtl"


def test_missing_packages_raise_a_helpful_error(tmp_path):
    with pytest.raises(RecipeSourceMissing, match="apt-get install asterisk-core-sounds-en-wav"):
        prepare_asterisk(tmp_path / "a", tmp_path / "none")
    with pytest.raises(RecipeSourceMissing, match="apt-get install adwaita-icon-theme"):
        prepare_icons(tmp_path / "i", tmp_path / "none")


@pytest.mark.skipif(not SOUNDS_DIR.is_dir(), reason="asterisk-core-sounds-en-wav is not installed")
def test_real_asterisk_corpus_ingests(tmp_path):
    out = prepare_asterisk(tmp_path / "ast")
    run_ingest(IngestConfig(dirs=[str(out)], out=str(tmp_path / "raw"), progress=False))
    frame = read_raw_manifest(tmp_path / "raw")
    audio = frame[frame["modality"] == "audio"]
    assert len(audio) > 400 and set(audio["status"]) == {"ok"} and set(audio["mime"]) == {"audio/wav"}
    assert {"digits", "letters", "vm"} <= set(audio["label"])
    assert (frame["modality"] == "text").sum() > 400


@pytest.mark.skipif(not THEME_DIR.is_dir(), reason="adwaita-icon-theme is not installed")
def test_real_icons_corpus_ingests(tmp_path):
    out = prepare_icons(tmp_path / "icons")
    run_ingest(IngestConfig(dirs=[str(out)], out=str(tmp_path / "raw"), progress=False))
    frame = read_raw_manifest(tmp_path / "raw")
    images = frame[frame["modality"] == "image"]
    assert len(images) > 500 and {"places", "devices", "status"} <= set(images["label"])
    assert set(frame.loc[frame["modality"] == "image", "status"]) == {"ok"}
