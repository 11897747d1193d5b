"""The `mm` command line: one module per role registers its commands on the shared app."""

from flows.cli import build, demo, ingest, model, orchestrate  # noqa: F401  (register commands)
from flows.cli._app import app

__all__ = ["app"]
