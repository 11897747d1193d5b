"""Nightly retraining: ingest -> build -> train a challenger -> score it and the champion -> promote or not.

The stages run as subflows with their own params.yaml sections; the ``nightly`` section
(``mmmodel.nightly.NightlyConfig``) holds the schedule, the challenger's train overrides and the
promotion rule. Every challenger gets a registry record (``mmmodel.registry``): promoted, rejected
or failed. A failed or worse challenger never replaces the champion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.build import build_flow
from flows.evaluate import evaluate_flow
from flows.ingest import ingest_flow
from flows.train import train_flow
from flows.workspace import workspace_lock
from mmdata.build.config import BuildConfig
from mmdata.ingest.config import IngestConfig
from mmdata.params import DEFAULT_PARAMS, load_config
from mmmodel.config import EvaluateConfig, TrainConfig
from mmmodel.nightly import Decision, NightlyConfig, comparison_markdown, decide_promotion, headline
from mmmodel.registry import (
    CHALLENGER,
    FAILED,
    REJECTED,
    ModelRecord,
    Registry,
    data_version,
    git_revision,
    new_model_id,
    utc_now,
)


# Registry writes are small local files under a lock: no retries, no caching.
@task(name="register-challenger", cache_policy=NO_CACHE)
def register_challenger(registry: Registry, model_id: str, train_config: TrainConfig) -> ModelRecord:
    record = registry.add(ModelRecord(
        id=model_id, model_dir=train_config.out, status=CHALLENGER, created=utc_now(),
        data_version=data_version(train_config.shards), params=train_config.model_dump(), git_revision=git_revision(),
        reason="training"))
    get_run_logger().info("registered challenger %s (data %s %s, git %s) in %s", model_id,
                          record.data_version["source"], record.data_version["hash"], record.git_revision, registry.path)
    return record


@task(name="record-failure", cache_policy=NO_CACHE)
def record_failure(registry: Registry, model_id: str, reason: str) -> None:
    registry.update(model_id, status=FAILED, reason=reason[:500])
    get_run_logger().error("challenger %s failed: %s; the champion stays", model_id, reason)


@task(name="record-decision", cache_policy=NO_CACHE)
def record_decision(registry: Registry, model_id: str, decision: Decision, metrics: dict[str, Any],
                    comparison: dict[str, Any]) -> ModelRecord:
    if decision.promote:
        registry.update(model_id, metrics=metrics, comparison=comparison)
        record = registry.promote(model_id, reason=decision.reason)
    else:
        record = registry.update(model_id, status=REJECTED, metrics=metrics, comparison=comparison,
                                 reason=decision.reason)
    get_run_logger().info("challenger %s %s: %s", model_id, record.status, decision.reason)
    return record


@task(name="publish-comparison", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_comparison(markdown: str) -> None:
    create_markdown_artifact(markdown=markdown, key="nightly-comparison", description="champion vs challenger")


def score(model_dir: str, out: Path, base: EvaluateConfig) -> dict[str, Any]:
    """Evaluate one model on the nightly's held-out split (a subflow run per model)."""
    return evaluate_flow(base.model_copy(update={"model": model_dir, "out": str(out)}))


@flow(name="nightly", log_prints=True)
def nightly_flow(config: NightlyConfig | None = None, params: str = str(DEFAULT_PARAMS)) -> dict[str, Any]:
    """One nightly retraining; ``None`` reads params.yaml section ``nightly`` (other stages: their sections)."""
    config = config or load_config(NightlyConfig, "nightly", params)
    logger = get_run_logger()
    registry = Registry(config.registry)
    with workspace_lock(logger):
        ingest_config = load_config(IngestConfig, "ingest", params)
        if config.ingest and ingest_config.has_sources():
            ingest_flow(ingest_config)
        if config.build:
            build_config = load_config(BuildConfig, "build", params)
            build_flow(build_config)

        model_id = new_model_id()
        reports = Path(config.reports) / model_id
        train_config = load_config(TrainConfig, "train", params, {
            **config.train, "out": str(Path(config.models) / model_id), "reports": str(reports / "train"),
            "resume": False})
        base_eval = load_config(EvaluateConfig, "evaluate", params, {"split": config.split})
        if config.build and Path(build_config.out) != Path(train_config.shards):
            logger.warning("build writes %s but train reads %s: the challenger does not see the new build",
                           build_config.out, train_config.shards)
        register_challenger(registry, model_id, train_config)
        try:
            train_flow(train_config)
            challenger = score(train_config.out, reports / "challenger", base_eval)
        except Exception as err:  # recorded, then re-raised: the run fails visibly, the champion stays
            record_failure(registry, model_id, f"{type(err).__name__}: {err}")
            raise

        champion = registry.champion()
        champion_metrics = None
        if champion is not None:
            try:
                champion_metrics = score(champion.model_dir, reports / "champion", base_eval)
            except (FileNotFoundError, ValueError, RuntimeError, KeyError) as err:
                # e.g. the champion's directory is gone or its labels no longer fit the rebuilt data
                logger.warning("champion %s cannot be scored on the current data (%s); the challenger is "
                               "compared with nothing", champion.id, err)

        decision = decide_promotion(champion_metrics, challenger, config.metric, config.margin)
        if champion is not None and champion_metrics is None:
            decision = Decision(True, f"champion {champion.id} could not be scored on the current data",
                                config.metric, None, decision.challenger)
        comparison = {"champion": champion.id if champion else None, "split": config.split, "metric": config.metric,
                      "margin": config.margin, "champion_value": decision.champion,
                      "challenger_value": decision.challenger, "promoted": decision.promote}
        record = record_decision(registry, model_id, decision, headline(challenger), comparison)
        publish_comparison(comparison_markdown(champion.id if champion else None,
                                               headline(champion_metrics) if champion_metrics else None, model_id,
                                               headline(challenger), decision, config.split))
    return {"model_id": model_id, "status": record.status, "promoted": decision.promote, "reason": decision.reason,
            "champion": registry.champion().id, "model_dir": train_config.out, "metrics": headline(challenger),
            "champion_metrics": headline(champion_metrics) if champion_metrics else None}


if __name__ == "__main__":
    nightly_flow()
