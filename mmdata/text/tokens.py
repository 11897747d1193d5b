"""Token view of cleaned text: NLTK tokenization (no downloads), stopwords, stemming, vocabulary."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable
from importlib import resources

import numpy as np
from nltk.tokenize import RegexpTokenizer

PAD, UNK = "<pad>", "<unk>"
# Word tokens only: wordpunct_tokenize's punctuation tokens would be dropped from the token view anyway.
_WORDS = RegexpTokenizer(r"\w+")


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


def tokenize(text: str, lowercase: bool = True, remove_stopwords: bool = True, stemmer: str = "snowball",
             max_tokens: int | None = None) -> list[str]:
    """Word tokens of ``text`` (NLTK RegexpTokenizer), stopwords removed, stemmed."""
    if lowercase:
        text = text.lower()
    stop = english_stopwords() if remove_stopwords else frozenset()
    stem = make_stemmer(stemmer)
    out: list[str] = []
    for token in _WORDS.tokenize(text):
        if token in stop or not token.strip("_"):  # \w+ also matches bare underscores
            continue
        out.append(stem(token))
        if max_tokens is not None and len(out) >= max_tokens:
            break
    return out


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
