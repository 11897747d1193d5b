"""Property: the whole text path (decode -> HTML main text -> clean) is idempotent and never raises
anything but `TextDropped`, whatever mix of markup, mojibake, control and invisible characters it gets."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mmdata.text.config import TextConfig
from mmdata.text.process import TextDropped, process_text

CFG = TextConfig()
PIECES = st.sampled_from(["<p>", "</p>", "<script>x()</script>", "<iframe>frame</iframe>", "&amp;", "cafÃ©", "\x07",
                          "\x00", "\u200b", "  ", "\n\n\n", "word", "Über", "<b>bold</b>", "<html>", "é", "\r\n", "\t",
                          "ﬁ", "Ａ", "<!-- c -->"])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(PIECES, st.text(max_size=20)), max_size=30))
@example(["\x08", "<script>x()</script>", "<p>"])  # lxml refused the control character: ValueError
def test_text_path_is_idempotent_and_total(parts):
    data = " ".join(parts).encode("utf-8", "surrogatepass")
    try:
        once = process_text(data, CFG).text
    except TextDropped:
        return
    assert process_text(once.encode(), CFG).text == once
