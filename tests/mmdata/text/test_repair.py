"""The ftfy shortcut gives exactly ftfy's output whenever it answers, and answers for common prose."""

from __future__ import annotations

import contextlib
import re
import sys
from pathlib import Path

import ftfy
import pytest
from ftfy.badness import BADNESS_RE, MOJIBAKE_CATEGORIES, is_bad
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmdata.text import clean, repair
from mmdata.text.clean import clean_text, compile_patterns
from mmdata.text.config import TextConfig


def _ftfy(text: str) -> str:
    return ftfy.fix_text(text, normalization="NFC")


def _check(text: str) -> str | None:
    """The shortcut's answer, asserted equal to ftfy's output when it gives one."""
    fixed = repair.fix_text_without_ftfy(text)
    if fixed is not None:
        assert fixed == _ftfy(text), repr(text)
    assert repair.fix_text(text) == _ftfy(text), repr(text)
    return fixed


def _segments(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


# -- the badness regex bound ----------------------------------------------------------------------

def test_badness_regex_is_bounded_by_clue_chars():
    clues = repair.badness_clues(BADNESS_RE)
    assert clues is not None
    chars, width = clues
    assert chars and min(chars) >= 0x80 and width == 7
    # The common letters and punctuation of non-ASCII prose are not clues, so such prose is checked cheaply.
    assert not any(c in chars for c in map(ord, "aéöüáñçèíóú —–…’\xa0"))


@pytest.mark.parametrize(("pattern", "bounded"), [
    (r"[é][a-z]", True), (r"^[é] ", True), (r"x\s?[é]", True), (r"[é](?=a)", False), (r"(?<!a)[é]", False),
    (r"[é]\b", False), (r"[é]$", False), (r"[é]+", False), (r"[a-z][é]|ab", False), (r"[^a]b[é]", True),
    (r"(?i)[é]a", False), (r"[é]|\w", False), (r"[é]?a", False),
])
def test_badness_clues_refuse_what_they_cannot_bound(pattern, bounded):
    assert (repair.badness_clues(re.compile(pattern)) is not None) == bounded


_BADNESS_ALPHABET = "".join(MOJIBAKE_CATEGORIES.values()).replace("-", "") + "abzAZ .,?!\n\t\xa0" * 3
BAD_TEXTS = st.text(alphabet=st.sampled_from(sorted(set(_BADNESS_ALPHABET) | set("ÃÂÎÐØÙàâ√≈‚ВГРСвЂΒΓΞΟβ€ā°µ"))),
                    max_size=60)
PADDED_BAD_TEXTS = st.tuples(BAD_TEXTS, st.integers(0, 40), st.integers(0, 40), st.booleans()).map(
    lambda t: ("pad " * t[1])[: t[1]] + ("\n" if t[3] else "") + t[0] + (" tail" * t[2])[: t[2]])


@settings(max_examples=1500, deadline=None)
@given(PADDED_BAD_TEXTS)
@example("o\nÃ x")
@example("x" * 20 + "\nÃ \n" + "y" * 20)
@example("ab œ\nc")
@example("ГўВЂВ x" + " " * 30)
def test_windowed_badness_equals_is_bad_per_segment(text):
    expected = any(is_bad(segment) for segment in _segments(text))
    found = repair._any_segment_bad(text)
    assert found or not expected  # never misses mojibake; may only add false alarms from windows' "^"
    if found != expected:
        assert re.search(r"[ÃÂ] ", text)


# -- equality with ftfy ---------------------------------------------------------------------------

def test_every_code_point_alone():
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        fixed = repair.fix_text_without_ftfy(ch)
        if fixed is not None:
            assert fixed == _ftfy(ch), hex(cp)


def test_every_code_point_in_ascii_context():
    chunk = 24
    for start in range(0, sys.maxunicode + 1, chunk):
        chars = "".join(map(chr, range(start, min(start + chunk, sys.maxunicode + 1))))
        for text in (f"Plain words {chars} end.", f"a{chars[:12]}b\nc {chars[12:]}\n", " ".join(chars)):
            _check(text)


MOJIBAKE_SOURCES = [
    "Copyright © 2020 the café authors — all rights reserved.",
    "Jürgen Müller aß Spätzle in Köln; naïve façade, smörgåsbord, crème brûlée.",
    "“Smart quotes” and ‘single’ ones… it’s 25 °C, 5 € or £3, ±2 µm, ½ × ¼.",
    "Привет, мир! Всё хорошо — Съешь же ещё этих мягких французских булок.",
    "Ελληνικά: Καλημέρα κόσμε, ευχαριστώ πολύ.",
    "São Paulo, às vezes, à noite; voilà, déjà vu à la mode.",
    "Łódź, Kraków, Gdańsk, Zürich, Øresund, Ångström, İstanbul, Čeština.",
    "العربية: مرحبا بالعالم", "日本語のテキスト、中文文本。", "emoji 😀 👍🏽 ✔ ★",
]
WRONG_CODECS = ["latin-1", "cp1252", "cp1251", "cp1253", "mac_roman", "cp1250", "cp437"]


def _mojibake() -> list[str]:
    texts = []
    for source in MOJIBAKE_SOURCES:
        data = source.encode("utf-8")
        for codec in WRONG_CODECS:
            once = data.decode(codec, errors="replace")
            texts.append(once)
            texts.append(once.encode("utf-8").decode(codec, errors="replace"))  # twice-garbled
            with contextlib.suppress(UnicodeEncodeError):  # the other way round
                texts.append(source.encode(codec).decode("utf-8", errors="replace"))
    return texts


def test_mojibake_goes_to_ftfy_or_gives_its_output():
    texts = _mojibake()
    for text in texts:
        _check(text)
        _check("Intro line.\n" + text + "\nOutro line, ASCII only.")
    # Real mojibake is what ftfy is for: the shortcut must step aside for it.
    repaired = [t for t in texts if _ftfy(t) != t and repair.fix_text_without_ftfy(t) is None]
    assert len(repaired) > len(texts) // 3


@pytest.mark.parametrize("text", [
    "Fish &amp; chips &eacute; &#x2019; &#8217; &NTILDE; &nTILDE; AT&T R&D &c.", "a < b &amp; c", "&amp;\n<p>&lt;",
    "“Curly” ‘quotes’ ‛ ‟ ʼn", "ﬁne ﬂow ﬃ ĳ ǅ", "ＬＯＵＤ　ＮＯＩＳＥＳ ｶﾀｶﾅ ＆amp；", "\x00\x07\x1b[31mred\x1b[0m\x7f\ufeff\u206a",
    "\ufffc\ufff9", "C1 \x80\x85\x9f", "a\u0301 e\u0308 \u212b \u2126 \u1e0a\u0323 \u0958", "line\r\nbreak\rx\u2028y\u2029",
    "\ud83d\ude00 \ud800 \udfff", "\ufeffBOM at start\n\ufeffand at a line start", "é\n\n\nü\n", "\n", "é" * 5000,
    "Line one: café.\nLine two: “quoted”.\nLine three: ©.\n" * 50, "Ã la mode\nÃ ", "x\nÂ ", "voilÃ le travail",
    "×²", "Σ‚ιΟ", "вЂ”", "ā€", "√±", "ĐŸÑ€Đ¸", "Ã\xa0", "ÂÂ ”", "Œ1", "œuvre", "œ\n",
])
def test_special_texts(text):
    _check(text)
    _check("Some ASCII first. " + text + " Some ASCII after.")


def _license_texts() -> list[str]:
    """The bench corpus's source: every license text shipped in this environment."""
    paths = sorted(Path(sys.prefix).glob("lib/python*/site-packages/*.dist-info/**/LICENSE*"))
    return [p.read_text(errors="replace") for p in paths if p.is_file()]


def test_bench_corpus_texts():
    texts = _license_texts()
    words = " ".join(texts).split()
    docs = [" ".join(words[(i * 97) % max(1, len(words) - 250):][:250]) for i in range(3000)]
    non_ascii = [d for d in docs + texts if not d.isascii()]
    assert non_ascii
    for text in non_ascii:
        _check(text)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.text(max_size=60))
@example("Copyright © 2020\r\nthe café authors")
def test_random_unicode(text):
    _check(text)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(MOJIBAKE_SOURCES + _mojibake() + ["\n", " ", "&amp;", "<b>", "ﬁ", "\ufeff", "\r",
                                                                   "a\u0301", "Ã ", "\x85"]), max_size=8).map("".join))
def test_random_mixes(text):
    _check(text)


# -- the shortcut does fire, and cleaning is unchanged --------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("Copyright © 2020 the café authors", None), ("Jürgen Müller", None), ("Привет, мир", None),
    ("naïve façade\nsmörgåsbord — ½ kg", None), ("“It’s”", "\"It's\""), ("\ufeffÉtat", "État"),
])
def test_fires_on_typical_prose(text, expected):
    assert repair.fix_text_without_ftfy(text) == (text if expected is None else expected)


def test_clean_text_same_with_and_without_the_shortcut(monkeypatch):
    patterns = compile_patterns(TextConfig().boilerplate_patterns)
    texts = _license_texts() + _mojibake() + MOJIBAKE_SOURCES + [
        "We use cookies.\ncafé “x”\n\n\nCopyright © 2020\nbody ﬁ", "Ａ\n\ufeffé\r\nx"]
    with_shortcut = [clean_text(t, patterns) for t in texts]
    monkeypatch.setattr(repair, "fix_text_without_ftfy", lambda text: None)
    monkeypatch.setattr(clean.repair, "fix_text_without_ftfy", lambda text: None)
    assert [clean_text(t, patterns) for t in texts] == with_shortcut
