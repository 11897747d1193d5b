"""Prefect flow of the ingest stage: run the (resumable) ingest, publish its summary."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.workspace import workspace_lock
from mmdata.ingest.config import IngestConfig
from mmdata.ingest.run import run_ingest
from mmdata.params import load_config


# Ingest is I/O and resumable, so a retry continues where the failed attempt stopped.
# No Prefect caching: the raw store and its journal (and DVC) decide what is already done.
@task(name="ingest-sources", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def ingest_sources(config: IngestConfig) -> dict[str, Any]:
    summary = run_ingest(config)
    get_run_logger().info(
        "ingested %d items into %s: %s; %d samples, %d bytes stored, %d fetched, %d reused, in %.1f s",
        summary.items, summary.out, summary.by_status, summary.samples, summary.bytes_stored, summary.processed,
        summary.reused, summary.seconds)
    return {**summary.to_dict(), "markdown": summary.markdown()}


@task(name="publish-ingest-summary", retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def publish_summary(summary: dict[str, Any]) -> None:
    create_markdown_artifact(markdown=summary["markdown"], key="ingest-summary", description="ingest summary")


@flow(name="ingest", log_prints=True)
def ingest_flow(config: IngestConfig | None = None) -> dict[str, Any]:
    """Ingest the configured sources; ``None`` reads params.yaml section ``ingest``."""
    config = config or load_config(IngestConfig, "ingest")
    with workspace_lock(get_run_logger()):
        summary = ingest_sources(config)
    publish_summary(summary)
    return {k: v for k, v in summary.items() if k != "markdown"}


if __name__ == "__main__":
    ingest_flow()
