"""Prefect flow of the evaluate stage: score a model directory on a split, publish the metrics."""

from __future__ import annotations

import time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows.workspace import workspace_lock
from mmdata.params import load_config
from mmmodel.config import EvaluateConfig
from mmmodel.evaluate import evaluate


# Compute, not I/O: no retries. No Prefect caching: DVC decides whether the stage is up to date.
@task(name="evaluate-model", cache_policy=NO_CACHE)
def evaluate_model(config: EvaluateConfig) -> dict[str, Any]:
    started = time.perf_counter()
    metrics = evaluate(config)
    get_run_logger().info(
        "evaluated %s on %d %s samples: accuracy %.4f, macro-F1 %.4f, metrics in %s, in %.1f s",
        config.model, metrics["n_samples"], config.split, metrics["accuracy"], metrics["macro_f1"], config.out,
        time.perf_counter() - started)
    return metrics


@task(name="publish-metrics", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
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
    with workspace_lock(get_run_logger()):
        metrics = evaluate_model(config)
    publish_metrics(metrics)
    return metrics


if __name__ == "__main__":
    evaluate_flow()
