"""Token view of cleaned text: NLTK tokenization (no downloads), stopwords, stemming, vocabulary."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from importlib import resources

import numpy as np
import regex

from mmdata.text.clean import distinct_chars

PAD, UNK = "<pad>", "<unk>"
# Word tokens only: wordpunct_tokenize's punctuation tokens would be dropped from the token view anyway.
# The tokens of NLTK's RegexpTokenizer(r"\w+") (tested), without its per-call guard: NLTK 3.10 runs tokenizer
# patterns through nltk.redos, its `regex` engine under a wall-clock timeout against catastrophic backtracking,
# which a linear pattern like \w+ cannot do. Same engine and flags here, so the same words (`regex`'s \w also
# takes combining marks, stdlib re's does not).
_WORDS = regex.compile(r"\w+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
# In ASCII \w is [A-Za-z0-9_]: every other ASCII byte becomes a space and str.split() finds the same words, in C.
# Bytes >= 0x80 (UTF-8 multi-byte sequences) are kept.
_NON_WORD_ASCII_TO_SPACE = bytes(c if c >= 128 or chr(c).isalnum() or chr(c) == "_" else 32 for c in range(256))
_MAX_REPLACED_CHARS = 32  # distinct non-ASCII non-word chars replaced one by one; more go to the regex
_TOKEN_TABLE_WORDS = 200_000  # words remembered per (stemmer, stopwords) setting; starts over when full


@functools.lru_cache(maxsize=1)
def english_stopwords() -> frozenset[str]:
    """NLTK's English stopword corpus when installed, else the list shipped with mmdata."""
    try:
        from nltk.corpus import stopwords

        return frozenset(stopwords.words("english"))
    except LookupError:
        shipped = resources.files("mmdata.text").joinpath("stopwords_en.txt").read_text(encoding="utf-8")
        return frozenset(word.strip() for word in shipped.splitlines() if word.strip())


@functools.lru_cache(maxsize=4)
def make_stemmer(name: str) -> Callable[[str], str]:
    """A cached stemming function: ``snowball`` or ``porter`` (NLTK), or identity for ``none``."""
    if name == "none":
        return lambda word: word
    if name == "snowball":
        from nltk.stem.snowball import SnowballStemmer

        stem = SnowballStemmer("english").stem
    elif name == "porter":
        from nltk.stem.porter import PorterStemmer

        stem = PorterStemmer().stem
    else:
        raise ValueError(f"unknown stemmer {name!r}; expected snowball, porter or none")
    return functools.lru_cache(maxsize=200_000)(stem)


def word_tokens(text: str) -> list[str]:
    """The ``\\w+`` words of ``text`` in order (what NLTK's RegexpTokenizer(r"\\w+") returns)."""
    if text.isascii():
        return text.encode("ascii").translate(_NON_WORD_ASCII_TO_SPACE).decode("ascii").split()
    # \w is a per-char property, so the words are the runs left when every other char becomes a space: the
    # few distinct non-ASCII ones are classified once each (by NLTK's engine) and replaced, the ASCII ones
    # by bytes.translate on the UTF-8 bytes, whose multi-byte sequences hold no ASCII bytes.
    chars = distinct_chars(text)
    if chars is None:  # large alphabets (CJK...): classifying each char costs more
        return _WORDS.findall(text)
    non_word = [ch for ch in chars if not ch.isascii() and not _is_word_char(ch)]
    if len(non_word) > _MAX_REPLACED_CHARS:  # a replace per char would cost more than the regex
        return _WORDS.findall(text)
    for ch in non_word:
        text = text.replace(ch, " ")
    return text.encode("utf-8").translate(_NON_WORD_ASCII_TO_SPACE).decode("utf-8").split()


@functools.lru_cache(maxsize=65_536)
def _is_word_char(ch: str) -> bool:
    return _WORDS.fullmatch(ch) is not None


@functools.lru_cache(maxsize=8)
def _token_table(stemmer: str, remove_stopwords: bool) -> dict[str, str | None]:
    return {}  # word -> its token, None when dropped: filled as words are first seen


def tokenize(text: str, lowercase: bool = True, remove_stopwords: bool = True, stemmer: str = "snowball",
             max_tokens: int | None = None) -> list[str]:
    """Word tokens of ``text`` (``\\w+`` like NLTK's RegexpTokenizer), stopwords removed, stemmed.

    Each distinct word is looked at once per process (stopword? bare underscores? its stem), then a
    dict lookup per word gives its token: no call per token.
    """
    stem = make_stemmer(stemmer)  # raises on an unknown stemmer, whatever the text
    words = word_tokens(text.lower() if lowercase else text)
    table = _token_table(stemmer, remove_stopwords)
    try:
        tokens = [token for token in map(table.__getitem__, words) if token is not None]
    except KeyError:
        if len(table) > _TOKEN_TABLE_WORDS:
            table.clear()
        stop = english_stopwords() if remove_stopwords else frozenset()
        for word in words:
            if word not in table:
                # \w+ also matches bare underscores, which are no token
                table[word] = None if word in stop or not word.strip("_") else stem(word)
        tokens = [token for token in map(table.__getitem__, words) if token is not None]
    if max_tokens is not None:
        tokens = tokens[: max(max_tokens, 1)]  # one token even for max_tokens < 1, as the token loop did
    return tokens


def build_vocab(token_lists: Iterable[Iterable[str]], min_freq: int = 1, max_size: int = 50_000) -> list[str]:
    """Vocabulary ordered by (-count, token): ``<pad>``=0, ``<unk>``=1, then tokens seen >= min_freq."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return vocab_from_counts(counts, min_freq, max_size)


def vocab_from_counts(counts: Mapping[str, int], min_freq: int = 1, max_size: int = 50_000) -> list[str]:
    """``build_vocab`` from already counted tokens."""
    ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)), key=lambda t: (-counts[t], t))
    return [PAD, UNK, *ranked[: max(0, max_size - 2)]]


def token_ids(tokens: Iterable[str], index: dict[str, int]) -> np.ndarray:
    """int32 ids of ``tokens`` in ``index`` (unknown tokens -> ``<unk>`` = 1)."""
    return np.fromiter((index.get(t, 1) for t in tokens), dtype=np.int32)
