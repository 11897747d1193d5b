"""Shards behind fsspec URLs: a real HTTP server (its directory listing is what fsspec globs), the
memory and file filesystems; training and evaluation equal the local run, hostile remote tars are
refused while they stream, and a missing plugin or unknown protocol is a clear error."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import io
import json
import shutil
import socket
import tarfile
import threading
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from flows.cli import app
from mmdata.safety import UnsafeShardError
from mmmodel.config import EvaluateConfig
from mmmodel.data import ShardError, count_samples, probe_shards, read_raw_samples, shard_paths
from mmmodel.evaluate import evaluate
from mmmodel.modeldir import copy_sidecars
from mmmodel.train import train
from tests.mmmodel.conftest import tiny_config
from tests.mmmodel.synthetic import write_synthetic_shards

SIZES = {"train": 64, "val": 32, "test": 32}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def www(tmp_path_factory):
    """(web root, base URL): a static HTTP server in a thread, as a bucket behind plain HTTP."""
    root = tmp_path_factory.mktemp("www")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def served(www):
    """(local shard folder, the same folder's URL); two train shards so shard order matters."""
    root, base = www
    return write_synthetic_shards(root / "shards", SIZES, per_shard=32), f"{base}/shards"


def _keys(samples) -> list[str]:
    return [s["__key__"] for s in samples]


def test_listing_and_reading_over_http_equal_the_local_folder(served):
    local, url = served
    remote = shard_paths(url, "train")
    assert remote == [f"{url}/train/shard-000000.tar", f"{url}/train/shard-000001.tar"]
    local_samples, remote_samples = list(read_raw_samples(shard_paths(local, "train"))), list(read_raw_samples(remote))
    assert _keys(remote_samples) == _keys(local_samples) and len(remote_samples) == 64
    fields = ("json", "cls", "png", "mel.npy", "tok.npy")
    assert [[s.get(f) for f in fields] for s in remote_samples] == [[s.get(f) for f in fields] for s in local_samples]
    assert all("txt" not in s for s in remote_samples)  # the member filter applies to streamed tars too
    assert probe_shards(url, "train", 8, None) == probe_shards(local, "train", 8, None)
    assert count_samples(url, "test") == 32
    with pytest.raises(ShardError, match="no shards for split 'holdout'"):
        shard_paths(url, "holdout")


def test_train_and_evaluate_from_http_equal_the_local_run(tmp_path, served):
    local, url = served
    results = {}
    for name, shards in (("local", str(local)), ("http", url)):
        cfg = tiny_config(tmp_path / name, shards, epochs=1)
        summary = train(cfg)
        out = tmp_path / name / "report"
        metrics = evaluate(EvaluateConfig(model=cfg.out, shards=shards, out=str(out), progress=False))
        results[name] = summary, metrics, (out / "predictions.csv").read_text(), Path(cfg.out)
    (local_summary, local_metrics, local_preds, local_model), (summary, metrics, preds, model) = results.values()
    assert summary["weights_sha256"] == local_summary["weights_sha256"]
    assert summary["history"] == local_summary["history"] and summary["history"][0]["val_macro_f1"] is not None
    assert metrics["shards"] == url and metrics["n_samples"] == 32
    same = {k: v for k, v in metrics.items() if k not in ("shards", "model")}
    assert same == {k: v for k, v in local_metrics.items() if k not in ("shards", "model")}
    assert preds == local_preds and len(preds.splitlines()) == 33
    for name in ("labels.json", "vocab.json", "preprocess.json"):  # sidecars copied from the URL
        assert (model / name).read_bytes() == (local_model / name).read_bytes() == (local / name).read_bytes()


@pytest.fixture
def memory_shards(served):
    local, _ = served
    fs = fsspec.filesystem("memory")
    for path in sorted(p for p in local.rglob("*") if p.is_file()):
        fs.pipe(f"/mmpipe-test/shards/{path.relative_to(local).as_posix()}", path.read_bytes())
    yield "memory://mmpipe-test/shards", fs
    fs.rm("/mmpipe-test", recursive=True)


def test_memory_and_file_urls_list_read_and_copy_sidecars(tmp_path, served, memory_shards):
    local, _ = served
    url, fs = memory_shards
    assert shard_paths(url, "train") == ["memory:///mmpipe-test/shards/train/shard-000000.tar",
                                         "memory:///mmpipe-test/shards/train/shard-000001.tar"]
    file_url = local.resolve().as_uri()
    assert shard_paths(file_url, "val") == [f"{file_url}/val/shard-000000.tar"]
    expected = _keys(read_raw_samples(shard_paths(local, "train")))
    assert _keys(read_raw_samples(shard_paths(url, "train"))) == expected
    assert _keys(read_raw_samples(shard_paths(file_url, "train"))) == expected
    assert copy_sidecars(url, tmp_path / "model", 4) == json.loads((local / "labels.json").read_text())
    assert (tmp_path / "model" / "vocab.json").read_bytes() == (local / "vocab.json").read_bytes()
    # A sidecar parquet beside a remote shard is read through fsspec instead of scanning the tar.
    assert count_samples(url, "train") == 64
    sidecar = io.BytesIO()
    pq.write_table(pa.table({"key": [f"k{i}" for i in range(5)]}), sidecar)
    fs.pipe("/mmpipe-test/shards/train/shard-000000.parquet", sidecar.getvalue())
    assert count_samples(url, "train") == 5 + 32


def _hostile_shard(path: Path, member: str) -> None:
    """A well-formed tar: one good sample, then ``member``."""
    with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("good-0.cls", b"0"), (member, b"1")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(("case", "member", "problem"), [("dotdot", "../evil.cls", "'..'"),
                                                         ("absolute", "/tmp/mmpipe-evil.cls", "absolute path")])
def test_hostile_remote_shard_is_refused_while_it_streams(tmp_path, www, served, case, member, problem):
    root, base = www
    local, _ = served
    hostile = root / f"hostile-{case}"
    shutil.copytree(local, hostile)
    _hostile_shard(hostile / "train" / "shard-000001.tar", member)
    url = f"{base}/{hostile.name}"
    shard = f"{url}/train/shard-000001.tar"
    with pytest.raises(UnsafeShardError, match=problem) as caught:
        list(read_raw_samples(shard_paths(url, "train")))
    assert (caught.value.shard, caught.value.member) == (shard, member)
    assert shard in str(caught.value) and repr(member) in str(caught.value)
    cfg = tiny_config(tmp_path, url, epochs=1)
    with pytest.raises(UnsafeShardError, match=problem):
        train(cfg)
    assert not Path(cfg.out).exists()  # refused while probing, before the model dir is written


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_unknown_protocol_and_unreachable_host_are_clear_errors():
    with pytest.raises(ShardError, match="cannot read nosuch://bucket/shards/train: Protocol not known: nosuch"):
        shard_paths("nosuch://bucket/shards", "train")
    with pytest.raises(ShardError, match="cannot list http://127.0.0.1:.*/shards/train/shard-\\*.tar"):
        shard_paths(f"http://127.0.0.1:{_free_port()}/shards", "train")


@pytest.mark.skipif(importlib.util.find_spec("s3fs") is not None, reason="s3fs is installed: the plugin is not missing")
def test_mm_train_on_s3_without_s3fs_names_the_missing_plugin(tmp_path):
    with pytest.raises(ShardError, match="Install s3fs"):
        shard_paths("s3://bucket/shards", "train")
    result = CliRunner().invoke(app, ["train", "--params", str(tmp_path / "none.yaml"), "--shards", "s3://bucket/shards",
                                      "--out", str(tmp_path / "m"), "--no-progress"])
    assert result.exit_code == 2
    output = " ".join(result.output.split())
    assert "train: cannot read s3://bucket/shards/train: Install s3fs to access S3" in output
    assert not (tmp_path / "m").exists()
