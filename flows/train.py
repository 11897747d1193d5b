"""Prefect flow of the train stage: train the fused model, publish the epoch curve as an artifact."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from mmdata.params import load_config
from mmmodel.config import TrainConfig
from mmmodel.train import train


# Training resumes from its last checkpoint, so a retry continues instead of starting over.
@task(name="train-model", retries=1, retry_delay_seconds=5)
def train_model(config: TrainConfig) -> dict[str, Any]:
    return train(config)


@task(name="publish-training-curve")
def publish_curve(summary: dict[str, Any]) -> None:
    if summary["history"]:
        create_table_artifact(table=summary["history"], key="train-curve", description="per-epoch training curve")


@flow(name="train", log_prints=True)
def train_flow(config: TrainConfig | None = None) -> dict[str, Any]:
    """Train on ``config.shards`` into ``config.out``; ``None`` reads params.yaml section ``train``."""
    config = config or load_config(TrainConfig, "train")
    summary = train_model(config)
    publish_curve(summary)
    return summary


if __name__ == "__main__":
    train_flow()
