"""Settings of labelling and splitting (params.yaml `build.labels`, `build.splits`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class LabelRule(BaseModel):
    """``label`` for every sample whose ``field`` (key or uri) matches the regex ``pattern``."""

    pattern: str
    label: str
    field: Literal["key", "uri"] = "key"


class LabelConfig(BaseModel):
    """Where labels come from; later sources override earlier ones: source < rules < imports."""

    rules: list[LabelRule] = Field(default_factory=list)
    imports: list[str] = Field(default_factory=list)  # CSV / JSONL / Label Studio JSON export files
    require_label: bool = True  # unlabelled samples are dropped (missing_label)
