"""Stage configs from params.yaml: one section per stage, each mapped to one typed config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

ConfigT = TypeVar("ConfigT", bound=BaseModel)

DEFAULT_PARAMS = Path("params.yaml")


def load_params(path: str | os.PathLike = DEFAULT_PARAMS) -> dict[str, Any]:
    """Read a params file; a missing file is an empty mapping (configs then use their defaults)."""
    path = Path(path)
    if not path.is_file():
        return {}
    return yaml.safe_load(path.read_text()) or {}


def load_config(
    cls: type[ConfigT],
    section: str,
    path: str | os.PathLike = DEFAULT_PARAMS,
    overrides: dict[str, Any] | None = None,
) -> ConfigT:
    """Build ``cls`` from ``params.yaml[section]`` updated with non-None ``overrides``."""
    values = dict(load_params(path).get(section) or {})
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return cls.model_validate(values)
