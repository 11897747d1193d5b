"""`mm` commands for the orchestrate role."""

from flows.cli._app import app  # noqa: F401
