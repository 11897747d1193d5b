"""`mm build` and `mm inspect`: options override params.yaml (section ``build``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from flows.cli._app import app
from mmdata.build.config import BuildConfig
from mmdata.params import DEFAULT_PARAMS, load_config


@app.command("build")
def build_command(
    raw: str = typer.Option(None, "--raw", help="ingest output (manifest.parquet + objects/)"),
    out: str = typer.Option(None, "--out", help="shard set to write"),
    split: str = typer.Option(None, "--split", help="put every sample into this split (evaluation sets)"),
    reuse_from: str = typer.Option(None, "--reuse-from", help="training shards whose preprocessing, labels and vocab to reuse"),
    workers: int = typer.Option(None, "--workers", help="local worker processes"),
    partitions: int = typer.Option(None, "--partitions", help="work units (output does not depend on it per worker count)"),
    dask_address: str = typer.Option(None, "--dask-address", help="run partitions on this Dask scheduler"),
    seed: int = typer.Option(None, "--seed", help="split and shard-order seed"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file (section `build`)"),
    as_flow: bool = typer.Option(False, "--flow", help="run as the Prefect flow `build` (records a run and artifact)"),
) -> None:
    """Clean, annotate, standardize and shard a raw corpus into WebDataset tars."""
    if reuse_from and not split:
        split = "test"  # an external evaluation set goes into one split; test unless told otherwise
    overrides = dict(raw=raw, out=out, split=split, reuse_from=reuse_from, workers=workers, partitions=partitions,
                     dask_address=dask_address, seed=seed)
    cfg = load_config(BuildConfig, "build", params, overrides)
    console = Console()
    from mmdata.build.lock import BuildLocked

    try:
        if as_flow or cfg.dask_address:  # partitions reach a Dask cluster through the flow's task runner
            from flows.build import build_flow

            stats = build_flow(cfg)
        else:
            from mmdata.build.run import run_build

            stats = run_build(cfg)
    except (BuildLocked, FileNotFoundError, ValueError) as err:
        console.print(f"[red]build: {err}")
        raise typer.Exit(2) from None
    from mmdata.shards.inspect import print_summary, summarize

    print_summary(summarize(cfg.out), console)
    console.print(f"samples: {stats['samples']}")


@app.command("inspect")
def inspect_command(
    shards: Path = typer.Argument(..., help="a built shard set (the --out of `mm build`)"),
    report: Path = typer.Option(None, "--report", help="also write report.html and PNG plots into this folder"),
) -> None:
    """Per split: sample counts, per-class counts, modality coverage, bytes; group leakage check."""
    from mmdata.shards.inspect import print_summary, summarize

    console = Console()
    try:
        summary = summarize(shards)
    except FileNotFoundError as err:
        console.print(f"[red]inspect: {err}")
        raise typer.Exit(2) from None
    print_summary(summary, console)
    if report is not None:
        from mmdata.shards.report import write_report

        console.print(f"report: {write_report(shards, report)}")
