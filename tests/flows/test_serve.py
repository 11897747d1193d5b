"""`make serve` end to end: a real Prefect server, work pool, deployments from prefect.yaml and a worker.

The ingest deployment runs through the worker on a tiny corpus written here, and everything is
stopped afterwards (no process left behind).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
import soundfile
import yaml

from mmdata.manifest import read_raw_manifest
from mmdata.params import load_config
from mmmodel.nightly import NightlyConfig

REPO = Path(__file__).resolve().parents[2]
DEPLOYMENTS = {"ingest/default", "ingest/urls", "build/default", "train/default", "evaluate/default",
               "nightly/default"}


def write_corpus(root: Path) -> Path:
    """Two labelled folders: png + wav + txt sharing a stem, and a text-only and an audio-only sample."""
    rng = np.random.default_rng(0)
    for label in ("cat", "dog"):
        (root / label).mkdir(parents=True)
    cv2.imwrite(str(root / "cat" / "1.png"), rng.integers(0, 255, (24, 24, 3), dtype=np.uint8))
    soundfile.write(root / "cat" / "1.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    (root / "cat" / "1.txt").write_text("a small cat")
    (root / "dog" / "2.txt").write_text("a loud dog")
    soundfile.write(root / "dog" / "3.wav", (0.1 * rng.standard_normal(4000)).astype(np.float32), 16000)
    return root


def api_get(api_url: str, path: str, body: dict | None = None) -> dict | list:
    request = urllib.request.Request(f"{api_url}{path}", data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_make_serve_runs_the_ingest_deployment_and_stops_cleanly(tmp_path):
    home = tmp_path / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "MMPIPE_PREFECT_PORT": "0", "MMPIPE_WORKSPACE_LOCK": str(tmp_path / "workspace.lock")}
    env.pop("PREFECT_API_URL", None)
    serve = [sys.executable, "-m", "flows.serve"]
    started = subprocess.run([*serve, "start"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    info = json.loads((home / "serve" / "serve.json").read_text()) if (home / "serve" / "serve.json").is_file() else {}
    pids = [info.get("server_pid"), *info.get("worker_pids", [])]
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        api_url = info["api_url"]
        assert api_url.startswith("http://127.0.0.1:") and f"export PREFECT_API_URL={api_url}" in started.stdout
        assert all(pid and alive(pid) for pid in pids)
        assert (home / "prefect.db").is_file()  # SQLite under the project-local PREFECT_HOME

        for name in DEPLOYMENTS:  # 404 raises
            assert api_get(api_url, f"/deployments/name/{name}")["work_pool_name"] == "mmpipe"
        nightly = api_get(api_url, "/deployments/name/nightly/default")
        expected = load_config(NightlyConfig, "nightly", REPO / "params.yaml")
        [schedule] = nightly["schedules"]
        assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == (expected.cron, expected.timezone)
        # prefect.yaml's own schedule agrees with params.yaml, for a plain `prefect deploy --all`.
        spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
        [yaml_schedule] = next(d for d in spec["deployments"] if d["entrypoint"].startswith("flows/nightly.py"))["schedules"]
        assert (yaml_schedule["cron"], yaml_schedule["timezone"]) == (expected.cron, expected.timezone)

        corpus = write_corpus(tmp_path / "corpus")
        params = {"config": {"dirs": [str(corpus)], "out": str(tmp_path / "raw"), "progress": False}}
        run = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "ingest/default", "--params",
                              json.dumps(params), "--watch", "--watch-timeout", "180"],
                             cwd=tmp_path, env={**env, "PREFECT_API_URL": api_url}, capture_output=True, text=True,
                             timeout=240)
        assert run.returncode == 0 and "Completed" in run.stdout, run.stdout[-3000:] + run.stderr[-3000:]

        manifest = read_raw_manifest(tmp_path / "raw")
        assert len(manifest) == 5 and set(manifest["status"]) == {"ok"}
        assert sorted(manifest["key"].unique()) == ["1", "2", "3"]
        assert manifest.groupby("key")["label"].first().to_dict() == {"1": "cat", "2": "dog", "3": "dog"}
        assert sorted(manifest.loc[manifest["key"] == "1", "modality"]) == ["audio", "image", "text"]
        worker_log = (home / "serve" / "worker.log").read_text()
        assert "ingested 5 items" in worker_log  # the task says what it did

        # Parameters are validated against the stage config's schema before a run is created.
        refused = subprocess.run([sys.executable, "-m", "prefect", "deployment", "run", "ingest/default", "--params",
                                  json.dumps({"config": {"dirs": [str(corpus)], "no_such_option": 1}})],
                                 cwd=tmp_path, env={**env, "PREFECT_API_URL": api_url}, capture_output=True, text=True,
                                 timeout=120)
        assert refused.returncode != 0 and "no_such_option" in refused.stdout + refused.stderr

        again = subprocess.run([*serve, "start"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "already running" in again.stdout
    finally:
        family = [p for pid in pids if pid and alive(pid) for p in [psutil.Process(pid), *psutil.Process(pid).children(True)]]
        stopped = subprocess.run([*serve, "stop"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert stopped.returncode == 0 and "stopped worker" in stopped.stdout, stopped.stdout + stopped.stderr
    assert family and not [p.pid for p in family if alive(p.pid)]
    assert not (home / "serve" / "server.pid").exists() and not (home / "serve" / "worker.pid").exists()
