"""`mm demo`: write the embedded demo corpus, then run every stage through the Prefect flows."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from flows.cli._app import app
from mmdata.params import DEFAULT_PARAMS, load_params


def default_corpus_dir(params: Path) -> Path:
    """The first ``ingest.dirs`` entry of the params file (``data/demo`` in the project's params.yaml)."""
    dirs = (load_params(params).get("ingest") or {}).get("dirs") or ["data/demo"]
    return Path(dirs[0] if isinstance(dirs, list) else dirs)


@app.command("demo")
def demo_command(
    corpus: Path = typer.Option(None, "--corpus", help="folder for the demo corpus (default: first ingest.dirs of params)"),
    corpus_only: bool = typer.Option(False, "--corpus-only", help="only write the corpus (the DVC pipeline's first stage)"),
    seed: int = typer.Option(0, "--seed", help="corpus seed (same seed, byte-identical files)"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file of the stages"),
) -> None:
    """Write a small offline image+audio+text corpus, run ingest -> build -> train -> evaluate, print metrics."""
    console = Console()
    corpus = corpus or default_corpus_dir(params)
    if corpus_only:
        from mmdata.demo import write_demo_corpus

        try:
            summary = write_demo_corpus(corpus, seed=seed)
        except (FileExistsError, ValueError) as err:
            console.print(f"[red]demo: {err}")
            raise typer.Exit(2) from None
        console.print(f"demo corpus: {summary['samples']} samples, {summary['files']} files "
                      f"({len(summary['bad_items'])} deliberately broken items) in {summary['out']}")
        return
    from flows.demo import demo_flow

    try:
        result = demo_flow(corpus=str(corpus), seed=seed, params=str(params))
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as err:
        console.print(f"[red]demo: {err}")
        raise typer.Exit(2) from None
    from mmmodel.evaluate import metrics_table

    console.print(metrics_table(result["metrics"]))
    for name, where in result["outputs"].items():
        console.print(f"{name:>10}: {where}")
    console.print(f"pipeline time: {result['seconds']:.1f} s (corpus {result['corpus_seconds']:.1f} s)")
