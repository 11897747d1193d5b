"""run_ingest: incremental re-runs, the retry-failed policy, the journal and the run lock."""

from __future__ import annotations

import json

import pytest
from filelock import FileLock

from mmdata.ingest.config import IngestConfig
from mmdata.ingest.journal import Journal
from mmdata.ingest.run import LOCK_NAME, run_ingest
from mmdata.manifest import read_raw_manifest
from tests.mmdata.net.site import Site, png_bytes


@pytest.fixture(scope="module")
def site():
    with Site() as running:
        yield running


def config(tmp_path, **values):
    return IngestConfig(out=str(tmp_path / "raw"), progress=False, allow_private_network=True, retries=0, **values)


def test_rerun_processes_only_new_and_changed_files(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    for i in range(3):
        (root / f"{i}.txt").write_text(f"text {i}")
    cfg = config(tmp_path, dirs=[str(root)])
    first = run_ingest(cfg)
    assert (first.processed, first.reused) == (3, 0)
    again = run_ingest(cfg)
    assert (again.processed, again.reused) == (0, 3)
    (root / "3.txt").write_text("new")
    (root / "0.txt").write_text("changed text")
    third = run_ingest(cfg)
    assert (third.processed, third.reused) == (2, 2)
    frame = read_raw_manifest(cfg.out).set_index("key")
    assert len(frame) == 4 and frame.loc["0", "bytes"] == len("changed text")


def test_failed_items_are_retried_only_when_asked(site, tmp_path):
    table = tmp_path / "t.jsonl"
    path = "/img/cat.png?c=retry-policy"
    table.write_text(json.dumps({"key": "k", "image": site.url("/flaky?c=policy")}) + "\n"
                     + json.dumps({"key": "k2", "image": site.url(path)}) + "\n")
    cfg = config(tmp_path, tables=[str(table)])
    run_ingest(cfg)  # retries=0: /flaky answers 500 the first time
    assert read_raw_manifest(cfg.out).set_index("key").loc["k", "reason"] == "http_500: Internal Server Error"
    run_ingest(cfg)
    assert site.hits("/flaky?c=policy") == 1  # not silently retried
    assert read_raw_manifest(cfg.out).set_index("key").loc["k", "status"] == "failed"
    summary = run_ingest(cfg.model_copy(update={"retry_failed": True}))
    assert site.hits("/flaky?c=policy") == 2 and site.hits(path) == 1
    assert (summary.processed, summary.reused) == (1, 1)
    assert read_raw_manifest(cfg.out).set_index("key").loc["k", "status"] == "ok"


def test_journal_ignores_a_torn_last_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    path.write_text(json.dumps({"item_id": "a", "status": "ok"}) + "\n" + '{"item_id": "b", "sta')
    with Journal(path) as journal:
        assert set(journal.entries) == {"a"}
        journal.add({"item_id": "c", "status": "failed", "reason": "x"})
        journal.add({"item_id": "a", "status": "dropped", "reason": "later record wins"})
        frame = journal.read_rows({"a", "c"})
    assert [json.loads(line)["item_id"] for line in path.read_text().splitlines()] == ["a", "c", "a"]
    assert sorted(zip(frame["item_id"], frame["status"], strict=True)) == [("a", "dropped"), ("c", "failed")]


def test_a_second_concurrent_run_is_refused(tmp_path):
    root = tmp_path / "in"
    root.mkdir()
    (root / "x.png").write_bytes(png_bytes())
    cfg = config(tmp_path, dirs=[str(root)])
    (tmp_path / "raw").mkdir()
    with FileLock(str(tmp_path / "raw" / LOCK_NAME)), pytest.raises(RuntimeError, match="another ingest"):
        run_ingest(cfg)


def test_no_sources_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no sources"):
        run_ingest(config(tmp_path))


def test_an_unexpected_error_fails_that_item_only(tmp_path, monkeypatch):
    import mmdata.ingest.run as run_module

    root = tmp_path / "in"
    root.mkdir()
    (root / "good.txt").write_text("fine")
    (root / "bad.txt").write_text("boom")
    real = run_module.read_local

    def flaky_reader(item, writer, max_bytes):
        if item.key == "bad":
            raise RuntimeError("disk on fire")
        return real(item, writer, max_bytes)

    monkeypatch.setattr(run_module, "read_local", flaky_reader)
    run_ingest(config(tmp_path, dirs=[str(root)]))
    frame = read_raw_manifest(tmp_path / "raw").set_index("key")
    assert frame.loc["good", "status"] == "ok"
    assert (frame.loc["bad", "status"], frame.loc["bad", "reason"]) == ("failed", "internal_error: RuntimeError: disk on fire")


def test_journal_is_compacted_when_reruns_pile_up_records(tmp_path):
    table = tmp_path / "t.jsonl"
    # Rows decided while planning (no media) are recorded again on every run.
    table.write_text("".join(json.dumps({"key": f"k{i}", "note": "no media"}) + "\n" for i in range(10)))
    cfg = config(tmp_path, tables=[str(table)])
    journal = tmp_path / "raw" / "journal.jsonl"
    sizes = []
    for _ in range(4):
        run_ingest(cfg)
        sizes.append(len(journal.read_text().splitlines()))
    assert sizes[:2] == [10, 20] and max(sizes) <= 20  # the third run's 30 lines were compacted
    assert len(read_raw_manifest(cfg.out)) == 10
