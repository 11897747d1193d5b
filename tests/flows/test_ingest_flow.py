"""The ingest flow under Prefect: summary returned, markdown artifact published, params.yaml default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml

from flows.ingest import ingest_flow
from mmdata.ingest.config import IngestConfig
from mmdata.manifest import read_raw_manifest
from tests.flows.conftest import read_artifacts
from tests.mmdata.net.site import png_bytes


def small_folder(root):
    (root / "a").mkdir(parents=True)
    (root / "a" / "1.png").write_bytes(png_bytes(3))
    (root / "a" / "1.txt").write_text("one")
    (root / "a" / "2.txt").write_text("")
    return root


def test_flow_returns_summary_and_publishes_artifact(prefect_harness, tmp_path):
    folder = small_folder(tmp_path / "in")
    result = ingest_flow(IngestConfig(dirs=[str(folder)], out=str(tmp_path / "raw"), progress=False))
    assert result["by_status"] == {"dropped": 1, "ok": 2}
    assert result["by_reason"] == {"dropped: empty_file": 1}
    assert len(read_raw_manifest(tmp_path / "raw")) == 3
    markdown = read_artifacts("ingest-summary")[-1].data
    assert "# Ingest summary" in markdown and "| dropped: empty_file | 1 |" in markdown


def test_flow_without_config_reads_params_yaml(prefect_harness, tmp_path, monkeypatch):
    small_folder(tmp_path / "in")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"ingest": {"dirs": ["in"], "out": "raw", "progress": False}}))
    monkeypatch.chdir(tmp_path)
    result = ingest_flow()
    assert result["items"] == 3 and (tmp_path / "raw" / "manifest.parquet").is_file()


@pytest.mark.slow
def test_python_dash_m_flows_ingest(tmp_path):
    small_folder(tmp_path / "in")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"ingest": {"dirs": ["in"], "out": "raw", "progress": False}}))
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / ".prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    proc = subprocess.run([sys.executable, "-m", "flows.ingest"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(read_raw_manifest(tmp_path / "raw")) == 3
