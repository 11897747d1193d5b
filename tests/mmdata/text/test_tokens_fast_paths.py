"""The token view without NLTK's per-call regex guard gives NLTK's tokens: word splitting equal to
RegexpTokenizer(r"\\w+"), tokenize equal to the per-token loop with NLTK's stemmers."""

from __future__ import annotations

import sys

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from nltk.tokenize import RegexpTokenizer

from mmdata.text.tokens import _is_word_char, english_stopwords, make_stemmer, tokenize, word_tokens

NLTK_WORDS = RegexpTokenizer(r"\w+")
PIECES = st.sampled_from(["Running", "dogs", "the", "THE", "_", "__", "foo_bar", "don't", "3.14", "e-mail", "café",
                          "a\u0301", "İstanbul", "नमस्ते", "Σίσυφος", "ǅ", "Ⅷ", "①", "\u200d", "日本語", "🙂", " ", "\n"])
TEXTS = st.one_of(st.text(max_size=80), st.text(alphabet=st.characters(max_codepoint=127), max_size=80),
                  st.lists(st.one_of(PIECES, st.text(max_size=6)), max_size=20).map(" ".join))


def _tokenize_by_definition(text, lowercase, remove_stopwords, stemmer, max_tokens):
    """The per-token loop with NLTK's tokenizer."""
    text = text.lower() if lowercase else text
    stop = english_stopwords() if remove_stopwords else frozenset()
    stem = make_stemmer(stemmer)
    out = []
    for token in NLTK_WORDS.tokenize(text):
        if token in stop or not token.strip("_"):
            continue
        out.append(stem(token))
        if max_tokens is not None and len(out) >= max_tokens:
            break
    return out


def test_word_tokens_equal_nltk_on_every_ascii_char():
    text = "".join(f"a{chr(c)}b{chr(c)}{chr(c)}" for c in range(128))
    assert word_tokens(text) == NLTK_WORDS.tokenize(text)


def test_word_chars_are_nltks_and_never_whitespace():
    every_char = " ".join(map(chr, range(sys.maxunicode + 1)))
    nltk_word_chars = set(NLTK_WORDS.tokenize(every_char))
    ours = {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isascii() or _is_word_char(chr(c))}
    assert {ch for ch in ours if not ch.isascii()} == {ch for ch in nltk_word_chars if not ch.isascii()}
    assert not any(ch.isspace() for ch in nltk_word_chars)


def test_word_tokens_equal_nltk_on_non_ascii_chars():
    # Chunks of 24 code points take the per-distinct-char path, chunks of 8192 the regex.
    for chunk, stop in ((24, 0x20000), (8192, 0x20000)):
        for start in range(128, stop, chunk):
            text = "".join(f"a{chr(c)}b,{chr(c)}{chr(c)} " for c in range(start, min(start + chunk, stop)))
            assert word_tokens(text) == NLTK_WORDS.tokenize(text), hex(start)


@settings(max_examples=300, deadline=None)
@given(TEXTS)
@example("i\u0307 a\u0301b नमस्ते")  # combining marks are \w for NLTK's engine, not for stdlib re
def test_word_tokens_equal_nltk_regexp_tokenizer(text):
    assert word_tokens(text) == NLTK_WORDS.tokenize(text)


@settings(max_examples=200, deadline=None)
@given(TEXTS, st.booleans(), st.booleans(), st.sampled_from(["snowball", "porter", "none"]),
       st.one_of(st.none(), st.integers(-1, 6)))
def test_tokenize_equals_the_per_token_loop(text, lowercase, remove_stopwords, stemmer, max_tokens):
    assert (tokenize(text, lowercase, remove_stopwords, stemmer, max_tokens)
            == _tokenize_by_definition(text, lowercase, remove_stopwords, stemmer, max_tokens))


def test_tokens_from_the_word_table_stay_the_same_on_later_calls():
    text = "The runners were RUNNING quickly, and __ the dogs barked! Running again_"
    first = [tokenize(text, stemmer=name) for name in ("snowball", "porter", "none")]
    assert first[0] == ["runner", "run", "quick", "dog", "bark", "run", "again_"]
    assert [tokenize(text, stemmer=name) for name in ("snowball", "porter", "none")] == first
    with pytest.raises(ValueError, match="unknown stemmer"):
        tokenize("", stemmer="lancaster")
