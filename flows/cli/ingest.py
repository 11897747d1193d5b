"""`mm ingest` and `mm recipe <name>`: options override params.yaml (section ``ingest``)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from flows.cli._app import app
from mmdata.ingest.config import IngestConfig
from mmdata.params import DEFAULT_PARAMS, load_config


@app.command("ingest")
def ingest_command(
    dirs: list[str] = typer.Option(None, "--dir", help="folder of files; files sharing a stem form a sample (repeatable)"),
    tables: list[str] = typer.Option(None, "--table", help="csv/jsonl/parquet table, one row per sample (repeatable)"),
    crawl: list[str] = typer.Option(None, "--crawl", help="start URL of a same-site crawl (repeatable)"),
    out: str = typer.Option(None, "--out", help="raw output folder (manifest.parquet + objects/)"),
    max_pages: int = typer.Option(None, "--max-pages", help="crawl: pages fetched at most"),
    max_depth: int = typer.Option(None, "--max-depth", help="crawl: link depth from the start URLs"),
    allowed_hosts: list[str] = typer.Option(None, "--allow-host", help="crawl: extra host pages may be followed to"),
    allow_private_network: bool = typer.Option(None, "--allow-private-network/--no-allow-private-network",
                                               help="permit loopback/private/link-local targets (refused by default)"),
    retry_failed: bool = typer.Option(None, "--retry-failed/--no-retry-failed", help="retry items that failed before"),
    concurrency: int = typer.Option(None, "--concurrency", help="requests in flight"),
    timeout_s: float = typer.Option(None, "--timeout", help="per-request time limit in seconds"),
    retries: int = typer.Option(None, "--retries", help="extra attempts on transient errors"),
    max_bytes: int = typer.Option(None, "--max-bytes", help="cap on bytes per item"),
    label_pattern: str = typer.Option(None, "--label-pattern", help="regex with (?P<label>..) / (?P<group>..) on file names"),
    progress: bool = typer.Option(None, "--progress/--no-progress"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file (section `ingest`)"),
    as_flow: bool = typer.Option(False, "--flow", help="run as the Prefect flow `ingest` (records a run and artifact)"),
) -> None:
    """Ingest folders, tables and crawls into a raw store with one manifest row per input item."""
    overrides = dict(
        out=out, max_pages=max_pages, max_depth=max_depth, allowed_hosts=allowed_hosts or None,
        allow_private_network=allow_private_network, retry_failed=retry_failed, concurrency=concurrency,
        timeout_s=timeout_s, retries=retries, max_bytes=max_bytes, label_pattern=label_pattern, progress=progress,
    )
    if dirs or tables or crawl:
        # Sources named on the command line replace the ones in params.yaml, not add to them.
        overrides.update(dirs=dirs or [], tables=tables or [], crawl=crawl or [])
    cfg = load_config(IngestConfig, "ingest", params, overrides)
    console = Console()
    if as_flow:
        from flows.ingest import ingest_flow

        console.print(ingest_flow(cfg))
        return
    from mmdata.ingest.run import run_ingest

    try:
        summary = run_ingest(cfg, console=console)
    except (ValueError, RuntimeError) as err:
        console.print(f"[red]ingest: {err}")
        raise typer.Exit(2) from None
    console.print(summary.rich_table())


RECIPES = ("avmnist", "asterisk", "icons")


@app.command("recipe")
def recipe_command(
    name: str = typer.Argument(..., help=f"one of: {', '.join(RECIPES)}"),
    out: Path = typer.Option(..., "--out", help="folder to write (a source directory `mm ingest --dir` reads)"),
    data: Path = typer.Option(None, "--data", help="avmnist: folder with fsdd/ and mnist/ (default $MMPIPE_SHARED_DATA or ../shared/data)"),
    seed: int = typer.Option(0, "--seed", help="avmnist: pairing and noise seed"),
    per_digit: int = typer.Option(None, "--per-digit", help="avmnist: recordings per digit at most"),
    image_noise: float = typer.Option(0.0, "--image-noise", help="avmnist: 0..1 share of uniform noise blended into images"),
    occlude: bool = typer.Option(False, "--occlude", help="avmnist: black out a block of each image"),
    source: Path = typer.Option(None, "--source", help="asterisk/icons: installed data folder (Debian default)"),
) -> None:
    """Write a ready-to-ingest corpus folder from a known dataset (data origin and license in recipe.json)."""
    from mmdata.recipes.common import RecipeSourceMissing, shared_data_dir

    console = Console()
    try:
        if name == "avmnist":
            from mmdata.recipes.avmnist import prepare_avmnist

            written = prepare_avmnist(data or shared_data_dir(), out, seed=seed, per_digit=per_digit,
                                      image_noise=image_noise, occlude=occlude)
        elif name == "asterisk":
            from mmdata.recipes.asterisk import SOUNDS_DIR, prepare_asterisk

            written = prepare_asterisk(out, source or SOUNDS_DIR)
        elif name == "icons":
            from mmdata.recipes.icons import THEME_DIR, prepare_icons

            written = prepare_icons(out, source or THEME_DIR)
        else:
            console.print(f"[red]unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
            raise typer.Exit(2)
    except (RecipeSourceMissing, FileNotFoundError, ValueError) as err:
        console.print(f"[red]recipe {name}: {err}")
        raise typer.Exit(2) from None
    console.print(f"recipe {name}: wrote {written} (ingest with `mm ingest --dir {written} --out ...`)")
