"""Pure text kernels: bytes -> str decoding, HTML main-text extraction, unicode repair, cleanup."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from mmdata.text import repair

_HTML_HINT = re.compile(rb"<\s*(!doctype\s+html|html|head|body|p|div|article|script|br|title)\b", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
_ALLOWED_CONTROLS = {"\n", "\t"}
_INVISIBLE = {"\u200b", "\ufeff", "\u2060", "\u00ad"}  # zero-width space, BOM, word joiner, soft hyphen


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (BOM aware), else with the detected charset, else latin-1 (never fails)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # charset_normalizer ships with requests; it is only a better guess than latin-1.
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[:200_000]))
    if matches:
        least_chaos = min(m.chaos for m in matches)
        # Ties between single-byte code pages are common on short texts; the web's default wins them.
        tied = [m.encoding for m in matches if m.chaos <= least_chaos]
        encoding = "cp1252" if "cp1252" in tied else tied[0]
        return data.decode(encoding, errors="replace")
    return data.decode("latin-1")


def looks_like_html(data: bytes) -> bool:
    """True when the first few KB carry an HTML document or fragment tag."""
    return bool(_HTML_HINT.search(data[:4096]))


# Elements whose content is never page text: code, styles and the fallback content of embedded
# frames/objects (trafilatura keeps an <iframe>'s inner text as if it were a paragraph).
_NON_TEXT_XPATH = "//script|//style|//noscript|//template|//iframe|//frame|//object|//embed"


def html_to_text(html: str) -> str:
    """Main text of an HTML page with trafilatura; lxml's text content (scripts removed) as fallback."""
    import trafilatura
    from trafilatura.utils import load_html

    # lxml refuses control characters (and lone surrogates) in text nodes: drop them before parsing.
    html = remove_control_chars(html)
    tree = load_html(html)
    if tree is not None:
        for node in tree.xpath(_NON_TEXT_XPATH):
            node.drop_tree()
        text = trafilatura.extract(tree, include_comments=False, include_tables=True, favor_recall=True)
        if text and text.strip():
            return text
    return _lxml_text(html)


def _lxml_text(html: str) -> str:
    import lxml.etree
    import lxml.html

    try:
        root = lxml.html.document_fromstring(html)
    except (lxml.etree.ParserError, ValueError):
        return ""
    for node in root.xpath(_NON_TEXT_XPATH + "|//head"):
        node.drop_tree()
    return "\n".join(part.strip() for part in root.itertext() if part.strip())


_ASCII_CONTROL_BYTES = bytes(range(0x09)) + bytes(range(0x0B, 0x20)) + b"\x7f"  # all but tab and newline
_REMOVED_CATEGORIES = {"Cc", "Cs", "Co", "Cn"}
_MAX_REPLACED_CHARS = 32  # distinct chars removed one str.replace each; more are filtered in one pass


def distinct_chars(text: str, limit: int = 256) -> set[str] | None:
    """The distinct chars of ``text``, or None when there are more than ``limit`` (large alphabets: CJK...).

    Kernels that look at each distinct char once (instead of each char) use this to choose their path; a
    prefix is probed first so a large alphabet is told apart without building the whole set.
    """
    if len(set(text[: 4 * limit])) > limit:
        return None
    chars = set(text)
    return chars if len(chars) <= limit else None


def remove_control_chars(text: str) -> str:
    """Drop control, surrogate, private-use, unassigned and invisible chars; keep newlines and tabs."""
    if text.isascii():
        # The common case in C: bytes.translate deletes the control bytes, no Python loop per char.
        data = text.encode("ascii")
        kept = data.translate(None, _ASCII_CONTROL_BYTES)
        return text if len(kept) == len(data) else kept.decode("ascii")
    # Every char dropped here is non-printable (the invisible ones are Cf), so printable text keeps all of
    # them; otherwise only the distinct non-printable chars are looked up, never each char in Python.
    if text.replace("\n", " ").replace("\t", " ").isprintable():
        return text
    chars = distinct_chars(text)
    if chars is not None:
        removed = [ch for ch in chars if not ch.isprintable() and _is_removed(ch)]
        if len(removed) <= _MAX_REPLACED_CHARS:
            for ch in removed:
                text = text.replace(ch, "")
            return text
    # Large alphabets (CJK...) or many chars to drop: one pass costs less than a lookup or replace per char.
    return "".join(ch for ch in text if not _is_removed(ch))


def _is_removed(ch: str) -> bool:
    return ch not in _ALLOWED_CONTROLS and (ch in _INVISIBLE or unicodedata.category(ch) in _REMOVED_CATEGORIES)


def normalize_whitespace(text: str) -> str:
    """Collapse runs of spaces, strip each line, keep at most one blank line between paragraphs."""
    if _is_normalized_ascii(text):
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # str.split() splits on exactly the chars regex \s matches (str.isspace: tab, NBSP, U+2028...), so per
    # line this collapses each run of them to one space and strips both ends, in C.
    text = "\n".join([" ".join(line.split()) for line in text.split("\n")])
    if "\n\n\n" in text:
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


_ASCII_ODD_SPACE_BYTES = b"\t\x0b\x0c\r\x1c\x1d\x1e\x1f"  # ASCII whitespace but space and newline


def _is_normalized_ascii(text: str) -> bool:
    # Already-clean ASCII text (single-spaced prose, the output of this function) is detected by a few
    # substring searches in C, cheaper than splitting every line.
    if not text.isascii() or "  " in text:
        return False
    if "\n" in text and (" \n" in text or "\n " in text or "\n\n\n" in text):
        return False
    if text[:1] in (" ", "\n") or text[-1:] in (" ", "\n"):
        return False
    data = text.encode("ascii")
    return len(data.translate(None, _ASCII_ODD_SPACE_BYTES)) == len(data)


BOILERPLATE_MAX_LINE_CHARS = 200  # banners and footers are short; a long line is content even if it starts alike


def remove_boilerplate(text: str, patterns: Iterable[re.Pattern[str]]) -> str:
    """Remove short lines that match a boilerplate pattern (cookie banners, copyright lines...)."""
    patterns = list(patterns)
    if not patterns:
        return text
    return "\n".join(
        line for line in text.split("\n")
        if len(line) > BOILERPLATE_MAX_LINE_CHARS or not any(p.fullmatch(line) for p in patterns)
    )


_FTFY_SEGMENT_CHARS = repair.SEGMENT_CHARS


def _needs_ftfy(text: str) -> bool:
    # Plain ASCII without entities or terminal escapes has nothing for ftfy to repair (no mojibake, width, NFC).
    return not (text.isascii() and "&" not in text and "\x1b" not in text)


def _clean_once(text: str, patterns: list[re.Pattern[str]]) -> tuple[str, str]:
    """One cleaning round: (ftfy's output, the round's output)."""
    if _needs_ftfy(text):
        text = repair.fix_text(text)  # ftfy's output, known without ftfy for most non-ASCII prose
    repaired = text
    text = normalize_whitespace(remove_control_chars(text))
    without_boilerplate = remove_boilerplate(text, patterns)
    if without_boilerplate != text:  # whitespace is normalized already unless lines were removed
        text = normalize_whitespace(without_boilerplate)
    return repaired, text


def _is_fixed_point(text: str, repaired: str, cleaned: str) -> bool:
    """True when another round on ``cleaned`` (this round: ``text`` -> ``repaired`` by ftfy -> ``cleaned``)
    would return it unchanged, known without running ftfy again.

    The steps after ftfy give the same text when run on their own output (no control chars, whitespace
    normalized, surviving lines were already checked against the patterns), so only ftfy can change it:
    - plain text skips ftfy;
    - when those steps changed nothing, ``cleaned`` is ftfy's output, which ftfy keeps: it fixes each
      segment (line) until a pass changes nothing. One line within ftfy's segment length before and
      after, and no ``&`` (HTML unescaping is the only step whose setting depends on the text), make the
      next call see the same single segment;
    - otherwise ``repair`` may prove that ftfy returns ``cleaned`` unchanged (multi-line prose).
    """
    if not _needs_ftfy(cleaned):
        return True
    if (cleaned == repaired and "\n" not in text and "\n" not in cleaned and "&" not in cleaned
            and len(text) <= _FTFY_SEGMENT_CHARS and len(cleaned) <= _FTFY_SEGMENT_CHARS):
        return True
    return repair.fix_text_without_ftfy(cleaned) == cleaned


def clean_text(text: str, boilerplate: Iterable[re.Pattern[str]] = ()) -> str:
    """Unicode repair (ftfy, NFC), control-char removal, whitespace and boilerplate cleanup.

    Applied until nothing changes (a few rounds at most) so cleaning is idempotent:
    ``clean_text(clean_text(x)) == clean_text(x)``. Most texts need one round: a second is run only
    when ftfy might change the first round's output.
    """
    patterns = list(boilerplate)
    for _ in range(4):
        repaired, cleaned = _clean_once(text, patterns)
        if cleaned == text or _is_fixed_point(text, repaired, cleaned):
            return cleaned
        text = cleaned
    return text


def compile_patterns(patterns: Iterable[str]) -> list[re.Pattern[str]]:
    """Compile boilerplate line patterns once per process."""
    return [re.compile(p) for p in patterns]
