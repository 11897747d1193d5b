"""The build's near-duplicate index makes datasketch's decisions: the candidates of ``MinHashLSH.query``
and the ``LeanMinHash.jaccard`` filter, over signatures that share bands, miss by a few values, or not."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHashLSH

from mmdata.build.config import DedupConfig
from mmdata.build.dedup import Deduplicator, TextIndex
from mmdata.text.dedup import NUM_PERM, SCHEME, text_minhash


def _signature_stream(rng: np.random.Generator, n: int) -> list[np.ndarray]:
    """Random affine32 signatures (32-bit values), and copies of earlier ones with 0-25 values changed (some bands kept whole,
    Jaccard estimates on both sides of every threshold), some over a 2-value alphabet (chance collisions)."""
    stream: list[np.ndarray] = []
    for _ in range(n):
        kind = rng.integers(4)
        if kind == 0 or not stream:
            stream.append(rng.integers(0, 2**32, NUM_PERM, dtype=np.uint64))
        elif kind == 1:
            stream.append(rng.integers(0, 2, NUM_PERM, dtype=np.uint64))
        else:
            copy = stream[rng.integers(len(stream))].copy()
            changed = rng.choice(NUM_PERM, size=rng.integers(0, 26), replace=False)
            copy[changed] = rng.integers(0, 2**32, len(changed), dtype=np.uint64)
            stream.append(copy)
    return stream


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.85, 0.9])
def test_text_index_candidates_and_matches_equal_datasketch(threshold):
    rng = np.random.default_rng(int(threshold * 100))
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    stored: dict[str, LeanMinHash] = {}
    index = TextIndex(threshold, NUM_PERM)
    candidates_seen = rejected_seen = 0
    for i, hashvalues in enumerate(_signature_stream(rng, 3000)):  # the index grows past its first 1024 rows
        key, minhash = f"k{i:05d}", hashvalues.tobytes()
        signature = LeanMinHash(seed=1, hashvalues=hashvalues, scheme=SCHEME)
        expected = set(lsh.query(signature))
        assert {index.keys[row] for row in index.candidates(minhash)} == expected
        expected_matches = {k for k in expected if stored[k].jaccard(signature) >= threshold}
        assert index.matches(minhash) == expected_matches
        candidates_seen += len(expected) > 0
        rejected_seen += len(expected_matches) < len(expected)
        if rng.random() < 0.7:  # kept: remembered by both
            lsh.insert(key, signature)
            stored[key] = signature
            index.insert(key, minhash)
    # The stream exercised shared bands, and candidates that the Jaccard estimate then rejects.
    assert candidates_seen > 150 and rejected_seen > 15


def test_text_index_rejects_signatures_of_another_length():
    index = TextIndex(0.85, NUM_PERM)
    with pytest.raises(ValueError, match="length"):
        index.insert("a", np.zeros(NUM_PERM - 1, dtype=np.uint64).tobytes())
    with pytest.raises(ValueError, match="length"):
        index.matches(np.zeros(NUM_PERM + 1, dtype=np.uint64).tobytes())


def _reference_check(state: dict, cfg: DedupConfig, key: str, content_hash: str, modalities: set[str],
                     minhash: bytes) -> str | None:
    """The text path of the deduplicator as it was with datasketch's index and LeanMinHash objects."""
    if cfg.exact and content_hash in state["exact"]:
        return f"exact_duplicate_of:{state['exact'][content_hash]}"
    hashvalues = np.frombuffer(minhash, dtype=np.uint64) if minhash else None
    if cfg.near and modalities and modalities <= {"text", "image"}:
        shared = None
        if "text" in modalities and hashvalues is not None:
            signature = LeanMinHash(seed=1, hashvalues=hashvalues, scheme=SCHEME)
            shared = {k for k in state["lsh"].query(signature)
                      if state["minhashes"][k].jaccard(signature) >= cfg.text_threshold}
        shared = {k for k in shared or () if state["modalities"][k] == modalities}
        if shared:
            return f"near_duplicate_of:{min(shared)}"
    state["exact"].setdefault(content_hash, key)
    if not cfg.near or not modalities <= {"text", "image"}:
        return None
    state["modalities"][key] = frozenset(modalities)
    if hashvalues is not None:
        signature = LeanMinHash(seed=1, hashvalues=hashvalues, scheme=SCHEME)
        state["lsh"].insert(key, signature)
        state["minhashes"][key] = signature
    return None


@pytest.mark.parametrize("near", [True, False])
def test_deduplicator_decisions_equal_the_datasketch_reference(near):
    rng = np.random.default_rng(7)
    cfg = DedupConfig(near=near)
    dedup = Deduplicator(cfg)
    state = {"exact": {}, "modalities": {}, "minhashes": {},
             "lsh": MinHashLSH(threshold=cfg.text_threshold, num_perm=NUM_PERM)}
    reasons = []
    for i, hashvalues in enumerate(_signature_stream(rng, 2000)):
        modalities = [{"text"}] * 5 + [{"text", "audio"}, {"text", "image"}, {"audio"}]
        modalities = modalities[rng.integers(len(modalities))]
        minhash = b"" if rng.random() < 0.05 else hashvalues.tobytes()
        args = (f"s{i:05d}", f"c{rng.integers(8000)}", modalities, minhash)
        expected = _reference_check(state, cfg, *args)
        assert dedup.check(*args, "") == expected
        reasons.append((expected or "").split(":")[0])
    assert reasons.count("exact_duplicate_of") > 100
    assert (reasons.count("near_duplicate_of") > 60) == near


def test_overlapping_windows_of_one_text_are_near_duplicates_of_the_first():
    words = [f"w{i}" for i in range(400)]
    dedup = Deduplicator(DedupConfig())
    texts = {"a": words[:300], "b": words[5:305], "c": words[200:400]}  # b shares 295 of a's words, c 100
    reasons = {key: dedup.check(key, key, {"text"}, text_minhash(" ".join(text)).tobytes(), "")
               for key, text in texts.items()}
    assert reasons == {"a": None, "b": "near_duplicate_of:a", "c": None}
