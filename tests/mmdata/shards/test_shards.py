"""Deterministic tar writing, inspection summary and the HTML/PNG report of a built shard set."""

from __future__ import annotations

import io
import tarfile

import pytest
from rich.console import Console

from mmdata.build.config import BuildConfig
from mmdata.build.run import run_build
from mmdata.shards.inspect import load_sidecars, print_summary, summarize
from mmdata.shards.report import write_report
from mmdata.shards.tario import add_sample, member_header, open_tar_for_writing, tar_member
from tests.mmdata.build.corpus import make_raw_corpus


def _tar_bytes(fields: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with open_tar_for_writing(buffer) as tar:
        add_sample(tar, "k1", fields)
    return buffer.getvalue()


def test_tar_members_are_sorted_and_carry_no_time_or_owner():
    data = _tar_bytes({"txt": b"hello", "cls": b"1", "json": b"{}"})
    assert data == _tar_bytes({"json": b"{}", "txt": b"hello", "cls": b"1"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["k1.cls", "k1.json", "k1.txt"]
    assert {(m.mtime, m.uid, m.uname, m.mode) for m in members} == {(0, 0, "mmpipe", 0o644)}


@pytest.mark.parametrize("name", ["k.json", "k" * 95 + ".txt", "k" * 120 + ".mel.npy", "caf\u00e9.txt", "\u732b" * 60])
@pytest.mark.parametrize("size", [0, 1, 512, 70_001])
def test_member_header_is_what_tarfile_writes(name, size):
    """Partitions pre-encode members with member_header; a shard must not differ from tarfile's own."""
    buffer = io.BytesIO()
    with open_tar_for_writing(buffer) as tar:
        tar.addfile(tar_member(name, size), io.BytesIO(b"x" * size))
    header = member_header(name, size)
    assert len(header) % 512 == 0
    assert buffer.getvalue()[: len(header)] == header


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    root = tmp_path_factory.mktemp("inspect")
    make_raw_corpus(root / "raw", per_class=3, speakers=3,
                    extra_rows=[{"key": "empty", "modality": "text", "uri": "file:e.txt", "data": b"   ", "label": "1"}])
    run_build(BuildConfig(raw=str(root / "raw"), out=str(root / "shards"), partitions=2))
    return root / "shards"


def test_summary_counts_per_split_class_modality(shards):
    summary = summarize(shards)
    assert sum(s["samples"] for s in summary["splits"].values()) == 9
    assert sum(s["classes"].get("1", 0) for s in summary["splits"].values()) == 3
    assert all(s["modalities"] == {"image": s["samples"], "audio": s["samples"], "text": s["samples"]}
               for s in summary["splits"].values())
    assert summary["group_leaks"] == {}
    for info in summary["splits"].values():
        assert info["class_imbalance"] == pytest.approx(max(info["classes"].values()) / min(info["classes"].values()), abs=1e-3)
    assert summary["drop_reasons"] == {"text:text_too_short": 1}
    assert all(s["bytes"] > 0 for s in summary["splits"].values())
    console = Console(record=True, width=120)
    print_summary(summary, console)
    text = console.export_text()
    assert "text:text_too_short" in text and "no group" in text


def test_group_leak_is_reported(shards, tmp_path):
    import shutil

    import pandas as pd

    copy = tmp_path / "leaky"
    shutil.copytree(shards, copy)
    sidecar = sorted(copy.glob("train/shard-*.parquet"))[0]
    frame = pd.read_parquet(sidecar)
    other = load_sidecars(shards).query("split != 'train'")["group"].iloc[0]
    frame.loc[0, "group"] = other
    frame.to_parquet(sidecar)
    assert other in summarize(copy)["group_leaks"]


def test_report_writes_html_and_pngs(shards, tmp_path):
    page = write_report(shards, tmp_path / "report")
    assert page.read_text().count("<img") == 2
    for name in ("classes.png", "distributions.png"):
        assert (tmp_path / "report" / name).read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("name", ["k1.txt", "a-b_c.mel.npy", "x" * 98 + ".y", "ü.txt", "z" * 120 + ".png"])
@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 70_000])
def test_direct_headers_equal_tarfile_output(name, size):
    from mmdata.shards.tario import add_bytes, tar_member

    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    ours, reference = io.BytesIO(), io.BytesIO()
    with open_tar_for_writing(ours) as tar:
        add_bytes(tar, name, data)
        add_bytes(tar, "second.json", b"{}")
    with open_tar_for_writing(reference) as tar:
        tar.addfile(tar_member(name, len(data)), io.BytesIO(data))
        tar.addfile(tar_member("second.json", 2), io.BytesIO(b"{}"))
    assert ours.getvalue() == reference.getvalue()
