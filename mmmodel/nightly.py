"""Nightly retraining: its typed config (params.yaml section ``nightly``) and the promotion rule.

The flow (``flows.nightly``) ingests new data, rebuilds the shards, trains a challenger into a new
model directory, scores champion and challenger on the same held-out split, and asks
``decide_promotion`` whether the challenger replaces the champion.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

Metric = Literal["macro_f1", "accuracy", "macro_precision", "macro_recall"]
COMPARED = ("macro_f1", "accuracy", "macro_precision", "macro_recall", "n_samples")


class NightlyConfig(BaseModel):
    """When the nightly run happens and what it takes for a challenger to become champion."""

    model_config = ConfigDict(extra="forbid")

    # -- schedule (applied to the `nightly/default` deployment by `make serve`)
    cron: str = "0 2 * * *"  # minute hour day-of-month month day-of-week
    timezone: str = "UTC"  # IANA name, e.g. Europe/Berlin; the cron is read in this zone (DST-aware)
    schedule_active: bool = True  # False deploys the schedule paused

    # -- steps (the other stages read their own params.yaml sections)
    ingest: bool = True  # incremental ingest of the `ingest` sources first (skipped when it has none)
    build: bool = True  # rebuild the shards from the raw store
    train: dict[str, Any] = Field(default_factory=dict)  # overrides of the `train` section for the challenger

    # -- where things go
    models: str = "models"  # each challenger is trained into <models>/<model id>/
    registry: str = "models/registry.json"
    reports: str = "reports/nightly"  # <reports>/<model id>/{champion,challenger}/metrics.json

    # -- promotion
    split: str = "test"  # the held-out split both models are scored on
    metric: Metric = "macro_f1"
    margin: float = Field(0.0, ge=0.0)  # the challenger must beat the champion by at least this much

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {value!r}; use an IANA name such as UTC or Europe/Berlin") from None
        return value

    @field_validator("train")
    @classmethod
    def _train_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        from mmmodel.config import TrainConfig

        unknown = sorted(set(value) - set(TrainConfig.model_fields))
        if unknown:
            raise ValueError(f"train overrides {unknown} are not TrainConfig fields")
        if {"out", "reports"} & set(value):
            raise ValueError("train.out and train.reports are chosen by the nightly run (<models>/<id>, <reports>/<id>)")
        return value

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} needs 5 fields: minute hour day-of-month month day-of-week")
        return value


@dataclasses.dataclass(frozen=True)
class Decision:
    """Whether the challenger is promoted, and why."""

    promote: bool
    reason: str
    metric: str
    champion: float | None
    challenger: float

    @property
    def gain(self) -> float | None:
        return None if self.champion is None else self.challenger - self.champion


def decide_promotion(champion: dict[str, Any] | None, challenger: dict[str, Any], metric: str,
                     margin: float) -> Decision:
    """Promote when there is no scored champion, or the challenger's gain is positive and at least ``margin``."""
    new = float(challenger[metric])
    if champion is None:
        return Decision(True, "no champion to compare with", metric, None, new)
    old = float(champion[metric])
    gain = new - old
    if gain > 0 and gain >= margin:
        return Decision(True, f"{metric} {new:.4f} beats {old:.4f} by {gain:+.4f} (margin {margin})", metric, old, new)
    return Decision(False, f"{metric} {new:.4f} vs champion {old:.4f}: gain {gain:+.4f} below margin {margin}"
                    if gain > 0 else f"{metric} {new:.4f} not better than champion {old:.4f}", metric, old, new)


def comparison_markdown(champion_id: str | None, champion: dict[str, Any] | None, challenger_id: str,
                        challenger: dict[str, Any], decision: Decision, split: str) -> str:
    """Markdown table of champion vs challenger on one split, with the decision (the nightly artifact)."""
    verdict = "promoted to champion" if decision.promote else "rejected; the champion stays"
    lines = [f"# Nightly: challenger `{challenger_id}` {verdict}", "",
             f"Held-out split `{split}`; metric `{decision.metric}`. {decision.reason}.", "",
             f"| metric | champion `{champion_id or '-'}` | challenger `{challenger_id}` | change |",
             "|---|---:|---:|---:|"]
    for name in COMPARED:
        new = challenger.get(name)
        old = champion.get(name) if champion else None
        change = f"{new - old:+.4f}" if isinstance(new, (int, float)) and isinstance(old, (int, float)) else "-"
        lines.append(f"| {'**' + name + '**' if name == decision.metric else name} | {_cell(old)} | {_cell(new)} "
                     f"| {change} |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "-" if value is None else str(value)


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The metrics the registry keeps for a model (no per-class tables)."""
    return {k: metrics[k] for k in COMPARED if k in metrics} | {"split": metrics.get("split")}
