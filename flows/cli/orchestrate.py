"""`mm models` (the model registry) and `mm nightly` (one nightly retraining, without a server)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from flows.cli._app import app
from mmdata.params import DEFAULT_PARAMS, load_config


@app.command("models")
def models_command(
    registry: Path = typer.Option(None, "--registry", help="registry file (default: params.yaml nightly.registry, "
                                                            "$MMPIPE_REGISTRY or models/registry.json)"),
    metric: str = typer.Option("macro_f1", "--metric", help="metric column to show"),
    promote: str = typer.Option(None, "--promote", help="make this model id the champion (e.g. to roll back)"),
    register: Path = typer.Option(None, "--register", help="register a trained model directory as the champion"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file (section `nightly`)"),
) -> None:
    """List the model registry: champion, challengers, rejected and failed models with their metrics."""
    from mmmodel.registry import Registry, records_table

    console = Console()
    store = Registry(registry or _registry_from_params(params))
    try:
        if promote:
            record = store.promote(promote, reason="promoted by hand (mm models --promote)")
            console.print(f"champion is now {record.id} ({record.model_dir})")
        if register:
            record = _register(store, register)
            console.print(f"registered {record.model_dir} as champion {record.id}")
    except (KeyError, ValueError, FileNotFoundError) as err:
        Console(stderr=True).print(f"[red]models: {err}")
        raise typer.Exit(2) from None
    records = store.records()
    if not records:
        console.print(f"no models registered in {store.path} (the nightly flow registers each challenger)")
        return
    console.print(records_table(records, metric))


def _registry_from_params(params: Path) -> Path | None:
    import os

    from mmmodel.nightly import NightlyConfig
    from mmmodel.registry import REGISTRY_ENV

    if os.environ.get(REGISTRY_ENV):
        return None  # Registry() reads the environment
    return Path(load_config(NightlyConfig, "nightly", params).registry)


def _register(store, model_dir: Path):
    from mmmodel.registry import register_model_dir

    metrics_path = Path("reports") / "metrics.json"  # where `dvc repro`'s evaluate stage leaves them
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return register_model_dir(store, model_dir, metrics)


@app.command("nightly")
def nightly_command(
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file (every stage's section + `nightly`)"),
) -> None:
    """Run one nightly retraining now, as a Prefect flow (the `nightly/default` deployment does it on schedule)."""
    from flows.nightly import nightly_flow

    result = nightly_flow(params=str(params))
    Console().print(f"challenger {result['model_id']}: {result['status']} ({result['reason']}); "
                    f"champion {result['champion']}")
