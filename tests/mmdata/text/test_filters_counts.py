"""Character-class counts behind CharRatioFilter equal the regex definitions, ASCII or not."""

from __future__ import annotations

import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st

from mmdata.text.filters import _counts


def _counts_by_regex(text: str) -> tuple[int, int, int]:
    return (len(re.findall(r"\s", text)), len(re.findall(r"[^\W\d_]", text)), len(re.findall(r"[^\w\s]|_", text)))


def test_non_ascii_counts_equal_the_regexes():
    # Chunks of 24 code points take the per-distinct-char path, chunks of 4096 the regexes ("é": never ASCII).
    ascii_chars = "".join(map(chr, range(128)))
    for chunk, stop in ((24, 0x20000), (4096, sys.maxunicode + 1)):
        for start in range(0, stop, chunk):
            text = "".join(map(chr, range(start, min(start + chunk, stop)))) * 2 + ascii_chars + "é"
            assert _counts(text) == _counts_by_regex(text), hex(start)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from("ab Z9_.,!é€ß\u00a0\u2028日\n\t"), max_size=60))
def test_counts_equal_the_regexes_on_mixed_text(text):
    if text.isascii():  # ASCII text is counted by byte classes, which leave control chars out
        text += "é"
    assert _counts(text) == _counts_by_regex(text)
