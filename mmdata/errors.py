"""Error texts that are safe to write into manifests: the same error gives the same bytes every run."""

from __future__ import annotations

import re

# Library messages embed object reprs such as "<_io.BytesIO object at 0x7f3621b793a0>"; the
# address changes every run, which would make a re-run's manifest differ from the first one.
_OBJECT_REPR = re.compile(r"<[^<>]*? at 0x[0-9a-fA-F]+>")


def describe_error(err: BaseException) -> str:
    """``"<ErrorType>: <message>"`` with per-process details (object addresses) replaced."""
    return f"{type(err).__name__}: {_OBJECT_REPR.sub('<data>', str(err))}"
