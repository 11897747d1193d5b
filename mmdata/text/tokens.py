"""Token view of cleaned text: NLTK tokenization (no downloads), stopwords, stemming, vocabulary."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from importlib import resources

import numpy as np
import regex

PAD, UNK = "<pad>", "<unk>"
# Word tokens only: wordpunct_tokenize's punctuation tokens would be dropped from the token view anyway.
# The tokens of NLTK's RegexpTokenizer(r"\w+") (tested), without its per-call guard: NLTK 3.10 runs tokenizer
# patterns through nltk.redos, its `regex` engine under a wall-clock timeout against catastrophic backtracking,
# which a linear pattern like \w+ cannot do. Same engine and flags here, so the same words (`regex`'s \w also
# takes combining marks, stdlib re's does not).
_WORDS = regex.compile(r"\w+", regex.UNICODE | regex.MULTILINE | regex.DOTALL)
# In ASCII text \w is [A-Za-z0-9_]: every other byte becomes a space and str.split() finds the same words, in C.
_ASCII_NON_WORD_TO_SPACE = bytes(c if c < 128 and (chr(c).isalnum() or chr(c) == "_") else 32 for c in range(256))
_STEM_CACHE_WORDS = 200_000  # per stemmer; the cache starts over when full


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
        return text.encode("ascii").translate(_ASCII_NON_WORD_TO_SPACE).decode("ascii").split()
    return _WORDS.findall(text)


@functools.lru_cache(maxsize=4)
def _stem_cache(name: str) -> dict[str, str]:
    return {}


def stem_words(words: list[str], stemmer: str = "snowball") -> list[str]:
    """Stems of ``words``; each distinct word is stemmed once per process (a dict, not a call per token)."""
    stems = _stem_cache(stemmer)
    try:
        return [stems[word] for word in words]
    except KeyError:
        stem = make_stemmer(stemmer)
        if len(stems) > _STEM_CACHE_WORDS:
            stems.clear()
        for word in words:
            if word not in stems:
                stems[word] = stem(word)
        return [stems[word] for word in words]


def tokenize(text: str, lowercase: bool = True, remove_stopwords: bool = True, stemmer: str = "snowball",
             max_tokens: int | None = None) -> list[str]:
    """Word tokens of ``text`` (``\\w+`` like NLTK's RegexpTokenizer), stopwords removed, stemmed."""
    if lowercase:
        text = text.lower()
    words = word_tokens(text)
    if "_" in text:
        words = [word for word in words if word.strip("_")]  # \w+ also matches bare underscores
    if remove_stopwords:
        stop = english_stopwords()
        words = [word for word in words if word not in stop]
    if max_tokens is not None:
        words = words[: max(max_tokens, 1)]  # one token even for max_tokens < 1, as the token loop did
    return stem_words(words, stemmer)


def build_vocab(token_lists: Iterable[Iterable[str]], min_freq: int = 1, max_size: int = 50_000) -> list[str]:
    """Vocabulary ordered by (-count, token): ``<pad>``=0, ``<unk>``=1, then tokens seen >= min_freq."""
    counts: Counter[str] = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in (PAD, UNK)), key=lambda t: (-counts[t], t))
    return [PAD, UNK, *ranked[: max(0, max_size - 2)]]


def token_ids(tokens: Iterable[str], index: dict[str, int]) -> np.ndarray:
    """int32 ids of ``tokens`` in ``index`` (unknown tokens -> ``<unk>`` = 1)."""
    return np.fromiter((index.get(t, 1) for t in tokens), dtype=np.int32)
