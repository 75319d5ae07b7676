"""Text for Telegram: split at its message limit, escape for `parse_mode=HTML`.

Telegram refuses a message longer than 4096 characters and counts them in UTF-16 code
units (its entity offsets are UTF-16), so an emoji outside the Basic Multilingual Plane
counts twice. Measuring in UTF-16 units is therefore the safe reading: a part that fits
here always fits there. Pure functions, no I/O.
"""

from __future__ import annotations

import html
import re
import unicodedata

TELEGRAM_LIMIT = 4096

_ZWJ = "\u200d"
# An HTML entity as `escape_html` (or a person) writes it: `&amp;`, `&#39;`, `&#x1F600;`.
_ENTITY = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
_ENTITY_MAX = 34  # the longest text _ENTITY matches
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_SENTENCE_END = re.compile(r"[.!?…。](?=\s)")


def utf16_len(text: str) -> int:
    """Length as Telegram counts it: characters beyond U+FFFF take two UTF-16 units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def escape_html(text: str) -> str:
    """Make any text safe to send with `parse_mode=HTML`: it shows verbatim, nothing is
    read as a tag. Telegram's HTML needs only `&`, `<` and `>` escaped outside
    attributes. Escape first, then split: escaping makes text longer."""
    return html.escape(text, quote=False)


def _fits(text: str, limit: int) -> int:
    """How many characters (code points) of `text` fit into `limit` UTF-16 units."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return i
    return len(text)


def _joins_previous(ch: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a variation
    selector, an emoji skin tone, a zero-width joiner. Cutting before it would leave a
    broken glyph at the start of the next part."""
    code = ord(ch)
    return (
        ch == _ZWJ
        or unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me")
        or 0xFE00 <= code <= 0xFE0F  # variation selectors
        or 0xE0100 <= code <= 0xE01EF
        or 0x1F3FB <= code <= 0x1F3FF  # skin tones
        or 0xE0020 <= code <= 0xE007F  # tag characters (flag sequences)
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _safe_cut(text: str, pos: int) -> int:
    """Move a hard cut at `pos` back so it splits neither a character sequence (emoji with
    joiners, letters with accents) nor an HTML entity. Falls back to `pos` when the whole
    stretch is one unbreakable run, which only happens with pathological input."""
    cut = pos
    while 0 < cut < len(text) and (_joins_previous(text[cut]) or text[cut - 1] == _ZWJ):
        cut -= 1
    if 0 < cut < len(text) and _regional(text[cut]):
        # Flags are pairs of regional indicators: never cut a pair in two.
        run = 0
        while run < cut and _regional(text[cut - 1 - run]):
            run += 1
        cut -= run % 2
    if cut == 0:
        cut = pos
    start = max(0, cut - _ENTITY_MAX)
    for m in _ENTITY.finditer(text, start, min(len(text), cut + _ENTITY_MAX)):
        if m.start() < cut < m.end():
            cut = m.start() if m.start() > 0 else m.end()
            break
    return cut


def _last_boundary(window: str, floor: int) -> tuple[int, int] | None:
    """The best place to end a part inside `window` as (end of kept text, start of the
    rest): a blank line, else a line break, else the end of a sentence, else a space.
    Boundaries before `floor` would leave a part too short to be worth it, except spaces,
    which are still better than cutting a word."""
    candidates = [
        [(m.start(), m.end()) for m in _BLANK_LINES.finditer(window)],
        [(i, i + 1) for i, ch in enumerate(window) if ch == "\n"],
        [(m.end(), m.end() + 1) for m in _SENTENCE_END.finditer(window)],
    ]
    for found in candidates:
        found = [c for c in found if c[0] >= floor]
        if found:
            return found[-1]
    spaces = [i for i, ch in enumerate(window) if ch.isspace()]
    spaces = [i for i in spaces if i > 0]
    if spaces:
        return spaces[-1], spaces[-1] + 1
    return None


def split_for_telegram(text: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split `text` into parts of at most `limit` UTF-16 units, in order.

    Cuts prefer a paragraph break, then a line break, then a sentence end, then a space
    (each only in the second half of a part, so parts stay long), and only cut a word when
    one is longer than a part. A cut never falls inside a surrogate pair, an emoji
    sequence, a letter with its accents or an HTML entity (`&amp;`), so escaped text can be
    split after `escape_html`. Whitespace at a cut is dropped; a blank text gives no parts
    (Telegram refuses empty messages).
    """
    if limit < 2 * _ENTITY_MAX:
        raise ValueError(f"limit must be at least {2 * _ENTITY_MAX}")
    parts: list[str] = []
    rest = text.strip()
    while rest:
        size = _fits(rest, limit)
        if size >= len(rest):
            parts.append(rest)
            break
        # The window includes one character past the limit: a break right there still
        # lets everything before it fit.
        boundary = _last_boundary(rest[: size + 1], floor=size // 2)
        if boundary is not None:
            keep, skip = boundary
            keep = min(keep, size)
        else:
            keep = skip = _safe_cut(rest, size)
        part = rest[:keep].rstrip()
        if not part:  # a boundary at the very start: cut hard instead
            keep = skip = _safe_cut(rest, size)
            part = rest[:keep]
        parts.append(part)
        rest = rest[skip:].lstrip()
    return parts
