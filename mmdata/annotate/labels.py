"""Labels from the source, from rules, and from imported annotation files (CSV, JSONL, Label Studio)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from mmdata.annotate.config import LabelConfig, LabelRule


def apply_rules(key: str, uris: Iterable[str], rules: list[LabelRule]) -> str | None:
    """Label of the first rule whose pattern matches the sample's key or one of its uris."""
    uris = list(uris)
    for rule in rules:
        pattern = re.compile(rule.pattern)
        targets = [key] if rule.field == "key" else uris
        if any(pattern.search(t) for t in targets):
            return rule.label
    return None


def _stem(ref: str) -> str:
    # Label Studio stores uploaded files as "/data/upload/1/abcd1234-0001.png"; the key is the stem.
    return PurePosixPath(ref.split("?")[0]).stem


def _label_studio_choice(task: dict) -> str | None:
    for annotation in task.get("annotations") or []:
        if annotation.get("was_cancelled"):
            continue
        for result in annotation.get("result") or []:
            value = result.get("value") or {}
            for name in ("choices", "labels", "taxonomy"):
                if value.get(name):
                    choice = value[name][0]
                    return choice[0] if isinstance(choice, list) else str(choice)
    return None


def _label_studio(tasks: list[dict], known_keys: set[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for task in tasks:
        label = _label_studio_choice(task)
        if label is None:
            continue
        data = task.get("data") or {}
        key = data.get("key")
        if key is None:
            # No explicit key: match a referenced file's stem, also after Label Studio's "<hash>-" prefix.
            for ref in data.values():
                if isinstance(ref, str):
                    stem = _stem(ref)
                    candidates = [stem, stem.split("-", 1)[-1]]
                    key = next((c for c in candidates if c in known_keys), None)
                    if key:
                        break
        if key is not None:
            labels[str(key)] = label
    return labels


def read_annotation_file(path: str | Path, known_keys: set[str]) -> dict[str, str]:
    """``{key: label}`` from a CSV (key,label), JSONL ({"key","label"} per line) or Label Studio JSON export."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if not reader.fieldnames or not {"key", "label"} <= set(reader.fieldnames):
                raise ValueError(f"{path}: CSV annotations need columns key,label; found {reader.fieldnames}")
            return {row["key"]: row["label"] for row in reader if row["label"]}
    if suffix == ".jsonl":
        labels = {}
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                if "key" not in record or "label" not in record:
                    raise ValueError(f"{path}:{number}: JSONL annotations need 'key' and 'label'")
                labels[str(record["key"])] = str(record["label"])
        return labels
    if suffix == ".json":
        tasks = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(tasks, list):
            raise ValueError(f"{path}: expected a Label Studio JSON export (a list of tasks)")
        return _label_studio(tasks, known_keys)
    raise ValueError(f"{path}: unsupported annotation format {suffix!r} (use .csv, .jsonl or Label Studio .json)")


def resolve_labels(source: dict[str, str], uris: dict[str, list[str]], cfg: LabelConfig) -> dict[str, str]:
    """Final ``{key: label}``: source labels, overridden by rules, overridden by imported files."""
    labels = {k: v for k, v in source.items() if v}
    if cfg.rules:
        for key in uris:
            ruled = apply_rules(key, uris[key], cfg.rules)
            if ruled is not None:
                labels[key] = ruled
    known = set(uris)
    for path in cfg.imports:
        imported = read_annotation_file(path, known)
        labels.update({k: v for k, v in imported.items() if k in known})
    return labels
