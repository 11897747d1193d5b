"""`mm demo`: write the embedded demo corpus, then run every stage through the Prefect flows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from flows.cli._app import app
from mmdata.params import DEFAULT_PARAMS, load_config


def demo_table(metrics: dict[str, Any]) -> Table:
    """Fused model, each modality removed, each modality alone (when trained), with the gap to fused."""
    table = Table(title=f"demo: {metrics['split']} split, {metrics['n_samples']} samples, {len(metrics['labels'])} classes")
    for column in ("model", "accuracy", "macro-F1", "macro-F1 vs fused"):
        table.add_column(column, justify="left" if column == "model" else "right")
    fused = metrics["macro_f1"]
    table.add_row(f"fused ({metrics['fusion']}, {'+'.join(metrics['modalities'])})",
                  f"{metrics['accuracy']:.3f}", f"{fused:.3f}", "", style="bold")
    rows = [(name.replace("_", " "), s) for name, s in metrics.get("ablations", {}).items()]
    rows += [(f"{name} only (own model)", s) for name, s in metrics.get("unimodal", {}).items()]
    for name, scores in rows:
        table.add_row(name, f"{scores['accuracy']:.3f}", f"{scores['macro_f1']:.3f}", f"{scores['macro_f1'] - fused:+.3f}")
    return table


@app.command("demo")
def demo_command(
    corpus: Path = typer.Option(None, "--corpus", help="folder for the demo corpus (default: first ingest.dirs of params)"),
    corpus_only: bool = typer.Option(False, "--corpus-only", help="only write the corpus (the DVC pipeline's first stage)"),
    seed: int = typer.Option(0, "--seed", help="corpus seed (same seed, byte-identical files)"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file of the stages"),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="also train one model per modality alone"),
) -> None:
    """Write a small offline image+audio+text corpus, run ingest -> build -> train -> evaluate, print metrics."""
    console = Console()
    if corpus is None:
        from mmdata.demo import default_corpus_dir
        from mmdata.ingest.config import IngestConfig

        corpus = Path(default_corpus_dir(load_config(IngestConfig, "ingest", params).dirs))
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
        result = demo_flow(corpus=str(corpus), seed=seed, params=str(params), unimodal_baselines=baselines)
    except (FileExistsError, FileNotFoundError, ValueError, RuntimeError) as err:
        console.print(f"[red]demo: {err}")
        raise typer.Exit(2) from None
    console.print(demo_table(result["metrics"]))
    for name, where in result["outputs"].items():
        console.print(f"{name:>10}: {where}")
    console.print(f"pipeline time: {result['seconds']:.1f} s (corpus {result['corpus_seconds']:.1f} s)")
