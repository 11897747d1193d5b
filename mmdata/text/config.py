"""Settings of text cleaning and tokenization (params.yaml `build.text`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TextConfig(BaseModel):
    """How raw text (plain or HTML) becomes cleaned text plus a token view."""

    extract_html: bool = True  # HTML pages become their main text (trafilatura, lxml fallback)
    min_chars: int = 1  # shorter cleaned texts are dropped (text_too_short)
    max_chars: int = 100_000  # longer cleaned texts are cut here (never read past max_bytes)
    max_bytes: int = 2_000_000  # raw payloads larger than this are dropped before decoding
    min_alpha_ratio: float = 0.0  # share of letters among non-space chars; below -> text_low_alpha_ratio
    max_symbol_ratio: float = 0.5  # share of symbol/punctuation chars; above -> text_symbol_heavy
    boilerplate_patterns: list[str] = Field(
        default_factory=lambda: [
            r"(?i)^\s*(accept (all )?cookies|we use cookies).*$",
            r"(?i)^\s*(all rights reserved|copyright ©?\s*\d{4}).*$",
            r"(?i)^\s*(subscribe to our newsletter|share this( article)?|click here).*$",
        ]
    )  # whole lines matching one of these are removed
    lowercase: bool = True  # token view only; the cleaned text keeps its case
    remove_stopwords: bool = True
    stemmer: str = "snowball"  # snowball | porter | none
    max_tokens: int = 512  # token view is cut to this many tokens
    vocab_min_freq: int = 1  # train tokens seen fewer times map to <unk>
    vocab_max_size: int = 50_000
