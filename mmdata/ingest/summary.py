"""What a run did: live counters for the progress bar and the closing summary (rich + markdown)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from mmdata.manifest import FAILED, OK


def reason_id(reason: str) -> str:
    """The stable identifier part of a reason (``http_404: Not Found`` -> ``http_404``)."""
    return reason.split(":", 1)[0].strip()


@dataclass
class Meter:
    """Counters the workers bump; the progress bar reads them a few times a second."""

    started: float = field(default_factory=time.perf_counter)
    done: int = 0
    reused: int = 0
    errors: int = 0
    bytes: int = 0
    planned: int = 0

    def count(self, row: dict[str, Any]) -> None:
        self.done += 1
        self.bytes += int(row.get("bytes") or 0) if row["status"] == OK else 0
        self.errors += row["status"] == FAILED

    def rate(self) -> float:
        return self.done / max(time.perf_counter() - self.started, 1e-9)


class LiveProgress:
    """A rich progress bar over a ``Meter``: items, bytes, rate and errors."""

    def __init__(self, meter: Meter, enabled: bool, console: Console | None = None):
        self.meter = meter
        self.progress = Progress(
            TextColumn("[bold]ingest[/]"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} items"),
            TextColumn("{task.fields[mb]:.1f} MB"),
            TextColumn("{task.fields[rate]:.0f} items/s"),
            TextColumn("[red]{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            console=console,
            disable=not enabled,
            # Refreshed from the event loop's ticker: rich's own refresh thread would compete
            # for the GIL with the loop's socket calls.
            auto_refresh=False,
            transient=False,
        )
        self.task = self.progress.add_task("ingest", total=0, mb=0.0, rate=0.0, errors=0)

    def refresh(self) -> None:
        m = self.meter
        self.progress.update(
            self.task, total=max(m.planned, m.done + m.reused), completed=m.done + m.reused,
            mb=m.bytes / 1e6, rate=m.rate(), errors=m.errors,
        )
        self.progress.refresh()

    def __enter__(self) -> LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.refresh()
        self.progress.stop()


@dataclass
class IngestSummary:
    """Closing numbers of one ingest run (``to_dict`` is what the flow returns)."""

    out: str
    manifest: str
    items: int
    by_status: dict[str, int]
    by_reason: dict[str, int]
    by_source: dict[str, int]
    samples: int
    duplicates: int
    bytes_stored: int
    processed: int
    reused: int
    seconds: float

    @property
    def items_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @classmethod
    def from_manifest(cls, frame: pd.DataFrame, out: str, manifest: str, meter: Meter) -> IngestSummary:
        ok_rows = frame[frame["status"] == OK]
        is_dup = ok_rows["reason"].str.startswith("duplicate_content")
        non_ok = frame[frame["status"] != OK]
        by_reason = Counter(f"{s}: {reason_id(r)}" for s, r in zip(non_ok["status"], non_ok["reason"], strict=True))
        return cls(
            out=out,
            manifest=manifest,
            items=len(frame),
            by_status={s: int(n) for s, n in sorted(Counter(frame["status"]).items())},
            by_reason=dict(sorted(by_reason.items())),
            by_source={src: int(n) for src, n in sorted(Counter(frame["source"]).items())},
            samples=int(ok_rows["key"].nunique()),
            duplicates=int(is_dup.sum()),
            bytes_stored=int(ok_rows.loc[~is_dup, "bytes"].sum()),
            processed=meter.done,
            reused=meter.reused,
            seconds=round(time.perf_counter() - meter.started, 3),
        )

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["items_per_s"] = round(self.items_per_s, 1)
        return data

    def _lines(self) -> list[tuple[str, str]]:
        lines = [(f"source {s}", str(n)) for s, n in self.by_source.items()]
        lines += [(f"status {s}", str(n)) for s, n in self.by_status.items()]
        lines += [(f"  {r}", str(n)) for r, n in self.by_reason.items()]
        lines += [
            ("samples (keys with an ok item)", str(self.samples)),
            ("duplicate content (stored once)", str(self.duplicates)),
            ("bytes stored", f"{self.bytes_stored:,}"),
            ("processed this run / reused from journal", f"{self.processed} / {self.reused}"),
            ("items/s (processed)", f"{self.items_per_s:.0f}"),
            ("seconds", f"{self.seconds:.2f}"),
        ]
        return lines

    def rich_table(self) -> Table:
        table = Table(title=f"ingest -> {self.manifest} ({self.items} items)")
        table.add_column("what")
        table.add_column("count", justify="right")
        for what, count in self._lines():
            table.add_row(what, count)
        return table

    def markdown(self) -> str:
        rows = "\n".join(f"| {what.strip()} | {count} |" for what, count in self._lines())
        return f"# Ingest summary\n\n`{self.manifest}`: {self.items} items\n\n| what | count |\n|---|---:|\n{rows}\n"
