"""Corpus-wide duplicate removal over partition records, in key order (the earliest key is kept)."""

from __future__ import annotations

import functools
from collections import defaultdict

import numpy as np
from datasketch import MinHashLSH

from mmdata.build.config import DedupConfig
from mmdata.text.dedup import NUM_PERM

_BANDS = 4  # 64-bit pHash in 4 bands of 16 bits: distance <= 3 shares at least one band exactly
_HASH_BYTES = 8  # one uint64 MinHash value


@functools.lru_cache(maxsize=8)
def _lsh_bands(threshold: float, num_perm: int) -> tuple[tuple[int, int], ...]:
    # datasketch solves for its band sizes when an index is made (milliseconds): read them off one, once.
    return tuple(MinHashLSH(threshold=threshold, num_perm=num_perm).hashranges)


class TextIndex:
    """The candidates and matches of datasketch's ``MinHashLSH`` plus ``LeanMinHash.jaccard`` (tested),
    kept in plain dicts and one array: no per-signature Python objects beyond the band keys.

    datasketch keys band ``i`` by the byte-swapped bytes of ``hashvalues[start:end]``; two bands are
    equal exactly when their raw bytes are, so the native bytes of the stored signature serve as keys.
    """

    def __init__(self, threshold: float, num_perm: int = NUM_PERM):
        self.threshold = threshold
        self.num_perm = num_perm
        self.byte_ranges = [(start * _HASH_BYTES, end * _HASH_BYTES) for start, end in _lsh_bands(threshold, num_perm)]
        self.tables: list[dict[bytes, int | list[int]]] = [{} for _ in self.byte_ranges]
        self.keys: list[str] = []
        self.signatures = np.empty((1024, num_perm), dtype=np.uint64)

    def _check_length(self, minhash: bytes) -> None:
        if len(minhash) != self.num_perm * _HASH_BYTES:
            raise ValueError(f"Expecting minhash with length {self.num_perm}, got {len(minhash) // _HASH_BYTES}")

    def candidates(self, minhash: bytes) -> set[int]:
        """Row numbers of the stored signatures sharing a band with ``minhash`` (``MinHashLSH.query``)."""
        self._check_length(minhash)
        rows: set[int] = set()
        for (start, end), table in zip(self.byte_ranges, self.tables, strict=True):
            found = table.get(minhash[start:end])
            if found is None:
                continue
            if isinstance(found, int):
                rows.add(found)
            else:
                rows.update(found)
        return rows

    def matches(self, minhash: bytes) -> set[str]:
        """Keys of stored signatures that share a band with ``minhash`` and whose Jaccard estimate (the
        share of equal hash values, as ``LeanMinHash.jaccard`` computes it) is at least the threshold."""
        rows = self.candidates(minhash)
        if not rows:
            return set()
        hashvalues = np.frombuffer(minhash, dtype=np.uint64)
        signatures, keys, num_perm = self.signatures, self.keys, float(self.num_perm)
        # Row by row: count_nonzero over one row is ~1 us, with an axis over a fancy-indexed block ~5.
        return {keys[row] for row in rows
                if float(np.count_nonzero(signatures[row] == hashvalues)) / num_perm >= self.threshold}

    def insert(self, key: str, minhash: bytes) -> None:
        """Remember ``key``'s signature (``MinHashLSH.insert``); keys are not checked for repeats."""
        self._check_length(minhash)
        row = len(self.keys)
        if row == len(self.signatures):
            self.signatures = np.concatenate([self.signatures, np.empty_like(self.signatures)])
        self.signatures[row] = np.frombuffer(minhash, dtype=np.uint64)
        self.keys.append(key)
        # A band seen once maps to a row number (an int is no GC-tracked container), later to a list.
        for (start, end), table in zip(self.byte_ranges, self.tables, strict=True):
            band = minhash[start:end]
            found = table.setdefault(band, row)
            if found != row:
                if isinstance(found, int):
                    table[band] = [found, row]
                else:
                    found.append(row)


class Deduplicator:
    """``check(record) -> None`` (keep) or a reason such as ``near_duplicate_of:<key>``; keeps what it saw."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.exact: dict[str, str] = {}
        # Only near-duplicate search uses the LSH index (its setup solves for band sizes: milliseconds).
        self.text_index = TextIndex(cfg.text_threshold, NUM_PERM) if cfg.near else None
        self.phash_bands: dict[tuple[int, int], list[str]] = defaultdict(list)
        self.phashes: dict[str, int] = {}
        self.modalities: dict[str, frozenset[str]] = {}
        self._modality_sets: dict[frozenset[str], frozenset[str]] = {}  # one object per distinct set

    def _image_matches(self, phash: int) -> set[str]:
        candidates = set()
        for band in range(_BANDS):
            candidates.update(self.phash_bands[(band, (phash >> (16 * band)) & 0xFFFF)])
        return {k for k in candidates if bin(self.phashes[k] ^ phash).count("1") <= self.cfg.image_max_distance}

    def check(self, key: str, content_hash: str, modalities: set[str], minhash: bytes, phash: str) -> str | None:
        """Reason to drop ``key`` as a duplicate, or None (then it is remembered as kept)."""
        if self.cfg.exact and content_hash in self.exact:
            return f"exact_duplicate_of:{self.exact[content_hash]}"
        image_hash = int(phash, 16) if phash else None
        # Only text and image carry signatures: a sample with audio is never a near-duplicate.
        if self.cfg.near and modalities and modalities <= {"text", "image"}:
            shared: set[str] | None = None
            if "text" in modalities and minhash:
                shared = self.text_index.matches(minhash)
            if "image" in modalities and image_hash is not None and self.cfg.image_max_distance <= 3:
                matches = self._image_matches(image_hash)
                shared = matches if shared is None else shared & matches
            # A duplicate carries the same modalities: an image alone does not duplicate an image+text sample.
            shared = {k for k in shared or () if self.modalities[k] == modalities}
            if shared:
                return f"near_duplicate_of:{min(shared)}"
        self.exact.setdefault(content_hash, key)
        if not self.cfg.near or not modalities <= {"text", "image"}:
            # Only samples of text and/or image alone can ever match a query (same modality set): skip the rest.
            return None
        modality_set = frozenset(modalities)
        self.modalities[key] = self._modality_sets.setdefault(modality_set, modality_set)
        if minhash:
            self.text_index.insert(key, minhash)
        if image_hash is not None:
            self.phashes[key] = image_hash
            for band in range(_BANDS):
                self.phash_bands[(band, (image_hash >> (16 * band)) & 0xFFFF)].append(key)
        return None
