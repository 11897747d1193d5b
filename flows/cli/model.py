"""`mm` commands for the model role."""

from flows.cli._app import app  # noqa: F401
