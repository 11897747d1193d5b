"""`mm` commands for the ingest role."""

from flows.cli._app import app  # noqa: F401
