"""Text filters, datatrove style: ``filter(text) -> True`` or ``(False, reason)``."""

from __future__ import annotations

import re
import string

from mmdata.text.clean import distinct_chars

# Regex counts run in C; a Python loop per character would dominate the cost of short texts.
_SPACE = re.compile(r"\s")
_LETTER = re.compile(r"[^\W\d_]")
_SYMBOL = re.compile(r"[^\w\s]|_")

_ASCII_SPACES = b" \t\n\r\x0b\x0c"
_ASCII_LETTERS = bytes(string.ascii_letters, "ascii")
_ASCII_SYMBOLS = bytes(string.punctuation, "ascii")
_REGEX_ASCII_SPACES, _REGEX_ASCII_LETTERS, _REGEX_ASCII_SYMBOLS = (
    bytes(byte for byte in range(128) if pattern.match(chr(byte))) for pattern in (_SPACE, _LETTER, _SYMBOL))

_MAX_COUNTED_CHARS = 32  # distinct non-ASCII chars counted one str.count each; more go to the regexes

FilterResult = bool | tuple[bool, str]


def _counts(text: str) -> tuple[int, int, int]:
    """(spaces, letters, punctuation/symbols) in ``text``; ASCII counted by bytes.translate (C speed)."""
    if text.isascii():
        data = text.encode("ascii")
        size = len(data)
        return (size - len(data.translate(None, _ASCII_SPACES)), size - len(data.translate(None, _ASCII_LETTERS)),
                size - len(data.translate(None, _ASCII_SYMBOLS)))
    # Other text: its ASCII chars counted by bytes as above (with the regexes' classes, which differ on
    # control chars), the few distinct non-ASCII chars classified once each and counted with str.count.
    chars = distinct_chars(text)
    others = None if chars is None else [ch for ch in chars if not ch.isascii()]
    if others is None or len(others) > _MAX_COUNTED_CHARS:  # large alphabets (CJK...)
        return len(_SPACE.findall(text)), len(_LETTER.findall(text)), len(_SYMBOL.findall(text))
    data = text.encode("ascii", "ignore")
    size = len(data)
    spaces, letters, symbols = (size - len(data.translate(None, _REGEX_ASCII_SPACES)),
                                size - len(data.translate(None, _REGEX_ASCII_LETTERS)),
                                size - len(data.translate(None, _REGEX_ASCII_SYMBOLS)))
    for ch in others:
        if _SPACE.match(ch):
            spaces += text.count(ch)
        elif _LETTER.match(ch):
            letters += text.count(ch)
        elif _SYMBOL.match(ch):
            symbols += text.count(ch)
    return spaces, letters, symbols


class LengthFilter:
    """Keep texts with at least ``min_chars`` characters."""

    def __init__(self, min_chars: int = 1):
        self.min_chars = min_chars

    def filter(self, text: str) -> FilterResult:
        if len(text) < self.min_chars:
            return False, "text_too_short"
        return True


class CharRatioFilter:
    """Drop texts with too few letters or too many symbols among their non-space characters."""

    def __init__(self, min_alpha_ratio: float = 0.0, max_symbol_ratio: float = 1.0):
        self.min_alpha_ratio = min_alpha_ratio
        self.max_symbol_ratio = max_symbol_ratio

    def filter(self, text: str) -> FilterResult:
        spaces, letters, symbols = _counts(text)
        visible = len(text) - spaces
        if not visible:
            return False, "text_empty"
        alpha = letters / visible
        symbols = symbols / visible
        if alpha < self.min_alpha_ratio:
            return False, "text_low_alpha_ratio"
        if symbols > self.max_symbol_ratio:
            return False, "text_symbol_heavy"
        return True
