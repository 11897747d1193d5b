"""Predict labels for raw files or a table, standardized exactly as the build did.

The model directory carries the build's ``preprocess.json`` and ``vocab.json``; the build role's
``Standardizer.from_dir`` reads them, so a raw file goes through the same resize / resample /
log-mel / tokenization as the training shards.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import torch
from rich.table import Table

from mmdata import fields
from mmmodel.config import ModelDims
from mmmodel.data import decode_sample
from mmmodel.modeldir import load_model
from mmmodel.train import resolve_device

TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


class PredictError(ValueError):
    """Inputs or model that predict cannot use, with the reason."""


def default_model_dir() -> Path:
    """The registry champion when the registry has one; otherwise ask for --model."""
    try:
        from mmmodel.registry import champion_dir
    except ImportError:
        champion_dir = None
    champion = champion_dir() if champion_dir else None
    if champion and Path(champion).is_dir():
        return Path(champion)
    raise PredictError("no registry champion found; pass --model <model directory>")


def group_inputs(paths: list[Path]) -> dict[str, dict[str, bytes]]:
    """Raw files grouped by stem (one sample per stem) or rows of a table -> {key: {modality: bytes}}."""
    samples: dict[str, dict[str, bytes]] = defaultdict(dict)
    for path in paths:
        if not path.exists():
            raise PredictError(f"{path} does not exist")
        if path.suffix.lower() in TABLE_SUFFIXES:
            samples.update(_table_rows(path))
            continue
        modality = fields.modality_of_extension(path.suffix)
        if modality is None:
            raise PredictError(f"{path}: unknown file type {path.suffix!r}")
        samples[path.stem][modality] = path.read_bytes()
    return dict(samples)


def _table_rows(path: Path) -> dict[str, dict[str, bytes]]:
    import pandas as pd

    reader = {".csv": pd.read_csv, ".jsonl": lambda p: pd.read_json(p, lines=True), ".parquet": pd.read_parquet}
    frame = reader[path.suffix.lower()](path)
    rows: dict[str, dict[str, bytes]] = {}
    for index, row in frame.iterrows():
        key = str(row["key"]) if "key" in frame and not pd.isna(row["key"]) else f"{path.stem}-{index}"
        sample = {}
        for modality in fields.MODALITIES:
            value = row.get(modality)
            if value is None or (isinstance(value, float) and pd.isna(value)):
                continue
            candidate = (path.parent / str(value))
            if candidate.is_file():
                sample[modality] = candidate.read_bytes()
            elif modality == fields.TEXT:
                sample[modality] = str(value).encode("utf-8")  # inline text
            else:
                raise PredictError(f"{path} row {index}: {modality} file {value!r} not found")
        rows[key] = sample
    return rows


def predict_paths(model_dir: str | Path, paths: list[Path], device: str = "auto") -> list[dict]:
    """Probabilities per sample: [{key, labels: [(label, prob), ...] best first} or {key, error}]."""
    from mmdata.build.standardize import DropSample, Standardizer

    torch_device = resolve_device(device)
    model, info, label_names = load_model(model_dir, torch_device)
    dims = ModelDims.model_validate(info["dims"])
    standardizer = Standardizer.from_dir(model_dir)
    results = []
    for key, raw in group_inputs([Path(p) for p in paths]).items():
        try:
            sample = standardizer.standardize(raw)
        except DropSample as reason:
            results.append({"key": key, "error": f"dropped: {reason}"})
            continue
        sample = {**sample, fields.CLASS: b"0"}  # decode_sample needs a label; it is not used
        decoded = decode_sample(sample, dims)
        if decoded["mask"].sum() == 0:
            results.append({"key": key, "error": f"none of the model's modalities {dims.modalities} in the input"})
            continue
        inputs = {m: decoded[m].unsqueeze(0).to(torch_device) for m in dims.modalities}
        with torch.no_grad():
            probs = torch.softmax(model(inputs, decoded["mask"].unsqueeze(0).to(torch_device)).float(), -1)[0]
        order = probs.argsort(descending=True).tolist()
        results.append({"key": key, "labels": [(label_names[i], float(probs[i])) for i in order]})
    return results


def predictions_table(results: list[dict], top: int = 3) -> Table:
    """Rich table: one row per sample with its best labels and probabilities."""
    table = Table(title="predictions")
    table.add_column("sample")
    table.add_column("label")
    table.add_column(f"top {top}")
    for result in results:
        if "error" in result:
            table.add_row(result["key"], "-", f"[red]{result['error']}")
            continue
        best = result["labels"][:top]
        table.add_row(result["key"], best[0][0], ", ".join(f"{label} {p:.3f}" for label, p in best))
    return table
