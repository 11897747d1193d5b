"""`mm models`: lists the registry, promotes by hand, registers a trained model directory."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from mmmodel.registry import CHAMPION, REJECTED, RETIRED, ModelRecord, Registry, utc_now


def test_lists_promotes_and_registers(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")  # rich reads the width from here
    registry = tmp_path / "reg.json"
    runner = CliRunner()
    empty = runner.invoke(app, ["models", "--registry", str(registry)])
    assert empty.exit_code == 0 and "no models registered" in empty.output

    store = Registry(registry)
    store.add(ModelRecord(id="m1", model_dir="models/m1", status=CHAMPION, created=utc_now(), metrics={"macro_f1": 0.9}))
    store.add(ModelRecord(id="m2", model_dir="models/m2", status=REJECTED, created=utc_now(), metrics={"macro_f1": 0.4}))
    listed = runner.invoke(app, ["models", "--registry", str(registry)])
    assert listed.exit_code == 0 and "model registry" in listed.output
    assert "m1" in listed.output and "0.9000" in listed.output and "rejected" in listed.output

    rolled = runner.invoke(app, ["models", "--registry", str(registry), "--promote", "m2"])
    assert rolled.exit_code == 0 and store.champion().id == "m2" and store.get("m1").status == RETIRED
    missing = runner.invoke(app, ["models", "--registry", str(registry), "--promote", "nope"])
    assert missing.exit_code == 2 and "not in" in missing.output

    model = tmp_path / "models" / "current"
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"train": {"shards": str(tmp_path / "shards"), "epochs": 3}}))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "metrics.json").write_text(json.dumps({"model": "models/current", "macro_f1": 0.7,
                                                                   "accuracy": 0.8, "n_samples": 10}))
    registered = runner.invoke(app, ["models", "--registry", str(registry), "--register", "models/current"])
    assert registered.exit_code == 0, registered.output
    champion = store.champion()
    assert champion.model_dir == "models/current" and champion.metrics["macro_f1"] == 0.7
    assert champion.params["epochs"] == 3 and store.get("m2").status == RETIRED
    not_a_model = runner.invoke(app, ["models", "--registry", str(registry), "--register", str(tmp_path)])
    assert not_a_model.exit_code == 2 and "not a model directory" in not_a_model.output
