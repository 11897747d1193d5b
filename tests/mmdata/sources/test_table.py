"""Table source: csv / jsonl / parquet read the same; bad rows are rows too."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.manifest import read_raw_manifest
from tests.mmdata.net.site import png_bytes, wav_bytes


def ingest_tables(tables, out):
    run_ingest(IngestConfig(tables=[str(t) for t in tables], out=str(out), progress=False))
    return read_raw_manifest(out)


@pytest.fixture
def media(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png_bytes(5))
    (tmp_path / "snd.wav").write_bytes(wav_bytes())
    (tmp_path / "words.txt").write_text("text from a file")
    return tmp_path


ROWS = [
    {"key": "s1", "image": "img/a.png", "audio": "snd.wav", "text": "words.txt", "label": "x", "group": "g1", "note": "n1"},
    {"key": "s2", "image": "", "audio": "", "text": "inline words", "label": "y", "group": "g2", "note": "n2"},
    {"key": "s3", "image": "img/missing.png", "audio": "", "text": "", "label": "y", "group": "g2", "note": ""},
    {"key": "s4", "image": "", "audio": "", "text": "", "label": "z", "group": "", "note": "no media"},
    {"key": "s1", "image": "img/a.png", "audio": "", "text": "", "label": "x", "group": "", "note": "again"},
]


def expected_states(table_name):
    return [
        ("s1", "audio", "ok", ""), ("s1", "image", "ok", ""),
        ("s1", "image", "dropped", "duplicate_key: s1 first at row 0"), ("s1", "text", "ok", ""),
        ("s2", "text", "ok", ""),
        ("s3", "image", "failed", f"file_not_found: {table_name}"),
        ("s4", "unknown", "dropped", "no_media: row has no image, audio or text"),
    ]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_formats_give_the_same_rows(media, fmt):
    table = media / f"t.{fmt}"
    frame = pd.DataFrame(ROWS)
    if fmt == "csv":
        frame.to_csv(table, index=False)
    elif fmt == "jsonl":
        frame.to_json(table, orient="records", lines=True)
    else:
        frame.to_parquet(table)
    manifest = ingest_tables([table], media / "raw")
    got = sorted((r.key, r.modality, r.status, r.reason) for r in manifest.itertuples())
    assert got == sorted(expected_states((media / "img" / "missing.png").as_posix()))
    s1 = manifest[(manifest["key"] == "s1") & (manifest["status"] == "ok")]
    assert set(s1["label"]) == {"x"} and set(s1["group"]) == {"g1"}
    assert json.loads(s1["meta"].iloc[0]) == {"note": "n1"}
    s2 = manifest[manifest["key"] == "s2"].iloc[0]
    assert s2["uri"] == f"inline:{table.as_posix()}#1"
    assert s1.set_index("modality").loc["text", "uri"] == (media / "words.txt").as_posix()


def test_malformed_rows_and_unreadable_tables_are_recorded(tmp_path):
    csv_table = tmp_path / "bad.csv"
    csv_table.write_text("key,text\nk1,hello\nk2,too,many,fields\nk3\n")
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"key": "j1", "text": "fine"}\n{not json\n[1, 2]\n')
    broken_parquet = tmp_path / "broken.parquet"
    broken_parquet.write_bytes(b"PAR1 this is not parquet")
    frame = ingest_tables([csv_table, jsonl, broken_parquet, tmp_path / "absent.csv", tmp_path / "t.xlsx"], tmp_path / "raw")
    reasons = sorted(frame["reason"].str.split(":").str[0])
    assert reasons == ["", "", "malformed_row", "malformed_row", "malformed_row", "malformed_row",
                       "unreadable_table", "unreadable_table", "unreadable_table"]
    assert "malformed_row: 4 fields, header has 2" in set(frame["reason"])
    assert "malformed_row: JSON list, not an object" in set(frame["reason"])
    assert frame.loc[frame["reason"].str.startswith("unreadable_table"), "status"].eq("failed").all()


def test_bytes_cells_nul_bytes_and_lone_surrogates(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = tmp_path / "blobs.parquet"
    pq.write_table(pa.table({
        "key": ["raw", "hf", "empty"],
        "image": [png_bytes(9), None, b""],
        "hf_image": [None, None, None],
    }).append_column("audio", pa.array([None, {"bytes": wav_bytes(), "path": "x.wav"}, None],
                                       pa.struct([("bytes", pa.binary()), ("path", pa.string())]))), table)
    csv_table = tmp_path / "nul.csv"
    csv_table.write_bytes(b"key,text\nk1,fine\nk2,bad\x00cell\nk3,also fine\n")
    jsonl = tmp_path / "surrogate.jsonl"
    jsonl.write_text('{"key": "s", "text": "odd label", "label": "x\\udc80y"}\n')
    frame = ingest_tables([table, csv_table, jsonl], tmp_path / "raw")
    got = {(r.key, r.modality): (r.status, r.reason, r.mime) for r in frame.itertuples()}
    assert got[("raw", "image")] == ("ok", "", "image/png")
    assert got[("hf", "audio")] == ("ok", "", "audio/wav")
    assert got[("empty", "unknown")][1].startswith("no_media")
    assert got[("k1", "text")][0] == got[("k2", "text")][0] == got[("k3", "text")][0] == "ok"  # NUL kept as text
    assert frame.loc[frame["key"] == "s", "label"].item() == "x\\udc80y"


def test_changed_inline_values_and_urls_are_redone(tmp_path):
    table = tmp_path / "t.jsonl"
    table.write_text(json.dumps({"key": "a", "text": "first words"}) + "\n")
    cfg = IngestConfig(tables=[str(table)], out=str(tmp_path / "raw"), progress=False)
    run_ingest(cfg)
    assert run_ingest(cfg).reused == 1
    table.write_text(json.dumps({"key": "a", "text": "other words"}) + "\n")
    summary = run_ingest(cfg)
    assert (summary.processed, summary.reused) == (1, 0)
    assert read_raw_manifest(tmp_path / "raw")["bytes"].item() == len("other words")
