"""kill -9 an `mm ingest` process at several points; the finished re-run equals an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mmdata.ingest.run import KILL_ENV
from mmdata.manifest import read_raw_manifest
from tests.mmdata.net.site import Site, png_bytes, wav_bytes

MM = str(Path(sys.executable).parent / "mm")


@pytest.fixture(scope="module")
def site():
    with Site() as running:
        yield running


@pytest.fixture
def params(site, tmp_path):
    folder = tmp_path / "folder"
    for i in range(30):
        sub = folder / f"class{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        kind = i % 5
        if kind == 0:
            (sub / f"{i:03d}.png").write_bytes(png_bytes(i))
        elif kind == 1:
            (sub / f"{i:03d}.wav").write_bytes(wav_bytes(200 + 10 * i))
        elif kind == 2:
            (sub / f"{i:03d}.txt").write_text(f"sample number {i}")
        elif kind == 3:
            (sub / f"{i:03d}.txt").write_text("")  # dropped: empty
        else:
            (sub / f"{i:03d}.bin").write_bytes(b"?")  # dropped: unsupported
    rows = []
    for i in range(30):
        path = ["/img/cat.png", "/img/dog.jpg", "/nope", "/text.txt", "/zip"][i % 5]
        column = "text" if path == "/text.txt" else "image"
        rows.append({"key": f"u{i:03d}", column: site.url(f"{path}?n={i}"), "label": str(i % 2)})
    table = tmp_path / "urls.jsonl"
    table.write_text("".join(json.dumps(r) + "\n" for r in rows))
    values = {"dirs": [str(folder)], "tables": [str(table)], "crawl": [site.url("/")], "max_depth": 2,
              "allow_private_network": True, "retries": 0, "timeout_s": 10, "journal_batch": 3, "progress": False}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"ingest": values}))
    return path


def mm_ingest(params: Path, out: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != KILL_ENV}
    if kill_at is not None:
        env[KILL_ENV] = kill_at
    return subprocess.run([MM, "ingest", "--params", str(params), "--out", str(out)], env=env,
                          cwd=params.parent, capture_output=True, text=True, timeout=120)


def journal_ids(out: Path) -> list[str]:
    """Ids of items whose work was journaled (planning decisions, attempts 0, are re-recorded each run)."""
    records = [json.loads(line) for line in (out / "journal.jsonl").read_text().splitlines()]
    return [r["item_id"] for r in records if r["attempts"] > 0]


def test_killed_runs_resume_to_the_uninterrupted_manifest(params, tmp_path):
    reference = tmp_path / "reference"
    done = mm_ingest(params, reference)
    assert done.returncode == 0, done.stdout + done.stderr
    expected = read_raw_manifest(reference)
    assert len(expected) > 70 and set(expected["source"]) == {"directory", "table", "crawl"}

    out = tmp_path / "interrupted"
    journaled = 0
    # Kill points: inside the folder, inside the URL table, inside the crawl, before the manifest.
    for kill_at in ("4", "40", "20", "manifest"):
        killed = mm_ingest(params, out, kill_at)
        assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
        assert not (out / "manifest.parquet").exists()
        assert len(journal_ids(out)) >= journaled  # finished work survives the kill
        journaled = len(journal_ids(out))
    assert journaled > 0
    finished = mm_ingest(params, out)
    assert finished.returncode == 0, finished.stdout + finished.stderr

    got = read_raw_manifest(out)
    assert got.equals(expected)
    ids = journal_ids(out)
    assert len(ids) == len(set(ids))  # no item was done twice
    objects = {p.name for p in (out / "objects").rglob("*") if p.is_file()}
    assert objects == set(got.loc[got["status"] == "ok", "sha256"])  # nothing partial, nothing orphaned
    assert not [p for p in out.rglob(".tmp-*")]
