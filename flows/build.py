"""Prefect flow of the build stage: plan, partitions as mapped tasks on a pluggable runner, finalize."""

from __future__ import annotations

from typing import Any

from prefect import flow, task, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

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


@task(name="plan-build", cache_policy=NO_CACHE)
def plan_build(config: BuildConfig) -> list[Partition]:
    return plan_partitions(config)


# A retried partition restarts from scratch; finished partitions are skipped by their completion marker.
@task(name="build-partition", retries=1, retry_delay_seconds=2, cache_policy=NO_CACHE)
def build_partition(config: BuildConfig, partition: Partition) -> dict:
    return process_partition(config, partition)


@task(name="finalize-build", cache_policy=NO_CACHE)
def finalize(config: BuildConfig, results: list[dict]) -> dict:
    return finalize_build(config, results)


@task(name="publish-build-stats", cache_policy=NO_CACHE)
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
    with build_lock(config.out, config.lock_timeout_s):
        remove_stale_temporaries_if_present(config.out)
        partitions = plan_build(config)
        results = build_partitions.with_options(task_runner=make_task_runner(config))(config, partitions)
        stats = finalize(config, results)
    publish_stats(stats)
    return stats


if __name__ == "__main__":
    build_flow()
