"""Prefect flows: thin @flow/@task wrappers that compose mmdata and mmmodel (no logic of their own)."""

import os

# Set before Prefect is imported (its settings are read once, at import).
# Flows run offline: no telemetry.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# Without PREFECT_API_URL each `python -m flows.<stage>` starts an ephemeral API server; on a busy
# two-core machine that can take longer than Prefect's 20 s default, which would fail the stage.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
# OpenMP threads that spin while waiting steal the cores that loader workers, the Prefect API and
# other jobs need; on a busy two-core machine passive waiting made training many times faster.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
