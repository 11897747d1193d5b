"""Labels from source, rules and imported files; deterministic, stratified, group-aware splits."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.annotate.config import LabelConfig, LabelRule
from mmdata.annotate.labels import read_annotation_file, resolve_labels
from mmdata.annotate.split import assign_splits, class_balance

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_rules_override_source_and_imports_override_rules(tmp_path):
    (tmp_path / "a.csv").write_text("key,label\nk1,cat\nunknown,dog\n")
    cfg = LabelConfig(rules=[LabelRule(pattern=r"^k[12]$", label="ruled"), LabelRule(pattern=r"birds/", label="bird",
                                                                                      field="uri")],
                      imports=[str(tmp_path / "a.csv")])
    uris = {"k1": ["file:a/k1.png"], "k2": ["file:a/k2.png"], "k3": ["file:birds/k3.png"], "k4": ["file:x/k4.png"]}
    labels = resolve_labels({"k1": "src", "k2": "src", "k4": "src"}, uris, cfg)
    assert labels == {"k1": "cat", "k2": "ruled", "k3": "bird", "k4": "src"}


def test_jsonl_and_label_studio_imports(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"key": "k1", "label": "cat"}\n\n{"key": "k2", "label": "dog"}\n')
    assert read_annotation_file(tmp_path / "a.jsonl", set()) == {"k1": "cat", "k2": "dog"}
    export = [
        {"id": 1, "data": {"image": "/data/upload/1/8f2a1c3d-k1.png"},
         "annotations": [{"result": [{"type": "choices", "value": {"choices": ["cat"]}}]}]},
        {"id": 2, "data": {"key": "k2", "audio": "s3://b/k2.wav"},
         "annotations": [{"was_cancelled": True, "result": [{"value": {"choices": ["x"]}}]},
                         {"result": [{"value": {"choices": ["dog"]}}]}]},
        {"id": 3, "data": {"text": "/data/k3.txt"}, "annotations": []},
    ]
    (tmp_path / "export.json").write_text(json.dumps(export))
    assert read_annotation_file(tmp_path / "export.json", {"k1", "k2", "k3"}) == {"k1": "cat", "k2": "dog"}


def test_bad_annotation_files_raise_clear_errors(tmp_path):
    (tmp_path / "bad.csv").write_text("id,class\n1,a\n")
    with pytest.raises(ValueError, match="need columns key,label"):
        read_annotation_file(tmp_path / "bad.csv", set())
    (tmp_path / "bad.jsonl").write_text('{"key": "a"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: JSONL annotations need"):
        read_annotation_file(tmp_path / "bad.jsonl", set())
    with pytest.raises(FileNotFoundError):
        read_annotation_file(tmp_path / "missing.csv", set())


def test_split_is_stratified_and_order_independent():
    samples = {f"{label}_{i}": (label, "") for label in "abc" for i in range(100)}
    splits = assign_splits(samples, RATIOS, seed=3)
    balance = class_balance({k: v[0] for k, v in samples.items()}, splits)
    for label in "abc":
        assert balance["train"][label] == 80 and balance["val"][label] == 10 and balance["test"][label] == 10
    reversed_input = dict(reversed(list(samples.items())))
    assert assign_splits(reversed_input, RATIOS, seed=3) == splits
    assert assign_splits(samples, RATIOS, seed=4) != splits


def test_four_speakers_fill_three_splits():
    samples = {f"{d}_{spk}_{i}": (str(d), spk) for d in range(10) for spk in ("george", "nicolas", "theo", "yweweler")
               for i in range(5)}
    splits = assign_splits(samples, RATIOS, seed=0)
    per_split = Counter(splits.values())
    assert set(per_split) == {"train", "val", "test"} and per_split["train"] == 100


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=6), st.tuples(st.sampled_from("xyz"), st.sampled_from(["", "g1", "g2", "g3"])),
                       min_size=1, max_size=40), st.integers(0, 5))
def test_groups_never_span_splits_for_any_input(samples, seed):
    splits = assign_splits(samples, RATIOS, seed)
    assert set(splits) == set(samples)
    owners: dict[str, set[str]] = {}
    for key, (_, group) in samples.items():
        if group:
            owners.setdefault(group, set()).add(splits[key])
    assert all(len(s) == 1 for s in owners.values())
    assert assign_splits(samples, RATIOS, seed) == splits


def test_bad_ratios_refused():
    with pytest.raises(ValueError, match="split ratios"):
        assign_splits({"a": ("x", "")}, {"train": 0.0}, 0)
