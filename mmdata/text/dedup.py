"""Near-duplicate signatures for text: MinHash over word 5-gram shingles (datasketch's permutations)."""

from __future__ import annotations

import functools
import zlib

import numpy as np
from datasketch import MinHash

NUM_PERM = 64
SHINGLE = 5
SCHEME = "affine32"  # stated explicitly so stored hash values reload with the same scheme
_MIX = np.uint32(0x9E3779B1)  # odd 32-bit multiplier of the rolling shingle hash
_WORD_HASH_CACHE_WORDS = 1_000_000  # the crc32 cache starts over when full
_PAD_ITEMS = 64  # MinHash item counts are rounded up to a multiple of this
_ROW_ITEMS = 256  # and processed in rows of at most this many items (4 cached tables)
_word_hashes: dict[str, int] = {}
# MurmurHash3's 32-bit finalizer, which datasketch's affine32 scheme applies to every input hash.
_FMIX32 = (np.uint32(16), np.uint32(0x85EBCA6B), np.uint32(13), np.uint32(0xC2B2AE35), np.uint32(16))


def _crc32_of_words(words: list[str]) -> np.ndarray:
    # A word's crc32 is computed once per process: documents share most of their words.
    try:
        return np.fromiter(map(_word_hashes.__getitem__, words), dtype=np.uint32, count=len(words))
    except KeyError:
        if len(_word_hashes) > _WORD_HASH_CACHE_WORDS:
            _word_hashes.clear()
        for word in words:
            if word not in _word_hashes:
                _word_hashes[word] = zlib.crc32(word.encode("utf-8"))
        return np.fromiter(map(_word_hashes.__getitem__, words), dtype=np.uint32, count=len(words))


@functools.lru_cache(maxsize=16)
def _mix_powers(width: int) -> np.ndarray:
    return np.array([pow(int(_MIX), width - 1 - i, 1 << 32) for i in range(width)], dtype=np.uint32)


def word_shingle_hashes(words: list[str], size: int = SHINGLE) -> np.ndarray:
    """32-bit hashes of the ``size``-grams of ``words`` (all of them when fewer).

    Words are hashed once (crc32) and combined per window with numpy, instead of hashing every
    shingle string separately: same role as datasketch's sha1 per item, a fraction of the cost.
    The rolling hash ``h = (h * MIX + word) & 0xFFFFFFFF`` over a window is the window's dot product
    with the powers of MIX in wrapping uint32 arithmetic: one matmul over a strided view of windows.
    """
    if not words:
        return np.zeros(1, dtype=np.uint32)
    word_hashes = _crc32_of_words(words)
    width = min(size, len(words))
    windows = len(words) - width + 1
    itemsize = word_hashes.itemsize
    window_view = np.ndarray((windows, width), dtype=np.uint32, buffer=word_hashes, strides=(itemsize, itemsize))
    return window_view @ _mix_powers(width)


def shingle_hashes(text: str, size: int = SHINGLE) -> np.ndarray:
    """32-bit hashes of the lower-cased word ``size``-grams of ``text`` (the whole text when shorter)."""
    return word_shingle_hashes(text.lower().split(), size)


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int) -> np.ndarray:
    # Drawing the permutations costs more than hashing a short text: draw them once per process.
    return MinHash(num_perm=num_perm, seed=1, scheme=SCHEME).permutations


@functools.lru_cache(maxsize=8)
def _permutation_rows(num_perm: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    # Each permutation's a and b repeated along a row, [num_perm, width]: the affine step then runs on
    # contiguous rows, several times faster per call than numpy's broadcast of one value over a row.
    a, b = _permutations(num_perm)
    return np.repeat(a, width).reshape(num_perm, width), np.repeat(b, width).reshape(num_perm, width)


def minhash_of_hashes(hashes: np.ndarray, num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash values (uint64 [num_perm]) of 32-bit item hashes: what datasketch's ``MinHash.update_batch``
    gives with seed 1 and the affine32 scheme (tested), as a few numpy operations on the whole batch."""
    count = len(hashes)
    # Items go in rows of `width` (a multiple of _PAD_ITEMS, at most _ROW_ITEMS), the last one padded
    # with copies of the first item: a repeated item leaves every minimum as it is.
    width = min(_ROW_ITEMS, -(-count // _PAD_ITEMS) * _PAD_ITEMS)
    hv = np.empty(-(-count // width) * width, dtype=np.uint32)
    hv[:count] = hashes
    hv[count:] = hv[0]
    s1, m1, s2, m2, s3 = _FMIX32
    hv ^= hv >> s1
    hv *= m1
    hv ^= hv >> s2
    hv *= m2
    hv ^= hv >> s3
    a_rows, b_rows = _permutation_rows(num_perm, width)
    # [num_perm, rows, width], wrapping uint32 like datasketch's
    permuted = np.multiply(a_rows[:, None, :], hv.reshape(-1, width))
    permuted += b_rows[:, None, :]
    return permuted.reshape(num_perm, -1).min(axis=1).astype(np.uint64)


def words_minhash(words: list[str], num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash hash values of the shingles of already lower-cased, whitespace-split ``words``."""
    return minhash_of_hashes(word_shingle_hashes(words), num_perm)


def text_minhash(text: str, num_perm: int = NUM_PERM) -> np.ndarray:
    """MinHash hash values (uint [num_perm]) of ``text``; fixed seed so signatures compare across runs."""
    return words_minhash(text.lower().split(), num_perm)
