"""Two `mm build` processes on the same output: they serialise (lock timeout) or one refuses clearly;
neither corrupts the other, and the output equals a build that ran alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from mmdata.build.config import BuildConfig
from mmdata.build.run import run_build
from tests.mmdata.build.corpus import make_raw_corpus
from tests.mmdata.build.test_run import _shard_bytes

MM = str(Path(sys.executable).parent / "mm")
REFUSAL = "another build is already writing to"
PARTITIONS = 3

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    work = tmp_path_factory.mktemp("concurrent")
    raw = make_raw_corpus(work / "raw", per_class=6, speakers=3)
    alone = work / "alone"
    run_build(BuildConfig(raw=str(raw), out=str(alone), partitions=PARTITIONS))
    return raw, _shard_bytes(alone), (alone / "manifest.parquet").read_bytes()


def _mm_build(raw: Path, out: Path, lock_timeout_s: float) -> subprocess.Popen:
    params = out.parent / f"params-{lock_timeout_s:g}.yaml"
    params.write_text(yaml.safe_dump({"build": {"partitions": PARTITIONS, "lock_timeout_s": lock_timeout_s}}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "300"}
    return subprocess.Popen([MM, "build", "--raw", str(raw), "--out", str(out), "--params", str(params)],
                            env=env, cwd=out.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    output, _ = proc.communicate(timeout=300)
    return proc.returncode, output


def _assert_like_alone(out: Path, corpus) -> None:
    _, shards, manifest = corpus
    assert _shard_bytes(out) == shards
    assert (out / "manifest.parquet").read_bytes() == manifest
    assert not list(out.rglob(".tmp-*"))


def test_builds_started_together_serialise_under_a_lock_timeout(corpus, tmp_path):
    raw = corpus[0]
    out = tmp_path / "shards"
    first, second = _mm_build(raw, out, 300), _mm_build(raw, out, 300)
    outcomes = [_finish(first), _finish(second)]
    assert [code for code, _ in outcomes] == [0, 0], outcomes
    _assert_like_alone(out, corpus)


def test_a_build_started_while_another_runs_is_refused_and_harms_nothing(corpus, tmp_path):
    raw = corpus[0]
    out = tmp_path / "shards"
    running = _mm_build(raw, out, 0)
    deadline = time.monotonic() + 120
    while not (out / ".work").exists() and running.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # .work appears only once the build holds the lock
    # Pause the first build while it holds the lock (a real lock held by a real process), so the
    # second surely meets it however slowly the second starts on a loaded machine.
    running.send_signal(signal.SIGSTOP)
    try:
        assert running.poll() is None, "the first build finished before the second could start"
        code, output = _finish(_mm_build(raw, out, 0))
    finally:
        running.send_signal(signal.SIGCONT)
    assert code == 2 and REFUSAL in " ".join(output.split()), output
    assert _finish(running)[0] == 0
    _assert_like_alone(out, corpus)
