"""Unicode repair: ``ftfy.fix_text(text, normalization="NFC")``, with its output worked out without ftfy
when that is provably the same.

Most non-ASCII prose ("café", "©", curly quotes) has no mojibake, yet ftfy scans all of it with its
badness regex and runs every fixer. ftfy fixes each segment (line) in passes until a pass changes
nothing; a pass is: unescape HTML, fix the encoding, the char-level fixers, NFC. ``fix_text_without_ftfy``
proves that on a text:

1. pass 1 leaves the text alone in the two steps that guess (no HTML entity; no segment ``is_bad``, so
   ``fix_encoding`` returns it), so pass 1 is the char-level fixers and NFC, which it runs itself;
2. pass 2 changes nothing on that result (no entity, no char any fixer touches, NFC already, not bad),
   so ftfy returns it.

``is_bad`` is checked only around the few chars that every branch of ftfy's badness regex needs (one
of a set derived from the regex at import); matches are at most a few chars long, so a short window
around each such char finds any match. Anything outside these conditions returns None: run ftfy.
"""

from __future__ import annotations

import re
import unicodedata
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]

import ftfy
from ftfy import chardata, fixes
from ftfy.badness import BADNESS_RE

SEGMENT_CHARS = ftfy.TextFixerConfig().max_decode_length  # ftfy fixes longer lines in pieces


def _char_class(codepoints: set[int] | dict[int, object]) -> str:
    return "[" + "".join(f"\\U{cp:08x}" for cp in sorted(codepoints)) + "]"


# ftfy's char-level fixers, in the order ftfy runs them after fix_encoding (ftfy.fix_and_explain), each
# with the chars it may change: a text without any of them is left alone by that fixer.
_CHAR_FIXERS = [(ftfy.FIXERS[name], re.compile(chars)) for name, chars in (
    ("fix_c1_controls", chardata.C1_CONTROL_RE.pattern),
    ("fix_latin_ligatures", _char_class(chardata.LIGATURES)),
    ("fix_character_width", _char_class(chardata.WIDTH_MAP)),
    ("uncurl_quotes", chardata.SINGLE_QUOTE_RE.pattern + "|" + chardata.DOUBLE_QUOTE_RE.pattern),
    ("fix_line_breaks", "[\r\u2028\u2029\x85]"),
    ("fix_surrogates", fixes.SURROGATE_RE.pattern),
    ("remove_terminal_escapes", "\x1b"),
    ("remove_control_chars", _char_class(chardata.CONTROL_CHARS)),
)]
_TOUCHED_RE = re.compile("|".join(touched.pattern for _, touched in _CHAR_FIXERS))


def _in_set(item: tuple) -> set[int] | None:
    """The chars one regex element matches, when it is a plain literal or a set of literals/ranges."""
    op, arg = item
    if op is sre_constants.LITERAL:
        return {arg}
    if op is not sre_constants.IN:
        return None
    chars: set[int] = set()
    for sub_op, sub_arg in arg:
        if sub_op is sre_constants.LITERAL:
            chars.add(sub_arg)
        elif sub_op is sre_constants.RANGE:
            chars.update(range(sub_arg[0], sub_arg[1] + 1))
        else:  # NEGATE, CATEGORY (\s, \w): not a finite set
            return None
    return chars


def _commonness(chars: set[int]) -> int:
    # Prose is made of small letters, then capitals and spaces; symbols (µ and ª included) are rare.
    def weight(ch: str) -> int:
        name = unicodedata.name(ch, "")
        return 1000 if "SMALL LETTER" in name else 300 if "LETTER" in name or ch.isspace() else 1

    return sum(weight(chr(c)) for c in chars)


# Elements that look at one char each (or a bounded repeat of them): a match depends on its own chars only.
_SAFE_OPS = {sre_constants.LITERAL, sre_constants.NOT_LITERAL, sre_constants.IN, sre_constants.ANY,
             sre_constants.MAX_REPEAT}


def badness_clues(pattern: re.Pattern[str]) -> tuple[set[int], int] | None:
    """(chars, width): every match of ``pattern`` contains one of ``chars`` (all non-ASCII) and is at most
    ``width`` chars long, and looks at nothing outside itself but the string start (``^``).

    None when this can't be shown from the pattern's parse tree (lookarounds, other anchors, flags that
    change what chars match, a branch without a mandatory non-ASCII element).
    """
    tree = sre_parser.parse(pattern.pattern, pattern.flags)
    if tree.state.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL):  # inline flags included
        return None
    is_alternation = len(tree) == 1 and tree[0][0] is sre_constants.BRANCH
    branches = tree[0][1][1] if is_alternation else [tree]
    clues: set[int] = set()
    width = 0
    for branch in branches:
        choices = []
        for item in branch:
            op, arg = item
            if op is sre_constants.AT and arg is sre_constants.AT_BEGINNING:
                continue
            if op not in _SAFE_OPS:
                return None
            if op is sre_constants.MAX_REPEAT and any(sub[0] not in _SAFE_OPS - {sre_constants.MAX_REPEAT}
                                                      for sub in arg[2]):
                return None
            chars = _in_set(item)  # a top-level literal or set is mandatory; repeats are not
            if chars and min(chars) >= 0x80:
                choices.append(chars)
        branch_width = branch.getwidth()[1]
        if not choices or branch_width >= sre_constants.MAXREPEAT:
            return None
        clues |= min(choices, key=_commonness)
        width = max(width, branch_width)
    return clues, width


_CLUES = badness_clues(BADNESS_RE)
if _CLUES is not None:
    _CLUE_RE: re.Pattern[str] | None = re.compile(_char_class(_CLUES[0]))
    _MATCH_CHARS = _CLUES[1]
else:  # a future ftfy whose regex this can't bound: always run ftfy
    _CLUE_RE, _MATCH_CHARS = None, 0


def _any_segment_bad(text: str) -> bool:
    """``any(ftfy.badness.is_bad(segment))`` over ftfy's segments (lines, ``\\n`` kept) of ``text``."""
    assert _CLUE_RE is not None
    hits = [m.start() for m in _CLUE_RE.finditer(text)]
    if not hits:
        return False
    if len(hits) * 2 * _MATCH_CHARS > len(text):  # dense clues (Greek, box art...): one scan per segment
        lines = text.split("\n")
        return any(BADNESS_RE.search(line + "\n" if i < len(lines) - 1 else line) for i, line in enumerate(lines))
    # A match containing the clue at p lies in [p - width + 1, p + width) and within p's segment. A window
    # holding it finds it (nothing outside the match is looked at); a window starting inside a segment
    # can only add false matches of ``^``, which just send the text to ftfy.
    multiline = "\n" in text
    windows: list[list[int]] = []
    for p in hits:
        start, end = p - _MATCH_CHARS + 1, p + _MATCH_CHARS
        if multiline:
            start = max(start, text.rfind("\n", 0, p) + 1)
            line_end = text.find("\n", p)
            if line_end >= 0:
                end = min(end, line_end + 1)
        start = max(start, 0)
        if windows and start < windows[-1][1]:  # overlapping windows are in the same segment
            windows[-1][1] = max(windows[-1][1], end)
        else:
            windows.append([start, end])
    return any(BADNESS_RE.search(text[start:end]) for start, end in windows)


def _unchanged_by_char_steps(text: str) -> bool:
    """True when ftfy's char-level fixers and NFC all return ``text``."""
    return _TOUCHED_RE.search(text) is None and unicodedata.is_normalized("NFC", text)


def _unchanged_by_a_pass(text: str) -> bool:
    """True when a whole ftfy pass (every step, every segment) returns ``text``, ``is_bad`` excepted."""
    return chardata.HTML_ENTITY_RE.search(text) is None and _unchanged_by_char_steps(text)


def fix_text_without_ftfy(text: str) -> str | None:
    """``ftfy.fix_text(text, normalization="NFC")`` when it is provably cheap to know, else None."""
    if _CLUE_RE is None or len(text) > SEGMENT_CHARS or chardata.HTML_ENTITY_RE.search(text) is not None:
        return None
    if _any_segment_bad(text):
        return None
    if _unchanged_by_char_steps(text):  # no entity (checked above), not bad: ftfy leaves it alone
        return text
    # Pass 1 without its identity steps. Every fixer is char-local or matches within a line, and NFC does
    # not act across "\n", so running them on the whole text is running them per segment, as long as no
    # new "\n" appears (none of them removes one).
    fixed = text
    for fixer, touched in _CHAR_FIXERS:
        if touched.search(fixed):  # the translate tables cost ~100 ns/char: only where they do something
            fixed = fixer(fixed)
    fixed = unicodedata.normalize("NFC", fixed)
    if fixed == text:
        return text
    if fixed.count("\n") != text.count("\n") or not _unchanged_by_a_pass(fixed) or _any_segment_bad(fixed):
        return None
    return fixed


def fix_text(text: str) -> str:
    """``ftfy.fix_text(text, normalization="NFC")``, skipping ftfy when its output is known without it."""
    fixed = fix_text_without_ftfy(text)
    return ftfy.fix_text(text, normalization="NFC") if fixed is None else fixed
