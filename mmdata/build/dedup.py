"""Corpus-wide duplicate removal over partition records, in key order (the earliest key is kept)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from datasketch import LeanMinHash, MinHashLSH

from mmdata.build.config import DedupConfig
from mmdata.text.dedup import NUM_PERM, SCHEME

_BANDS = 4  # 64-bit pHash in 4 bands of 16 bits: distance <= 3 shares at least one band exactly


class Deduplicator:
    """``check(record) -> None`` (keep) or a reason such as ``near_duplicate_of:<key>``; keeps what it saw."""

    def __init__(self, cfg: DedupConfig):
        self.cfg = cfg
        self.exact: dict[str, str] = {}
        # Only near-duplicate search uses the LSH index (its setup solves for band sizes: milliseconds).
        self.lsh = MinHashLSH(threshold=cfg.text_threshold, num_perm=NUM_PERM) if cfg.near else None
        self.minhashes: dict[str, LeanMinHash] = {}
        self.phash_bands: dict[tuple[int, int], list[str]] = defaultdict(list)
        self.phashes: dict[str, int] = {}
        self.modalities: dict[str, frozenset[str]] = {}

    def _text_matches(self, hashvalues: np.ndarray) -> set[str]:
        signature = LeanMinHash(seed=1, hashvalues=hashvalues, scheme=SCHEME)
        return {k for k in self.lsh.query(signature) if self.minhashes[k].jaccard(signature) >= self.cfg.text_threshold}

    def _image_matches(self, phash: int) -> set[str]:
        candidates = set()
        for band in range(_BANDS):
            candidates.update(self.phash_bands[(band, (phash >> (16 * band)) & 0xFFFF)])
        return {k for k in candidates if bin(self.phashes[k] ^ phash).count("1") <= self.cfg.image_max_distance}

    def check(self, key: str, content_hash: str, modalities: set[str], minhash: bytes, phash: str) -> str | None:
        """Reason to drop ``key`` as a duplicate, or None (then it is remembered as kept)."""
        if self.cfg.exact and content_hash in self.exact:
            return f"exact_duplicate_of:{self.exact[content_hash]}"
        hashvalues = np.frombuffer(minhash, dtype=np.uint64) if minhash else None
        image_hash = int(phash, 16) if phash else None
        # Only text and image carry signatures: a sample with audio is never a near-duplicate.
        if self.cfg.near and modalities and modalities <= {"text", "image"}:
            shared: set[str] | None = None
            if "text" in modalities and hashvalues is not None:
                shared = self._text_matches(hashvalues)
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
        self.modalities[key] = frozenset(modalities)
        if hashvalues is not None:
            signature = LeanMinHash(seed=1, hashvalues=hashvalues, scheme=SCHEME)
            self.lsh.insert(key, signature)
            self.minhashes[key] = signature
        if image_hash is not None:
            self.phashes[key] = image_hash
            for band in range(_BANDS):
                self.phash_bands[(band, (image_hash >> (16 * band)) & 0xFFFF)].append(key)
        return None
