"""Text kernels and filters: decoding, HTML extraction, repair, idempotent cleaning, tokens, drops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.text.clean import clean_text, compile_patterns, decode_text, html_to_text, looks_like_html
from mmdata.text.config import TextConfig
from mmdata.text.dedup import text_minhash
from mmdata.text.filters import CharRatioFilter, LengthFilter
from mmdata.text.process import TextDropped, process_text
from mmdata.text.tokens import build_vocab, english_stopwords, token_ids, tokenize

BOILERPLATE = compile_patterns(TextConfig().boilerplate_patterns)

PAGE = b"""<!doctype html><html><head><title>t</title><script>var secret = 'tracking code';</script>
<style>body{color:red}</style></head><body><nav>Home | About</nav>
<article><h1>Spoken digits</h1><p>The recordings were made by four speakers reading digits aloud,
each digit fifty times, at eight kilohertz.</p><p>They are used to train small audio classifiers.</p></article>
<footer>All rights reserved 2024</footer></body></html>"""


def test_decode_text_handles_utf8_latin1_and_utf16():
    assert decode_text("café".encode()) == "café"
    assert decode_text("café au lait, crème brûlée".encode("cp1252")) == "café au lait, crème brûlée"
    assert decode_text("hé".encode("utf-16")) == "hé"


def test_html_main_text_without_scripts():
    assert looks_like_html(PAGE) and not looks_like_html(b"plain words < 3 and > 1")
    text = html_to_text(PAGE.decode())
    assert "four speakers" in text and "tracking code" not in text and "color:red" not in text


def test_html_iframe_object_and_noscript_content_is_not_page_text():
    page = ("<html><body><iframe src='http://x.example/'>IFRAMEPAYLOAD</iframe><noscript>NOSCRIPT</noscript>"
            "<object data='a.swf'>OBJECTPAYLOAD</object><p>Real article text about rivers and mountains "
            "that a reader would want to keep.</p></body></html>")
    text = html_to_text(page)
    assert "rivers and mountains" in text
    assert not any(word in text for word in ("IFRAMEPAYLOAD", "NOSCRIPT", "OBJECTPAYLOAD"))


def test_html_fallback_when_trafilatura_finds_nothing():
    text = html_to_text("<html><body><script>x()</script><span>tiny</span></body></html>")
    assert text == "tiny"


def test_mojibake_control_chars_and_whitespace_repaired():
    raw = "The cafÃ©   is\x00 open\x07.\r\n\r\n\r\n\r\nSecond   line\t here \u200b"
    cleaned = clean_text(raw, BOILERPLATE)
    assert cleaned == "The café is open.\n\nSecond line here"


def test_boilerplate_lines_removed():
    cleaned = clean_text("Real content here.\nWe use cookies to improve things.\nCopyright © 2023 Someone", BOILERPLATE)
    assert cleaned == "Real content here."
    long_line = "Copyright 2013 the authors. " + "Redistribution and use in source and binary forms is permitted. " * 4
    assert clean_text(long_line, BOILERPLATE) == long_line.strip()


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_cleaning_is_idempotent(text):
    once = clean_text(text, BOILERPLATE)
    assert clean_text(once, BOILERPLATE) == once


def test_tokens_drop_stopwords_and_punctuation_and_stem():
    tokens = tokenize("The runners were RUNNING quickly, and the dogs barked!")
    assert tokens == ["runner", "run", "quick", "dog", "bark"]
    assert "the" in english_stopwords()
    assert tokenize("Running dogs", stemmer="none", remove_stopwords=False) == ["running", "dogs"]


def test_vocab_order_and_ids():
    vocab = build_vocab([["b", "a", "b"], ["c", "b", "a"]], min_freq=2)
    assert vocab == ["<pad>", "<unk>", "b", "a"]
    ids = token_ids(["a", "zzz", "b"], {t: i for i, t in enumerate(vocab)})
    assert ids.dtype == np.int32 and ids.tolist() == [3, 1, 2]


@pytest.mark.parametrize(("text", "check", "reason"), [
    ("hi", LengthFilter(min_chars=3), "text_too_short"),
    ("12345 67890 !!!", CharRatioFilter(min_alpha_ratio=0.5), "text_low_alpha_ratio"),
    ("a!!!!!!!!!!", CharRatioFilter(max_symbol_ratio=0.5), "text_symbol_heavy"),
    ("   ", CharRatioFilter(), "text_empty"),
])
def test_filters_drop_with_reason(text, check, reason):
    assert check.filter(text) == (False, reason)


def test_filters_keep():
    assert LengthFilter(3).filter("hello") is True
    assert CharRatioFilter(0.5, 0.2).filter("hello world.") is True


def test_process_text_drops_and_keeps():
    cfg = TextConfig(min_chars=10)
    with pytest.raises(TextDropped, match="text_too_short"):
        process_text(b"short", cfg)
    with pytest.raises(TextDropped, match="text_too_large"):
        process_text(b"x" * 100, TextConfig(max_bytes=50))
    kept = process_text(PAGE, cfg)
    assert kept.stats["from_html"] and "four speakers" in kept.text and "speaker" in kept.tokens
    assert kept.minhash.shape == (64,)


def test_minhash_similar_texts_are_close():
    base = "the quick brown fox jumps over the lazy dog near the river bank today " * 3
    near = base + "again"
    other = "completely different words about spoken digit recordings and speakers " * 3
    sim = np.mean(text_minhash(base) == text_minhash(near))
    far = np.mean(text_minhash(base) == text_minhash(other))
    assert sim > 0.7 and far < 0.2


def test_signature_is_computed_only_when_asked():
    data = b"The quick brown fox jumps over the lazy dog near the river bank today."
    with_signature, without = process_text(data, TextConfig()), process_text(data, TextConfig(), signature=False)
    assert with_signature.minhash.tolist() == text_minhash(with_signature.text).tolist()
    assert without.minhash is None
    assert (without.text, without.tokens, without.stats) == (with_signature.text, with_signature.tokens, with_signature.stats)
