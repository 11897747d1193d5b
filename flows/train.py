"""Prefect flow of the train stage: train the fused model, publish the epoch curve as an artifact."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.workspace import workspace_lock
from mmdata.params import load_config
from mmmodel.config import TrainConfig
from mmmodel.train import train


# Compute, not I/O: no retries (a failure would repeat). Re-running the flow resumes from the
# last checkpoint. No Prefect caching: DVC decides whether the stage is up to date.
@task(name="train-model", cache_policy=NO_CACHE)
def train_model(config: TrainConfig) -> dict[str, Any]:
    summary = train(config)
    get_run_logger().info(
        "trained %s (%s fusion, %s) on %d samples: %d epochs, %d steps, best val macro-F1 %.4f at epoch %s, in %.1f s",
        summary["model_dir"], summary["fusion"], "+".join(summary["modalities"]), summary["n_train_samples"],
        summary["epochs_run"], summary["steps"], summary["best_val_macro_f1"], summary["best_epoch"],
        summary["seconds"])
    return summary


@task(name="publish-training-curve", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_curve(summary: dict[str, Any]) -> None:
    if summary["history"]:
        create_table_artifact(table=summary["history"], key="train-curve", description="per-epoch training curve")


@flow(name="train", log_prints=True)
def train_flow(config: TrainConfig | None = None) -> dict[str, Any]:
    """Train on ``config.shards`` into ``config.out``; ``None`` reads params.yaml section ``train``."""
    config = config or load_config(TrainConfig, "train")
    with workspace_lock(get_run_logger()):
        summary = train_model(config)
    publish_curve(summary)
    return summary


if __name__ == "__main__":
    train_flow()
