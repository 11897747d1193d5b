"""Sample keys: safe, deterministic names that become tar member names.

WebDataset splits a member name at the first dot of its basename into key and extension,
and tar readers resolve '/' and '..', so a key holds only word characters, '-' and '_'.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_KEY_CHARS = 96
# \w is unicode-aware: letters and digits of any script stay readable in keys.
_UNSAFE = re.compile(r"[^\w\-]+", re.UNICODE)
_REPEATS = re.compile(r"_{2,}")


def short_hash(text: str, n: int = 10) -> str:
    """First ``n`` hex chars of sha1(text): a stable disambiguator, not a security measure."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:n]


def sanitize_key(raw: str) -> str:
    """Turn any string into a safe key: NFKC-normalised, no '/', no dots, no leading '-' or '_'.

    Deterministic; a key that has to be shortened or is empty after cleaning gets a hash
    of the original so distinct inputs stay distinct.
    """
    normalized = unicodedata.normalize("NFKC", raw)
    cleaned = _REPEATS.sub("_", _UNSAFE.sub("_", normalized)).strip("_-")
    if not cleaned:
        return f"item-{short_hash(raw)}"
    if len(cleaned) > MAX_KEY_CHARS:
        return f"{cleaned[: MAX_KEY_CHARS - 11].rstrip('_-')}-{short_hash(raw)}"
    return cleaned


def is_safe_key(key: str) -> bool:
    """True when ``key`` is already what ``sanitize_key`` would produce for it."""
    return bool(key) and sanitize_key(key) == key
