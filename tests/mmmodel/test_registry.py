"""The file-based model registry: records, one champion, atomic locked writes, data versions."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from mmmodel.registry import (
    CHALLENGER,
    CHAMPION,
    FAILED,
    REJECTED,
    RETIRED,
    ModelRecord,
    Registry,
    champion_dir,
    data_version,
    git_revision,
    new_model_id,
    records_table,
    utc_now,
)


def record(model_id: str, status: str = CHALLENGER, **extra) -> ModelRecord:
    return ModelRecord(id=model_id, model_dir=f"models/{model_id}", status=status, created=utc_now(), **extra)


def test_empty_registry_has_no_champion(tmp_path):
    registry = Registry(tmp_path / "registry.json")
    assert registry.records() == [] and registry.champion() is None
    assert champion_dir(tmp_path / "registry.json") is None and not registry.path.exists()


def test_add_update_and_promote_keep_exactly_one_champion(tmp_path):
    registry = Registry(tmp_path / "models" / "registry.json")
    registry.add(record("a", CHAMPION, metrics={"macro_f1": 0.5}))
    registry.add(record("b"))
    registry.update("b", status=REJECTED, reason="worse")
    registry.add(record("c"))
    promoted = registry.promote("c", reason="better")
    assert promoted.status == CHAMPION and promoted.reason == "better"
    statuses = {r.id: r.status for r in registry.records()}
    assert statuses == {"a": RETIRED, "b": REJECTED, "c": CHAMPION}
    assert registry.get("a").reason == "replaced by c" and registry.get("a").metrics == {"macro_f1": 0.5}
    assert champion_dir(registry.path).as_posix() == "models/c"
    # Adding a champion directly retires the current one as well.
    registry.add(record("d", CHAMPION))
    assert [r.id for r in registry.records() if r.status == CHAMPION] == ["d"]


def test_file_is_plain_json_and_survives_a_reload(tmp_path):
    path = tmp_path / "registry.json"
    Registry(path).add(record("a", FAILED, reason="boom", params={"epochs": 3}, data_version={"hash": "x"}))
    body = json.loads(path.read_text())
    assert body["version"] == 1 and body["models"][0]["status"] == FAILED and body["models"][0]["params"] == {"epochs": 3}
    assert Registry(path).get("a") == Registry(path).records()[0]
    assert not list(tmp_path.glob(".tmp-*"))  # the atomic write left no temporary behind


def test_refuses_unknown_status_duplicates_and_missing_ids(tmp_path):
    registry = Registry(tmp_path / "registry.json")
    with pytest.raises(ValueError, match="unknown model status"):
        record("a", "best")
    registry.add(record("a"))
    with pytest.raises(ValueError, match="already registered"):
        registry.add(record("a"))
    with pytest.raises(KeyError):
        registry.update("zzz", status=FAILED)
    with pytest.raises(KeyError):
        registry.get("zzz")


def _add_many(path: str, prefix: str) -> None:
    registry = Registry(path)
    for i in range(15):
        registry.add(record(f"{prefix}-{i}"))


def test_concurrent_writers_lose_no_record(tmp_path):
    path = str(tmp_path / "registry.json")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_add_many, args=(path, name)) for name in ("p", "q", "r")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert all(w.exitcode == 0 for w in workers)
    assert len({r.id for r in Registry(path).records()}) == 45


def test_default_path_follows_params_yaml_then_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MMPIPE_REGISTRY", raising=False)
    assert Registry().path == Path("models/registry.json") and champion_dir() is None
    (tmp_path / "params.yaml").write_text("nightly:\n  registry: reg/models.json\n")
    Registry().add(record("a", CHAMPION))
    assert (tmp_path / "reg" / "models.json").is_file() and champion_dir().as_posix() == "models/a"
    monkeypatch.setenv("MMPIPE_REGISTRY", str(tmp_path / "elsewhere.json"))
    assert champion_dir() is None
    Registry().add(record("b", CHAMPION))
    assert (tmp_path / "elsewhere.json").is_file() and champion_dir().as_posix() == "models/b"


def test_data_version_from_shard_stats_then_from_dvc_lock(tmp_path):
    shards = tmp_path / "data" / "shards"
    (shards / "train").mkdir(parents=True)
    (shards / "train" / "shard-000000.tar").write_bytes(b"x" * 10)
    bare = data_version(shards, tmp_path / "dvc.lock")
    assert bare["source"] == "shards" and len(bare["hash"]) == 16
    (shards / "stats.json").write_text('{"samples": 1}')
    with_stats = data_version(shards, tmp_path / "dvc.lock")
    assert with_stats["hash"] != bare["hash"]
    (shards / "stats.json").write_text('{"samples": 2}')
    assert data_version(shards, tmp_path / "dvc.lock")["hash"] != with_stats["hash"]

    lock = {"schema": "2.0", "stages": {
        "ingest": {"outs": [{"path": "data/raw", "hash": "md5", "md5": "aaa.dir"}]},
        "build": {"outs": [{"path": "data/shards", "hash": "md5", "md5": "bbb.dir"}]},
        "train": {"outs": [{"path": "models/current", "hash": "md5", "md5": "ccc.dir"}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    tracked = data_version("data/shards", tmp_path / "dvc.lock")
    assert tracked["source"] == "dvc.lock"
    assert tracked["parts"] == {"build:data/shards": "bbb.dir", "ingest:data/raw": "aaa.dir"}  # data stages only
    # A dvc.lock that does not track the shards in use does not speak for them.
    assert data_version(shards, tmp_path / "dvc.lock")["source"] == "shards"


def test_git_revision_inside_and_outside_a_checkout(tmp_path):
    assert git_revision(tmp_path) is None
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("1")
    env = ["-c", "user.email=t@example.invalid", "-c", "user.name=t"]
    subprocess.run(["git", *env, "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run(["git", *env, "-C", str(tmp_path), "commit", "-qm", "x"], check=True)
    clean = git_revision(tmp_path)
    assert len(clean) == 40
    (tmp_path / "f").write_text("2")
    assert git_revision(tmp_path) == clean + "-dirty"


def test_ids_sort_by_time_and_table_lists_newest_first():
    assert new_model_id() != new_model_id()
    records = [record("20260101T000000Z-aaaaaa", RETIRED, metrics={"macro_f1": 0.5, "accuracy": 0.6}),
               record("20260102T000000Z-bbbbbb", CHAMPION, metrics={"macro_f1": 0.75, "accuracy": 0.8},
                      data_version={"source": "shards", "hash": "0123456789abcdef"})]
    console = Console(width=250, record=True)
    console.print(records_table(records))
    text = console.export_text()
    assert text.index("bbbbbb") < text.index("aaaaaa")
    assert "0.7500" in text and "shards:01234567" in text and "champion" in text


def test_mm_predict_defaults_to_the_champion(tmp_path, monkeypatch):
    from mmmodel.predict import PredictError, default_model_dir

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MMPIPE_REGISTRY", raising=False)
    with pytest.raises(PredictError, match="no registry champion"):
        default_model_dir()
    Registry().add(record("m1", CHAMPION))
    with pytest.raises(PredictError):  # registered, but its directory is gone
        default_model_dir()
    (tmp_path / "models" / "m1").mkdir(parents=True)
    assert default_model_dir() == Path("models/m1")
