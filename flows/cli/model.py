"""`mm train`, `mm evaluate`, `mm predict`, `mm export`: options override params.yaml sections."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from flows.cli._app import app
from mmdata.params import DEFAULT_PARAMS, load_config
from mmmodel.config import EvaluateConfig, TrainConfig


@app.command("train")
def train_command(
    shards: str = typer.Option(None, "--shards", help="shard folder from `mm build` (<shards>/<split>/shard-*.tar)"),
    out: str = typer.Option(None, "--out", help="model directory to write"),
    fusion: str = typer.Option(None, "--fusion", help="concat | attention | projection | lowrank | late | hybrid"),
    modalities: list[str] = typer.Option(None, "--modality", help="train on these modalities only (repeatable)"),
    epochs: int = typer.Option(None, "--epochs"),
    batch_size: int = typer.Option(None, "--batch-size", help="per process"),
    lr: float = typer.Option(None, "--lr", help="peak learning rate"),
    num_workers: int = typer.Option(None, "--num-workers", help="DataLoader worker processes"),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda"),
    seed: int = typer.Option(None, "--seed"),
    reports: str = typer.Option(None, "--reports", help="folder for the loss / F1 curves"),
    unimodal_baselines: bool = typer.Option(None, "--unimodal-baselines/--no-unimodal-baselines",
                                            help="also train one single-modality model per modality"),
    resume: bool = typer.Option(None, "--resume/--no-resume", help="continue from <out>/checkpoints/last.pt"),
    progress: bool = typer.Option(None, "--progress/--no-progress"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file (section `train`)"),
    as_flow: bool = typer.Option(False, "--flow", help="run as the Prefect flow `train`"),
) -> None:
    """Train the fused model on a shard set and write a model directory (works under torchrun too)."""
    overrides = dict(shards=shards, out=out, fusion=fusion, modalities=modalities or None, epochs=epochs,
                     batch_size=batch_size, lr=lr, num_workers=num_workers, device=device, seed=seed,
                     reports=reports, unimodal_baselines=unimodal_baselines, resume=resume, progress=progress)
    console = Console(stderr=True)
    try:
        cfg = load_config(TrainConfig, "train", params, overrides)
        if as_flow:
            from flows.train import train_flow

            summary = train_flow(cfg)
        else:
            from mmmodel.train import train

            summary = train(cfg, console)
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        console.print(f"[red]train: {err}")
        raise typer.Exit(2) from None
    if summary.get("world_size", 1) == 1 or _is_rank_zero():
        console.print(f"model written to {summary['model_dir']} (best val macro-F1 {summary['best_val_macro_f1']:.4f} "
                      f"at epoch {summary['best_epoch']}, {summary['steps']} steps, {summary['seconds']} s)")


def _is_rank_zero() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


@app.command("evaluate")
def evaluate_command(
    model: str = typer.Option(None, "--model", help="model directory from `mm train`"),
    shards: str = typer.Option(None, "--shards", help="shard folder to evaluate on"),
    split: str = typer.Option(None, "--split", help="split folder inside the shards (default test)"),
    out: str = typer.Option(None, "--out", help="report folder (metrics.json, confusion_matrix.png)"),
    device: str = typer.Option(None, "--device", help="auto | cpu | cuda"),
    train_baselines: bool = typer.Option(None, "--train-baselines/--no-train-baselines",
                                         help="train missing unimodal baselines with the model's budget"),
    progress: bool = typer.Option(None, "--progress/--no-progress"),
    params: Path = typer.Option(DEFAULT_PARAMS, "--params", help="params file (section `evaluate`)"),
    as_flow: bool = typer.Option(False, "--flow", help="run as the Prefect flow `evaluate`"),
) -> None:
    """Score a model on one split: metrics.json, confusion matrix, ablations and unimodal baselines."""
    overrides = dict(model=model, shards=shards, split=split, out=out, device=device,
                     train_baselines=train_baselines, progress=progress)
    console = Console(stderr=True)
    try:
        cfg = load_config(EvaluateConfig, "evaluate", params, overrides)
        if as_flow:
            from flows.evaluate import evaluate_flow

            evaluate_flow(cfg)
        else:
            from mmmodel.evaluate import evaluate

            evaluate(cfg, Console())
    except (ValueError, FileNotFoundError, RuntimeError) as err:
        console.print(f"[red]evaluate: {err}")
        raise typer.Exit(2) from None
    console.print(f"metrics written to {Path(cfg.out) / 'metrics.json'}")


@app.command("predict")
def predict_command(
    inputs: list[Path] = typer.Argument(..., help="raw files (files sharing a stem form one sample) or a csv/jsonl/parquet table"),
    model: Path = typer.Option(None, "--model", help="model directory (default: the registry champion)"),
    top: int = typer.Option(3, "--top", help="labels shown per sample"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda"),
) -> None:
    """Standardize raw inputs exactly as the build did and print labels with probabilities."""
    from mmmodel.predict import PredictError, default_model_dir, predict_paths, predictions_table

    console = Console()
    try:
        model_dir = model or default_model_dir()
        results = predict_paths(model_dir, inputs, device=device)
    except (PredictError, FileNotFoundError, ValueError) as err:
        Console(stderr=True).print(f"[red]predict: {err}")
        raise typer.Exit(2) from None
    console.print(predictions_table(results, top))


@app.command("export")
def export_command(
    model: Path = typer.Option(..., "--model", help="model directory"),
    out: Path = typer.Option(None, "--out", help="folder for model.ts and model.onnx (default: the model dir)"),
    check: bool = typer.Option(True, "--check/--no-check", help="compare onnxruntime with PyTorch on a random batch"),
) -> None:
    """Export a model to TorchScript and ONNX (and check onnxruntime parity)."""
    from mmmodel.export import export_model

    try:
        result = export_model(model, out or model, check=check)
    except (FileNotFoundError, ValueError, RuntimeError) as err:
        Console(stderr=True).print(f"[red]export: {err}")
        raise typer.Exit(2) from None
    Console().print(result)
