"""Near-duplicate signatures for text: MinHash over word 5-gram shingles (datasketch)."""

from __future__ import annotations

import numpy as np
from datasketch import MinHash

NUM_PERM = 64
SHINGLE = 5
SCHEME = "affine32"  # stated explicitly so stored hash values reload with the same scheme


def shingles(text: str, size: int = SHINGLE) -> list[bytes]:
    """Lower-cased word n-grams of ``text`` (the whole text when shorter than ``size`` words)."""
    words = text.lower().split()
    if len(words) <= size:
        return [" ".join(words).encode("utf-8")]
    return [" ".join(words[i : i + size]).encode("utf-8") for i in range(len(words) - size + 1)]


def text_minhash(text: str, num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash hash values (uint64 [num_perm]) of ``text``; seed fixed so signatures compare across runs."""
    signature = MinHash(num_perm=num_perm, seed=1, scheme=SCHEME)
    signature.update_batch(shingles(text))
    return signature.hashvalues.astype(np.uint64)

