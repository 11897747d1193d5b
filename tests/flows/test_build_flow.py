"""The build flow under Prefect: local process runner, a Dask LocalCluster, params.yaml default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from flows.build import build_flow, make_task_runner
from flows.cli import app
from mmdata.build.config import BuildConfig
from tests.mmdata.build.corpus import make_raw_corpus


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    return make_raw_corpus(tmp_path_factory.mktemp("flow") / "raw", per_class=3, speakers=3)


def _shards(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.glob("*/shard-*"))}


def test_runner_choice():
    assert type(make_task_runner(BuildConfig())).__name__ == "ThreadPoolTaskRunner"
    assert type(make_task_runner(BuildConfig(workers=2))).__name__ == "ProcessPoolTaskRunner"
    assert type(make_task_runner(BuildConfig(dask_address="tcp://127.0.0.1:1"))).__name__ == "DaskTaskRunner"


def test_flow_on_local_processes_matches_the_plain_build(prefect_harness, raw, tmp_path):
    from mmdata.build.run import run_build

    run_build(BuildConfig(raw=str(raw), out=str(tmp_path / "plain"), partitions=2))
    stats = build_flow(BuildConfig(raw=str(raw), out=str(tmp_path / "processes"), partitions=2, workers=2))
    assert stats["samples"]["ok"] == 9
    assert _shards(tmp_path / "processes") == _shards(tmp_path / "plain")


def test_flow_on_a_dask_cluster_matches_the_plain_build(prefect_harness, raw, tmp_path):
    from distributed import LocalCluster

    from mmdata.build.run import run_build

    run_build(BuildConfig(raw=str(raw), out=str(tmp_path / "plain"), partitions=2))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        stats = build_flow(BuildConfig(raw=str(raw), out=str(tmp_path / "dask"), partitions=2,
                                       dask_address=cluster.scheduler_address))
        flow_tasks = len(cluster.scheduler.transition_log)
        # `mm build --dask-address` (without --flow) must reach the cluster too, not build locally.
        result = CliRunner().invoke(app, ["build", "--params", str(tmp_path / "none.yaml"), "--raw", str(raw),
                                          "--out", str(tmp_path / "cli"), "--partitions", "2",
                                          "--dask-address", cluster.scheduler_address])
        cli_tasks = len(cluster.scheduler.transition_log) - flow_tasks
    assert stats["samples"]["ok"] == 9
    assert _shards(tmp_path / "dask") == _shards(tmp_path / "plain")
    assert result.exit_code == 0, result.output
    assert flow_tasks > 0 and cli_tasks > 0
    assert _shards(tmp_path / "cli") == _shards(tmp_path / "plain")


def test_python_m_flows_build_reads_params_yaml(raw, tmp_path):
    params = {"build": {"raw": str(raw), "out": str(tmp_path / "shards"), "partitions": 2}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(Path.cwd()),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "flows.build"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert list((tmp_path / "shards" / "train").glob("shard-*.tar"))


def _shared_data() -> Path:
    return Path(os.environ.get("MMPIPE_SHARED_DATA", Path(__file__).resolve().parents[2] / ".." / "shared" / "data"))


@pytest.mark.skipif(not (_shared_data() / "fsdd").is_dir(), reason="shared AV-MNIST data (fsdd, mnist) not present")
def test_avmnist_build_and_inspect_keep_speakers_apart(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    from mmdata.ingest.config import IngestConfig
    from mmdata.ingest.run import run_ingest
    from mmdata.recipes.avmnist import prepare_avmnist

    prepare_avmnist(_shared_data(), tmp_path / "corpus", per_digit=12)
    run_ingest(IngestConfig(dirs=[str(tmp_path / "corpus")], out=str(tmp_path / "raw"), progress=False))
    runner = CliRunner()
    built = runner.invoke(app, ["build", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "shards"),
                                "--partitions", "2", "--params", str(tmp_path / "none.yaml")])
    assert built.exit_code == 0, built.output
    inspected = runner.invoke(app, ["inspect", str(tmp_path / "shards"), "--report", str(tmp_path / "report")])
    assert inspected.exit_code == 0, inspected.output
    assert "no group (e.g. speaker) is shared between splits" in inspected.output
    from mmdata.shards.inspect import summarize

    summary = summarize(tmp_path / "shards")
    speakers = [set(info["groups"]) for info in summary["splits"].values()]
    assert len(speakers) == 3 and all(speakers) and sum(len(s) for s in speakers) == len(set().union(*speakers)) == 4
    assert (tmp_path / "report" / "report.html").is_file()


def test_mm_build_and_inspect_cli(raw, tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    from mmdata.build.lock import build_lock

    runner = CliRunner()
    args = ["build", "--raw", str(raw), "--out", str(tmp_path / "shards"), "--partitions", "2",
            "--params", str(tmp_path / "absent.yaml")]
    built = runner.invoke(app, args)
    assert built.exit_code == 0, built.output
    inspected = runner.invoke(app, ["inspect", str(tmp_path / "shards")])
    assert inspected.exit_code == 0 and "samples per class" in inspected.output
    with build_lock(str(tmp_path / "shards")):
        refused = runner.invoke(app, args)
    assert refused.exit_code == 2 and "another build is already writing" in refused.output
    missing = runner.invoke(app, ["inspect", str(tmp_path / "nothing")])
    assert missing.exit_code == 2 and "no shards under" in missing.output
