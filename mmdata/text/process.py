"""Raw text bytes -> cleaned text, token view, quality stats and a near-duplicate signature."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from mmdata.text.clean import clean_text, compile_patterns, decode_text, html_to_text, looks_like_html
from mmdata.text.config import TextConfig
from mmdata.text.dedup import words_minhash
from mmdata.text.filters import CharRatioFilter, LengthFilter
from mmdata.text.tokens import tokenize


class TextDropped(Exception):
    """The text was rejected by a filter; ``args[0]`` is the reason."""


@dataclasses.dataclass(frozen=True)
class CleanText:
    text: str
    tokens: list[str]
    stats: dict
    minhash: np.ndarray | None  # None when not asked for (no near-duplicate search)


@functools.lru_cache(maxsize=8)
def _patterns(patterns: tuple[str, ...]):
    return compile_patterns(patterns)


def process_text(data: bytes, cfg: TextConfig, signature: bool = True) -> CleanText:
    """Run the whole text path; raise ``TextDropped(reason)`` when a filter rejects it.

    ``signature=False`` skips the MinHash (a quarter of the cost of a typical document), for callers
    that do no near-duplicate search.
    """
    if len(data) > cfg.max_bytes:
        raise TextDropped("text_too_large")
    was_html = cfg.extract_html and looks_like_html(data)
    text = decode_text(data)
    if was_html:
        text = html_to_text(text)
    text = clean_text(text[: cfg.max_chars * 2], _patterns(tuple(cfg.boilerplate_patterns)))[: cfg.max_chars]
    for check in (LengthFilter(cfg.min_chars), CharRatioFilter(cfg.min_alpha_ratio, cfg.max_symbol_ratio)):
        verdict = check.filter(text)
        if verdict is not True:
            raise TextDropped(verdict[1])
    # One lower-cased copy and one word list serve the tokens, the word count and the MinHash shingles
    # (lower-casing never turns a char into whitespace or back, so the count is the original text's).
    lower = text.lower()
    words = lower.split()
    tokens = tokenize(lower if cfg.lowercase else text, False, cfg.remove_stopwords, cfg.stemmer, cfg.max_tokens)
    stats = {"chars": len(text), "words": len(words), "tokens": len(tokens), "from_html": was_html}
    return CleanText(text=text, tokens=tokens, stats=stats, minhash=words_minhash(words) if signature else None)
