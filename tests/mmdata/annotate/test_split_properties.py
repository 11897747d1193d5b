"""Property: splits depend only on the samples and the seed, never on input order; groups never straddle."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.annotate.split import assign_splits

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}
_SAMPLES = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["", "g1", "g2", "g3", "g4", "g5", "speaker é"])),
    min_size=1, max_size=60)


@settings(max_examples=60, deadline=None)
@given(_SAMPLES, st.integers(0, 1000), st.randoms(use_true_random=False))
def test_splits_are_order_independent_and_group_disjoint(samples, seed, rng: random.Random):
    splits = assign_splits(samples, RATIOS, seed)
    items = list(samples.items())
    rng.shuffle(items)
    assert assign_splits(dict(items), RATIOS, seed) == splits
    assert set(splits) == set(samples) and set(splits.values()) <= set(RATIOS)
    owners: dict[str, set[str]] = {}
    for key, (_, group) in samples.items():
        owners.setdefault(group or f"<own>{key}", set()).add(splits[key])
    assert all(len(where) == 1 for where in owners.values())
