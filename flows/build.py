"""Prefect flow of the build stage: plan, partitions as mapped tasks on a pluggable runner, finalize."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.workspace import workspace_lock
from mmdata.build.config import BuildConfig
from mmdata.build.lock import build_lock
from mmdata.build.plan import Partition
from mmdata.build.run import (
    finalize_build,
    plan_partitions,
    process_partition,
    remove_stale_temporaries_if_present,
)
from mmdata.params import load_config
from mmdata.shards.inspect import stats_markdown


# No Prefect caching anywhere: DVC decides whether the stage is up to date, and completion markers
# let a re-run skip finished partitions.
@task(name="plan-build", cache_policy=NO_CACHE)
def plan_build(config: BuildConfig) -> list[Partition]:
    partitions = plan_partitions(config)
    get_run_logger().info("planned %d partitions of %s", len(partitions), config.raw)
    return partitions


# A partition reads the raw store and writes its own file (I/O that a lost worker process can
# interrupt); a retried partition restarts from scratch, finished ones are skipped by their marker.
@task(name="build-partition", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def build_partition(config: BuildConfig, partition: Partition) -> dict:
    return process_partition(config, partition)


@task(name="finalize-build", cache_policy=NO_CACHE)
def finalize(config: BuildConfig, results: list[dict]) -> dict:
    stats = finalize_build(config, results)
    splits = stats["splits"]
    get_run_logger().info(
        "built %s: samples %s; %d shards, %d bytes (%s); finalize in %.1f s",
        config.out, stats["samples"], sum(s["shards"] for s in splits.values()), sum(s["bytes"] for s in splits.values()),
        ", ".join(f"{name} {s['samples']}" for name, s in splits.items()), stats["timings"]["finalize_s"])
    return stats


@task(name="publish-build-stats", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_stats(stats: dict) -> None:
    create_markdown_artifact(markdown=stats_markdown(stats), key="build-stats", description="build statistics")


def make_task_runner(config: BuildConfig) -> TaskRunner:
    """Dask cluster at ``dask_address`` when given; else local processes (threads for one worker)."""
    if config.dask_address:
        from prefect_dask import DaskTaskRunner

        return DaskTaskRunner(address=config.dask_address)
    if config.workers > 1:
        return ProcessPoolTaskRunner(max_workers=config.workers)
    return ThreadPoolTaskRunner(max_workers=1)


@flow(name="build-partitions")
def build_partitions(config: BuildConfig, partitions: list[Partition]) -> list[dict]:
    futures = build_partition.map(unmapped(config), partitions)
    return sorted((f.result() for f in futures), key=lambda r: r["partition"])


@flow(name="build", log_prints=True)
def build_flow(config: BuildConfig | None = None) -> dict[str, Any]:
    """Build shards from ``config.raw`` into ``config.out``; ``None`` reads params.yaml section ``build``."""
    config = config or load_config(BuildConfig, "build")
    with workspace_lock(get_run_logger()), build_lock(config.out, config.lock_timeout_s):
        remove_stale_temporaries_if_present(config.out)
        partitions = plan_build(config)
        results = build_partitions.with_options(task_runner=make_task_runner(config))(config, partitions)
        stats = finalize(config, results)
    publish_stats(stats)
    return stats


if __name__ == "__main__":
    build_flow()
