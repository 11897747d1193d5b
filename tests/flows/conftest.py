"""Shared fixtures of the flow tests: one Prefect test harness (a temporary API and database) per session."""

from __future__ import annotations

import asyncio
import os

import pytest


@pytest.fixture(scope="session")
def prefect_harness():
    """Flows in these tests record their runs and artifacts here; starting it once saves ~20 s per module."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield


def read_artifacts(key: str) -> list:
    """Artifacts published under ``key`` in the running harness, oldest first."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async def read() -> list:
        async with get_client() as client:
            return await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))

    return sorted(asyncio.run(read()), key=lambda artifact: artifact.created)
