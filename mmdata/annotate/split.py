"""Deterministic, stratified, group-aware splits (a group never spans two splits)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict


def stable_hash(*parts: object) -> int:
    """64-bit hash of ``parts`` that is the same in every process and run (unlike ``hash``)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "big")


def assign_splits(samples: dict[str, tuple[str, str]], ratios: dict[str, float], seed: int) -> dict[str, str]:
    """``{key: split}`` for ``{key: (label, group)}``; an empty group means the sample is its own group.

    Groups are stratified by their majority label; inside each label, groups are visited in seeded
    hash order and each goes to the split furthest below its target share. Depends only on the
    samples, ratios and seed, never on input order.
    """
    total = sum(ratios.values())
    if total <= 0 or any(r < 0 for r in ratios.values()):
        raise ValueError(f"split ratios must be non-negative with a positive sum, got {ratios}")
    shares = {name: r / total for name, r in sorted(ratios.items())}
    members: dict[str, list[str]] = defaultdict(list)
    for key, (_label, group) in samples.items():
        members[group or f"\x00{key}"].append(key)
    by_label: dict[str, list[str]] = defaultdict(list)
    for group, keys in members.items():
        counts = Counter(samples[k][0] for k in keys)
        majority = min(counts, key=lambda label: (-counts[label], label))
        by_label[majority].append(group)
    assignment: dict[str, str] = {}
    total_filled = dict.fromkeys(shares, 0)
    remaining = len(members)
    for label in sorted(by_label):
        groups = sorted(by_label[label], key=lambda g: (stable_hash(seed, g), g))
        size = sum(len(members[g]) for g in groups)
        filled = dict.fromkeys(shares, 0)
        for group in groups:
            empty = [s for s in shares if shares[s] > 0 and total_filled[s] == 0]
            if empty and remaining <= len(empty):
                # Few groups left: give each split that would otherwise stay empty one of them.
                split = max(empty, key=lambda s: (shares[s], s))
            else:
                # The split furthest below its target count in this label; ties go to the larger share.
                split = max(shares, key=lambda s: (shares[s] * size - filled[s], shares[s], s))
            filled[split] += len(members[group])
            total_filled[split] += len(members[group])
            remaining -= 1
            for key in members[group]:
                assignment[key] = split
    return assignment


def class_balance(labels: dict[str, str], splits: dict[str, str]) -> dict[str, dict[str, int]]:
    """``{split: {label: count}}`` sorted by name."""
    table: dict[str, Counter] = defaultdict(Counter)
    for key, split in splits.items():
        table[split][labels.get(key, "")] += 1
    return {s: dict(sorted(c.items())) for s, c in sorted(table.items())}
