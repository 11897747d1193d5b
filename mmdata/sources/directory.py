"""Directory source: files sharing a stem form one sample, in any sub-folder.

Labels come from ``labels.csv`` at the root (it and ``recipe.json`` there are not samples) (``key,label[,group]``), else from a file-name
pattern when configured, else from the parent folder name. Every file is an input item:
unknown extensions, hidden files and a second file of the same modality for a key are
recorded as dropped rather than skipped.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterator
from pathlib import Path

from mmdata import fields
from mmdata.atomic import TMP_MARKER
from mmdata.ingest.items import FILE, UNKNOWN_MODALITY, VERDICT, Item, utf8_safe
from mmdata.manifest import DROPPED, FAILED
from mmdata.sources.keys import sanitize_key

LABELS_FILE = "labels.csv"
# Root-level sidecars that describe the folder rather than being samples (recipes write them).
SIDECAR_FILES = (LABELS_FILE, "recipe.json")
SOURCE = "directory"


def read_labels_file(path: Path) -> dict[str, tuple[str, str]]:
    """``key -> (label, group)`` from a labels.csv; keys are matched after sanitising."""
    labels: dict[str, tuple[str, str]] = {}
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        for row in csv.DictReader(fh):
            key = (row.get("key") or "").strip()
            if key:
                labels[sanitize_key(key)] = ((row.get("label") or "").strip(), (row.get("group") or "").strip())
    return labels


def _walk_files(root: Path, skip: Path | None = None) -> list[Path]:
    found: list[Path] = []
    for folder, subdirs, names in os.walk(root):
        if skip is not None:
            # The ingest's own output inside a source folder is not input (it would feed on itself).
            subdirs[:] = [d for d in subdirs if (Path(folder) / d).resolve() != skip]
        subdirs.sort()
        for name in names:
            if name.startswith(TMP_MARKER):
                continue  # a killed writer's leftover, never an input
            path = Path(folder) / name
            if path.parent == root and name in SIDECAR_FILES:
                continue
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def plan_directory(
    root: str | os.PathLike, label_pattern: str | None = None, skip: str | os.PathLike | None = None
) -> Iterator[Item]:
    """Yield one item per file under ``root`` (deterministic order), leaving out folder ``skip``."""
    root_path = Path(root)
    if not root_path.is_dir():
        yield Item(
            item_id=f"dir:{root}", key=sanitize_key(root_path.name or "root"), modality=UNKNOWN_MODALITY,
            uri=str(root), source=SOURCE, kind=VERDICT, verdict=(FAILED, f"not_a_directory: {root}"),
        )
        return
    labels_path = root_path / LABELS_FILE
    labels = read_labels_file(labels_path) if labels_path.is_file() else {}
    pattern = re.compile(label_pattern) if label_pattern else None

    # Group by key first so a sample's label is decided once, from its first file.
    samples: dict[str, list[Path]] = {}
    for path in _walk_files(root_path, Path(skip).resolve() if skip is not None else None):
        samples.setdefault(sanitize_key(path.stem if "." in path.name[1:] else path.name), []).append(path)

    for key in sorted(samples):
        label, group = _label_of(key, samples[key][0], root_path, labels, pattern)
        seen: dict[str, Path] = {}
        for path in samples[key]:
            rel = path.relative_to(root_path).as_posix()
            uri = (Path(root) / rel).as_posix()
            modality = fields.modality_of_extension(path.suffix) or UNKNOWN_MODALITY
            base = dict(item_id=f"file:{utf8_safe(uri)}", key=key, modality=modality, uri=uri, source=SOURCE, label=label, group=group)
            verdict = None
            if not path.is_file():
                # FIFOs and devices would block or never end; broken links have nothing to read.
                verdict = (DROPPED, "not_a_regular_file")
            elif path.name.startswith("."):
                verdict = (DROPPED, "hidden_file")
            elif modality == UNKNOWN_MODALITY:
                verdict = (DROPPED, f"unsupported_extension: {path.suffix.lower() or '(none)'}")
            elif modality in seen:
                first = seen[modality].relative_to(root_path).as_posix()
                verdict = (DROPPED, f"duplicate_key: {key} already has {modality} from {first}")
            if verdict:
                yield Item(**base, kind=VERDICT, verdict=verdict)
                continue
            seen[modality] = path
            try:
                fingerprint = _fingerprint(path)
            except OSError as err:
                yield Item(**base, kind=VERDICT, verdict=(FAILED, f"unreadable: {err.strerror}"))
                continue
            yield Item(**base, kind=FILE, path=str(path), fingerprint=fingerprint)


def _label_of(key: str, first: Path, root: Path, labels: dict, pattern: re.Pattern | None) -> tuple[str, str]:
    if key in labels:
        return labels[key]
    if pattern is not None:
        match = pattern.search(first.name)
        if match:
            found = match.groupdict()
            return found.get("label") or "", found.get("group") or ""
    return ("" if first.parent == root else first.parent.name), ""
