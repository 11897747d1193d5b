"""`mm ingest` and `mm recipe`: command-line options override params.yaml; errors are clear."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from flows.cli import app
from mmdata.manifest import read_raw_manifest
from tests.mmdata.recipes.data import fake_shared_data

runner = CliRunner()


def test_cli_sources_replace_params_sources_and_options_override(tmp_path):
    wanted, unwanted = tmp_path / "wanted", tmp_path / "unwanted"
    wanted.mkdir()
    unwanted.mkdir()
    (wanted / "a.txt").write_text("x" * 50)
    (wanted / "b.txt").write_text("short")
    (unwanted / "c.txt").write_text("should not be read")
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"ingest": {"dirs": [str(unwanted)], "out": str(tmp_path / "p"), "max_bytes": 20}}))
    result = runner.invoke(app, ["ingest", "--dir", str(wanted), "--out", str(tmp_path / "raw"), "--params", str(params),
                                 "--no-progress"])
    assert result.exit_code == 0, result.output
    frame = read_raw_manifest(tmp_path / "raw").set_index("key")
    assert sorted(frame.index) == ["a", "b"]  # the params dirs were replaced, not added to
    assert frame.loc["a", "reason"] == "too_large: 50 > cap 20"  # max_bytes still from params.yaml
    assert "ingest ->" in result.output and "status ok" in result.output
    assert not (tmp_path / "p").exists()


def test_cli_without_sources_explains(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("ingest: {}\n")
    result = runner.invoke(app, ["ingest", "--params", str(params), "--out", str(tmp_path / "raw")])
    assert result.exit_code == 2 and "no sources" in result.output


def test_recipe_avmnist_writes_an_ingestable_folder(tmp_path):
    data = fake_shared_data(tmp_path / "shared")
    result = runner.invoke(app, ["recipe", "avmnist", "--data", str(data), "--out", str(tmp_path / "av"),
                                 "--image-noise", "0.5", "--occlude", "--per-digit", "2"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "av" / "labels.csv").read_text().splitlines()) == 7


def test_recipe_errors_are_clear(tmp_path):
    missing = runner.invoke(app, ["recipe", "icons", "--source", str(tmp_path / "none"), "--out", str(tmp_path / "i")])
    assert missing.exit_code == 2 and "adwaita-icon-theme" in missing.output
    unknown = runner.invoke(app, ["recipe", "imagenet", "--out", str(tmp_path / "x")])
    assert unknown.exit_code == 2 and "unknown recipe" in unknown.output
