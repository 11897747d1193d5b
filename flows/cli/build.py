"""`mm` commands for the build role."""

from flows.cli._app import app  # noqa: F401
