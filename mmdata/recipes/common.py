"""Helpers shared by recipes: finding system data, writing a labelled source folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from mmdata.atomic import write_text_atomic

RECIPE_MARKER = "recipe.json"


class RecipeSourceMissing(FileNotFoundError):
    """The data a recipe reads is not installed (the message says how to get it)."""


def shared_data_dir() -> Path:
    """``$MMPIPE_SHARED_DATA`` or ``../shared/data`` (beside the checkout, for AV-MNIST)."""
    return Path(os.environ.get("MMPIPE_SHARED_DATA", "../shared/data"))


def copy_if_changed(source: Path, target: Path) -> None:
    """Copy ``source`` unless ``target`` already holds a file of the same size (re-runs are cheap)."""
    if target.is_file() and target.stat().st_size == source.stat().st_size:
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".tmp-{target.name}")
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)


def write_labels(out: Path, rows: list[tuple[str, str, str]], recipe: dict) -> None:
    """``labels.csv`` (key,label,group) and ``recipe.json`` (origin, license, settings)."""
    lines = ["key,label,group"] + [",".join(r) for r in rows]
    write_text_atomic(out / "labels.csv", "\n".join(lines) + "\n")
    write_text_atomic(out / RECIPE_MARKER, json.dumps({**recipe, "samples": len(rows)}, indent=1) + "\n")


def check_output_dir(out: Path) -> None:
    """Refuse a non-empty folder that no recipe wrote: re-runs prune stale files inside it."""
    if out.is_dir() and any(out.iterdir()) and not (out / RECIPE_MARKER).is_file():
        raise FileExistsError(f"{out} is not empty and has no {RECIPE_MARKER}: give a new or empty folder")


def prune_stale(out: Path, written: set[Path], suffixes: tuple[str, ...]) -> int:
    """Delete ``<out>/<label>/<file>`` media an earlier run wrote and this one did not.

    Without this, re-running with a smaller ``per_digit`` (say) would leave old samples behind
    that ingest would still pick up. Only the recipe's own file types one level down are touched.
    """
    removed = 0
    for path in out.glob("*/*"):
        if path.suffix in suffixes and path.is_file() and path not in written:
            path.unlink()
            removed += 1
    return removed
