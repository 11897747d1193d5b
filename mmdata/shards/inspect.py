"""Read a built shard set back: summary from stats.json and the sidecars, printed as rich tables."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from mmdata import fields


def load_sidecars(shards: str | os.PathLike) -> pd.DataFrame:
    """All sidecar rows of a shard set, with the split and shard file of each sample."""
    frames = []
    for path in sorted(Path(shards).glob("*/shard-*.parquet")):
        frame = pd.read_parquet(path)
        frame["shard"] = f"{path.parent.name}/{path.stem}.tar"
        frames.append(frame)
    if not frames:
        raise FileNotFoundError(f"no shards under {shards} (expected <split>/shard-*.parquet)")
    return pd.concat(frames, ignore_index=True)


def summarize(shards: str | os.PathLike) -> dict:
    """Per split: samples, per-class counts, modality coverage, groups, bytes on disk; plus group leaks."""
    shards = Path(shards)
    sidecars = load_sidecars(shards)
    splits = {}
    for split, frame in sidecars.groupby("split"):
        tar_bytes = sum((shards / shard).stat().st_size for shard in frame["shard"].unique())
        classes = {str(k): int(v) for k, v in sorted(frame["label"].value_counts().items())}
        splits[split] = {
            "samples": len(frame),
            "classes": classes,
            "class_imbalance": round(max(classes.values()) / min(classes.values()), 3),
            "modalities": {m: int(frame[f"has_{m}"].sum()) for m in fields.MODALITIES},
            "groups": sorted(g for g in frame["group"].unique() if g),
            "bytes": int(tar_bytes),
            "shards": int(frame["shard"].nunique()),
        }
    owners: dict[str, set[str]] = {}
    for split, info in splits.items():
        for group in info["groups"]:
            owners.setdefault(group, set()).add(split)
    leaks = {g: sorted(s) for g, s in owners.items() if len(s) > 1}
    stats_path = shards / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.is_file() else {}
    return {"splits": splits, "group_leaks": leaks, "drop_reasons": stats.get("drop_reasons", {}),
            "totals": stats.get("samples", {})}


def print_summary(summary: dict, console: Console | None = None) -> None:
    """Rich tables: one overview row per split, per-class counts, drop reasons, group leakage."""
    console = console or Console()
    overview = Table(title="splits")
    for column in ("split", "samples", "shards", "bytes", "groups", *fields.MODALITIES, "max/min class"):
        overview.add_column(column, justify="right" if column != "split" else "left")
    for split, info in summary["splits"].items():
        overview.add_row(split, str(info["samples"]), str(info["shards"]), f"{info['bytes']:,}", str(len(info["groups"])),
                         *(str(info["modalities"][m]) for m in fields.MODALITIES), f"{info['class_imbalance']:.2f}")
    console.print(overview)
    classes = sorted({c for info in summary["splits"].values() for c in info["classes"]},
                     key=lambda c: (0, int(c), "") if c.isdigit() else (1, 0, c))
    per_class = Table(title="samples per class")
    per_class.add_column("class")
    for split in summary["splits"]:
        per_class.add_column(split, justify="right")
    for cls in classes:
        per_class.add_row(cls, *(str(info["classes"].get(cls, 0)) for info in summary["splits"].values()))
    console.print(per_class)
    if summary["drop_reasons"]:
        drops = Table(title="dropped / failed samples by reason")
        drops.add_column("reason")
        drops.add_column("samples", justify="right")
        for reason, count in summary["drop_reasons"].items():
            drops.add_row(reason, str(count))
        console.print(drops)
    if summary["group_leaks"]:
        console.print(f"[red]groups shared between splits: {summary['group_leaks']}[/red]")
    else:
        console.print("no group (e.g. speaker) is shared between splits")


def stats_markdown(stats: dict) -> str:
    """A short markdown table of a build's stats (the Prefect artifact)."""
    lines = ["| split | samples | shards | bytes | image | audio | text |", "|---|---|---|---|---|---|---|"]
    for split, info in stats.get("splits", {}).items():
        m = info["modalities"]
        lines.append(f"| {split} | {info['samples']} | {info['shards']} | {info['bytes']} | {m['image']} | {m['audio']} | {m['text']} |")
    lines.append("")
    lines.append(f"totals: {stats.get('samples', {})}; drop reasons: {stats.get('drop_reasons', {})}")
    return "\n".join(lines)
