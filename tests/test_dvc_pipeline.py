"""The DVC pipeline for real: `dvc repro`, metrics, a no-op re-run, plots, a remote round trip, an experiment.

Real git and DVC run in a copy of the working tree (its tracked and not-ignored files, so
uncommitted edits of dvc.yaml are what is tested), committed to a fresh git repository, with
params.yaml shrunk so the whole pipeline runs in a couple of minutes on two cores. The stage
commands run as users run them: `mm` / `python` from this environment, no Prefect server
(each flow starts its ephemeral API), Prefect state in a temporary PREFECT_HOME.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGES = ("corpus", "ingest", "build", "train", "evaluate")
NOOP_LIMIT_S = 10.0
PIPELINE_OUTPUTS = ("data/", "models/", "reports/", "dvc_plots/")
# Smallest settings that still exercise every stage: one epoch of a narrow model, two build partitions.
TINY = {
    "ingest": {"progress": False},
    "build": {"partitions": 2, "workers": 1},
    "train": {"epochs": 1, "dim": 16, "conv_width": 4, "conv_blocks": 2, "text_layers": 1, "progress": False},
    "evaluate": {"progress": False},
}


def _tools_missing() -> str | None:
    if shutil.which("git") is None:
        return "git is not installed"
    if not (BIN / "dvc").exists() or not (BIN / "mm").exists():
        return "dvc / mm are not installed in this environment (make setup)"
    if subprocess.run(["git", "-C", str(REPO), "rev-parse"], capture_output=True).returncode != 0:
        return "not a git checkout: nothing to copy the pipeline from"
    return None


def _env(root: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_", "DVC_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        # `mm` is a console script: without this it would import the checkout's code, not the copy's.
        PYTHONPATH=str(root),
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "2"),
        # Spinning OpenMP threads make torch many times slower on busy shared cores (as `mm demo` sets it).
        OMP_WAIT_POLICY=env.get("OMP_WAIT_POLICY", "PASSIVE"),
        GIT_AUTHOR_NAME="mmpipe test", GIT_AUTHOR_EMAIL="test@example.invalid",
        GIT_COMMITTER_NAME="mmpipe test", GIT_COMMITTER_EMAIL="test@example.invalid",
    )
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def _copy_working_tree(dest: Path) -> None:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if name == "dvc.lock" or name.startswith(PIPELINE_OUTPUTS):
            continue  # a run in the checkout must not seed the copy: it starts like a fresh clone
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Pipeline:
    """A reproduced copy of the project: where it is, how to run commands in it, what the repro took."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.env = root, env
        self.repro: subprocess.CompletedProcess | None = None
        self.repro_s = 0.0

    def run(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return _run(list(args), cwd or self.root, self.env, timeout)

    def dvc(self, *args: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
        return self.run(str(BIN / "dvc"), *args, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Pipeline:
    missing = _tools_missing()
    if missing:
        pytest.skip(missing)
    base = tmp_path_factory.mktemp("dvc")
    root = base / "project"
    root.mkdir()
    _copy_working_tree(root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for section, values in TINY.items():
        params[section] = {**(params.get(section) or {}), **values}
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    p = Pipeline(root, _env(root, base / "prefect-home"))
    p.run("git", "init", "-q", "-b", "main")
    p.run("git", "add", "-A")
    p.run("git", "commit", "-q", "-m", "project with tiny params")
    started = time.perf_counter()
    p.repro = p.dvc("repro")
    p.repro_s = time.perf_counter() - started
    print(f"\nfull dvc repro: {p.repro_s:.1f} s")
    return p


def _commit(pipeline: Pipeline, *paths: str, message: str) -> None:
    """Commit ``paths`` unless they are committed as they are (the tests that need it run in any order)."""
    pipeline.run("git", "add", *paths)
    if subprocess.run(["git", "diff", "--cached", "--quiet"], cwd=pipeline.root).returncode != 0:
        pipeline.run("git", "commit", "-q", "-m", message)


def _assert_noop(proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout
    assert "Running stage" not in out, out
    for stage in STAGES:
        assert f"Stage '{stage}' didn't change, skipping" in out, out
    assert "Data and pipelines are up to date." in out, out


def test_repro_runs_every_stage_and_records_it_in_dvc_lock(pipeline):
    for stage in STAGES:
        assert f"Running stage '{stage}'" in pipeline.repro.stdout
    root = pipeline.root
    assert (root / "data/demo/labels.csv").is_file()
    assert (root / "data/raw/manifest.parquet").is_file()
    for split in ("train", "val", "test"):
        assert sorted(p.name for p in (root / "data/shards" / split).iterdir()) == ["shard-000000.parquet",
                                                                                    "shard-000000.tar"]
    assert json.loads((root / "data/shards/stats.json").read_text())
    assert (root / "models/current/model.pt").is_file()
    with (root / "reports/train/curves.csv").open() as f:
        assert [row["epoch"] for row in csv.DictReader(f)] == ["1"]  # the tiny params were read: one epoch
    assert (root / "reports/confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lock = yaml.safe_load((root / "dvc.lock").read_text())
    assert set(lock["stages"]) == set(STAGES)
    assert lock["stages"]["train"]["params"]["params.yaml"]["train"]["epochs"] == 1
    assert {o["path"] for o in lock["stages"]["train"]["outs"]} == {"models/current", "reports/train"}


def test_metrics_show_prints_accuracy(pipeline):
    metrics = json.loads((pipeline.root / "reports/metrics.json").read_text())
    table = pipeline.dvc("metrics", "show").stdout
    assert "reports/metrics.json" in table and "accuracy" in table and "macro_f1" in table
    shown = json.loads(pipeline.dvc("metrics", "show", "--json").stdout)
    (workspace,) = shown.values()  # one entry: the workspace
    data = workspace["data"]["reports/metrics.json"]["data"]
    assert data["accuracy"] == pytest.approx(metrics["accuracy"])
    assert data["n_samples"] == metrics["n_samples"] > 0


def test_second_repro_does_nothing_and_is_fast(pipeline):
    lock_before = (pipeline.root / "dvc.lock").read_bytes()
    started = time.perf_counter()
    proc = pipeline.dvc("repro")
    elapsed = time.perf_counter() - started
    print(f"\nno-op dvc repro: {elapsed:.1f} s")
    _assert_noop(proc)
    assert elapsed < NOOP_LIMIT_S, f"no-op dvc repro took {elapsed:.1f} s"
    assert (pipeline.root / "dvc.lock").read_bytes() == lock_before
    assert "Data and pipelines are up to date." in pipeline.dvc("status").stdout


def test_plots_show_renders_curves_and_confusion_matrix(pipeline, tmp_path):
    pipeline.dvc("plots", "show", "-o", str(tmp_path / "plots"))
    html = (tmp_path / "plots" / "index.html").read_text()
    for title in ("Training loss", "Validation scores", "Confusion matrix (test split)"):
        assert title in html
    assert '"train_loss"' in html and '"val_macro_f1"' in html
    assert '"actual"' in html and '"predicted"' in html  # the confusion template got predictions.csv
    images = list((tmp_path / "plots" / "static").glob("*confusion_matrix.png"))
    assert len(images) == 1 and images[0].read_bytes() == (pipeline.root / "reports/confusion_matrix.png").read_bytes()


def test_remote_round_trip_then_repro_is_a_noop(pipeline, tmp_path):
    remote, clone = tmp_path / "remote", tmp_path / "clone"
    pipeline.dvc("remote", "add", "-f", "-d", "storage", str(remote))
    _commit(pipeline, ".dvc/config", "dvc.lock", "reports/metrics.json", message="pipeline results and remote")
    pipeline.dvc("push")
    assert any(remote.rglob("*")), "dvc push stored nothing"

    pipeline.run("git", "clone", "-q", str(pipeline.root), str(clone))
    assert not (clone / "models").exists()  # data comes from the remote, not from git
    assert (clone / "reports/metrics.json").is_file()  # cache: false metrics come with git
    pipeline.dvc("pull", cwd=clone)
    for path in ("models/current/model.pt", "data/shards/train/shard-000000.tar", "data/raw/manifest.parquet",
                 "reports/train/curves.csv", "reports/predictions.csv"):
        assert _sha256(clone / path) == _sha256(pipeline.root / path), path
    assert "Data and pipelines are up to date." in pipeline.dvc("status", cwd=clone).stdout
    _assert_noop(pipeline.dvc("repro", cwd=clone))


def test_experiment_with_attention_fusion_is_compared_with_the_baseline(pipeline):
    # The baseline's metrics must be in its commit for `exp show` to list them, whichever test ran first.
    _commit(pipeline, "dvc.lock", "reports/metrics.json", message="pipeline results")
    try:
        proc = pipeline.dvc("exp", "run", "-S", "train.fusion=attention")
        for stage in ("corpus", "ingest", "build"):  # data stages are untouched by a train param
            assert f"Stage '{stage}' didn't change, skipping" in proc.stdout
        assert "Running stage 'train'" in proc.stdout and "Running stage 'evaluate'" in proc.stdout
        assert json.loads((pipeline.root / "reports/metrics.json").read_text())["fusion"] == "attention"

        rows = list(csv.DictReader(io.StringIO(pipeline.dvc("exp", "show", "--csv").stdout)))
        baseline = next(r for r in rows if r["typ"] == "baseline" and r["rev"] == "main")
        experiments = [r for r in rows if r["typ"].startswith("branch")]
        assert baseline["train.fusion"] == "concat"
        assert [r["train.fusion"] for r in experiments] == ["attention"]
        assert experiments[0]["Experiment"] and float(experiments[0]["accuracy"]) >= 0.0
        assert baseline["accuracy"] and float(baseline["accuracy"]) >= 0.0
    finally:  # back to the committed baseline, so the other tests see it in any order
        pipeline.run("git", "checkout", "-q", "--", ".")
        pipeline.dvc("checkout", "--force")
