"""MinHash signatures computed with numpy are datasketch's, bit for bit, so near-duplicate decisions
(and signatures stored by earlier builds) do not change."""

from __future__ import annotations

import zlib

import numpy as np
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.text.dedup import SCHEME, minhash_of_hashes, shingle_hashes, text_minhash, word_shingle_hashes

TEXTS = ["the quick brown fox jumps over the lazy dog near the river bank today " * 3,
         "Copyright 2013 the authors. Redistribution and use in source and binary forms is permitted.",
         "short", "", "Über café   naïve\nnew line ÜBER Café", "a b c d e f g h i j k l m n o p"]


def _datasketch_minhash(hashes: list[int], num_perm: int) -> np.ndarray:
    signature = MinHash(num_perm=num_perm, seed=1, scheme=SCHEME, hashfunc=lambda value: value)
    signature.update_batch(hashes)
    return signature.hashvalues.astype(np.uint64)


def _shingles_by_definition(words: list[str], size: int) -> list[int]:
    """Per-window rolling hash over the words' crc32, masked to 32 bits."""
    if not words:
        return [0]
    hashes = [zlib.crc32(word.encode("utf-8")) for word in words]
    width = min(size, len(words))
    out = []
    for start in range(len(words) - width + 1):
        value = 0
        for word_hash in hashes[start : start + width]:
            value = (value * 0x9E3779B1 + word_hash) & 0xFFFFFFFF
        out.append(value)
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=300), st.sampled_from([1, 16, 64, 128]))
def test_minhash_of_hashes_equals_datasketch_update_batch(hashes, num_perm):
    ours = minhash_of_hashes(np.array(hashes, dtype=np.uint32), num_perm)
    assert ours.dtype == np.uint64
    assert ours.tolist() == _datasketch_minhash(hashes, num_perm).tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=6).filter(lambda w: not w.isspace()), max_size=40),
       st.integers(1, 7))
def test_word_shingle_hashes_equal_the_per_window_definition(words, size):
    assert word_shingle_hashes(words, size).tolist() == _shingles_by_definition(words, size)


def test_text_minhash_equals_datasketch_over_the_texts_shingles():
    for text in TEXTS:
        expected = _datasketch_minhash(_shingles_by_definition(text.lower().split(), 5), 64)
        assert text_minhash(text).tolist() == expected.tolist()
        assert shingle_hashes(text).dtype == np.uint32


def test_minhash_of_hashes_equals_datasketch_across_padding_and_row_lengths():
    # Item counts around the padding multiple (64) and the row length (256), up to many rows.
    rng = np.random.default_rng(3)
    for count in [1, 2, 63, 64, 65, 127, 255, 256, 257, 511, 512, 513, 700, 2049]:
        hashes = rng.integers(0, 2**32, count, dtype=np.uint64).astype(np.uint32)
        assert minhash_of_hashes(hashes).tolist() == _datasketch_minhash(hashes.tolist(), 64).tolist(), count
        # Two distinct items, one only at the end: padding or a later row must not lose it.
        hashes[:-1] = hashes[-1] ^ 0x5BD1E995
        assert minhash_of_hashes(hashes).tolist() == _datasketch_minhash(hashes.tolist(), 64).tolist(), count
