"""Prefect flow of the evaluate stage: score a model directory on a split, publish the metrics."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.artifacts import create_table_artifact

from mmdata.params import load_config
from mmmodel.config import EvaluateConfig
from mmmodel.evaluate import evaluate


@task(name="evaluate-model")
def evaluate_model(config: EvaluateConfig) -> dict[str, Any]:
    return evaluate(config)


@task(name="publish-metrics")
def publish_metrics(metrics: dict[str, Any]) -> None:
    rows = [{"model": f"fused ({metrics['fusion']})", "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"]}]
    rows += [{"model": name, "accuracy": s["accuracy"], "macro_f1": s["macro_f1"]} for name, s in metrics["ablations"].items()]
    rows += [{"model": f"{name} only", "accuracy": s["accuracy"], "macro_f1": s["macro_f1"]}
             for name, s in metrics["unimodal"].items()]
    create_table_artifact(table=rows, key="evaluation", description=f"evaluation on {metrics['split']}")


@flow(name="evaluate", log_prints=True)
def evaluate_flow(config: EvaluateConfig | None = None) -> dict[str, Any]:
    """Evaluate ``config.model`` on ``config.shards``; ``None`` reads params.yaml section ``evaluate``."""
    config = config or load_config(EvaluateConfig, "evaluate")
    metrics = evaluate_model(config)
    publish_metrics(metrics)
    return metrics


if __name__ == "__main__":
    evaluate_flow()
