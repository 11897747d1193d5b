"""Keys become tar member names: they must be safe, stable and distinct for distinct inputs."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from mmdata.sources.keys import MAX_KEY_CHARS, is_safe_key, sanitize_key


@given(st.text(max_size=300))
def test_any_text_becomes_a_safe_key(raw):
    key = sanitize_key(raw)
    assert key and len(key) <= MAX_KEY_CHARS
    assert "/" not in key and "." not in key and "\\" not in key and not key.startswith(("-", "_"))
    assert sanitize_key(raw) == key and is_safe_key(key)


def test_examples():
    assert sanitize_key("../../etc/passwd") == "etc_passwd"
    assert sanitize_key(".hidden file.tar") == "hidden_file_tar"
    assert sanitize_key("Ｃａｆé") == "Café"  # NFKC folds full-width letters
    assert sanitize_key("...") .startswith("item-")
    assert sanitize_key("a" * 200) != sanitize_key("a" * 201)  # long keys keep a hash of the original
