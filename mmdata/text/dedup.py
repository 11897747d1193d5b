"""Near-duplicate signatures for text: MinHash over word 5-gram shingles (datasketch)."""

from __future__ import annotations

import functools
import zlib

import numpy as np
from datasketch import MinHash

NUM_PERM = 64
SHINGLE = 5
SCHEME = "affine32"  # stated explicitly so stored hash values reload with the same scheme
_MASK32 = np.uint64(0xFFFFFFFF)
_MIX = np.uint64(0x9E3779B1)  # odd 32-bit multiplier of the rolling shingle hash


def shingle_hashes(text: str, size: int = SHINGLE) -> np.ndarray:
    """32-bit hashes of the lower-cased word ``size``-grams of ``text`` (the whole text when shorter).

    Words are hashed once (crc32) and combined per window with numpy, instead of hashing every
    shingle string separately: same role as datasketch's sha1 per item, a fraction of the cost.
    """
    words = text.lower().split()
    if not words:
        return np.zeros(1, dtype=np.uint32)
    word_hashes = np.fromiter((zlib.crc32(w.encode("utf-8")) for w in words), dtype=np.uint64, count=len(words))
    width = min(size, len(words))
    windows = len(words) - width + 1
    combined = np.zeros(windows, dtype=np.uint64)
    for offset in range(width):
        combined = (combined * _MIX + word_hashes[offset : offset + windows]) & _MASK32
    return combined.astype(np.uint32)


def _identity(value):
    return value


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int) -> np.ndarray:
    # Drawing the permutations costs more than hashing a short text: draw them once per process.
    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME).permutations


def text_minhash(text: str, num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash hash values (uint [num_perm]) of ``text``; fixed seed so signatures compare across runs."""
    signature = MinHash(num_perm=num_perm, seed=1, scheme=SCHEME, hashfunc=_identity,
                        permutations=_permutations(num_perm))
    signature.update_batch(shingle_hashes(text).tolist())
    return signature.hashvalues.astype(np.uint64)
