"""Escaping, truncation, dates and links for Slack `mrkdwn` text.

Slack parses `<...>` in `mrkdwn` as mentions, broadcasts (`<!channel>`), dates and links, and decodes the
entities `&amp;`, `&lt;` and `&gt;`. Any text that came from users, the platform or a model is therefore
escaped with `escape_mrkdwn` before it goes into `mrkdwn`, and truncated afterwards with the
entity-aware functions here, so a cut never leaves half an entity such as `&am`.

`plain_text` objects (headers, button labels) show their text literally: they need truncation but no
escaping.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, datetime

ELLIPSIS = "…"

# Slack's date token shows the time in the reader's own time zone. Clients that cannot render it show the
# fallback text after the `|`.
DATE_FORMAT = "{date_short_pretty} at {time}"
MAX_DATE_FALLBACK = 100

# A link is only emitted for a URL of this length or less after escaping, so that a link and its label
# always fit one 3,000-character text object.
MAX_LINK_URL = 2_000

_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_ENTITIES = ("&amp;", "&lt;", "&gt;")
_LONGEST_ENTITY = max(len(entity) for entity in _ENTITIES)
_ENTITY_PATTERN = re.compile(r"&(amp|lt|gt);")
_UNESCAPES = {"amp": "&", "lt": "<", "gt": ">"}

# A URL that can sit between `<` and `|` without ending the link early: http(s), no whitespace, no
# control characters and none of the characters that delimit Slack's link syntax.
_LINKABLE_URL = re.compile(r"https?://[^\s|<>\x00-\x1f\x7f-\x9f]+")

_ZERO_WIDTH_JOINER = "\u200d"
# A cut moves at most this many characters to keep a user-perceived character whole. Longer runs of
# combining marks are cut anyway, so a pathological input cannot empty the text.
_MAX_CLUSTER_SHIFT = 32


def escape_mrkdwn(text: str) -> str:
    """Escape `&`, `<` and `>` as Slack's entities.

    `&` is replaced first, so the `&` that starts a new `&lt;` or `&gt;` is not escaped again.

    An entity already present in the input is literal text and is escaped again: `&amp;` becomes
    `&amp;amp;`, which Slack shows as `&amp;`.
    """
    for char, entity in _ESCAPES:
        text = text.replace(char, entity)
    return text


def unescape_mrkdwn(text: str) -> str:
    """Decode `&amp;`, `&lt;` and `&gt;` in one pass, the inverse of `escape_mrkdwn`."""
    return _ENTITY_PATTERN.sub(lambda match: _UNESCAPES[match.group(1)], text)


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis when anything was cut.

    The cut never splits an escape entity (`&amp;`, `&lt;`, `&gt;`), a surrogate pair, or an emoji
    sequence joined by zero-width joiners, modifiers or combining marks (up to 32 characters long).

    Raises:
        ValueError: `limit` is less than 1.
    """
    _check_limit(limit)
    if len(text) <= limit:
        return text
    end = _head_cut(text, limit - len(ELLIPSIS))
    return text[:end].rstrip() + ELLIPSIS


def truncate_keep_end(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, keeping its end and starting with an ellipsis.

    Suits tracebacks, whose last lines name the error. The same boundaries as `truncate` are respected.

    Raises:
        ValueError: `limit` is less than 1.
    """
    _check_limit(limit)
    if len(text) <= limit:
        return text
    start = _tail_cut(text, len(text) - (limit - len(ELLIPSIS)))
    return ELLIPSIS + text[start:]


def escape_and_truncate(text: str, limit: int, *, keep_end: bool = False) -> str:
    """Escape `text` for `mrkdwn`, then cut the escaped text to at most `limit` characters.

    With `keep_end`, the end of the text is kept instead of its start.
    """
    escaped = escape_mrkdwn(text)
    if keep_end:
        return truncate_keep_end(escaped, limit)
    return truncate(escaped, limit)


def slack_date(ts: datetime, fallback: str | None = None) -> str:
    """Build Slack's date token, shown as "Today at 9:41 AM" in each reader's time zone.

    The fallback, by default the UTC time such as "2026-03-05 14:30 UTC", is what clients that cannot
    render the token show. It is escaped and cut to 100 characters.

    Raises:
        ValueError: `ts` is naive, so its instant is unknown.
    """
    if ts.utcoffset() is None:
        raise ValueError(f"Invalid datetime {ts.isoformat()} for slack_date: it is naive, pass an aware one")
    unix_seconds = math.floor(ts.timestamp())
    label = fallback if fallback is not None else format_utc(ts)
    label = escape_and_truncate(" ".join(label.split()), MAX_DATE_FALLBACK)
    return f"<!date^{unix_seconds}^{DATE_FORMAT}|{label}>"


def format_utc(ts: datetime) -> str:
    """Format an aware datetime as UTC text to the minute, such as "2026-03-05 14:30 UTC"."""
    return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def safe_link(url: str | None, label: str) -> str:
    """Build a `<url|label>` link, or only the escaped label when the URL cannot be linked safely.

    A URL is linked only when it starts with http:// or https://, contains no whitespace, control
    characters, `|`, `<` or `>`, and is at most 2,000 characters after escaping. `&` in the URL is
    escaped as `&amp;`, which Slack decodes. Line breaks in the label become spaces.
    """
    escaped_label = escape_mrkdwn(" ".join(label.split()))
    if url is None or not _LINKABLE_URL.fullmatch(url):
        return escaped_label
    escaped_url = escape_mrkdwn(url)
    if len(escaped_url) > MAX_LINK_URL:
        return escaped_label
    return f"<{escaped_url}|{escaped_label}>"


def _check_limit(limit: int) -> None:
    if limit < len(ELLIPSIS):
        raise ValueError(f"Invalid truncation limit {limit}: it must be at least {len(ELLIPSIS)}")


def _head_cut(text: str, end: int) -> int:
    """Move a cut that keeps `text[:end]` back to the nearest safe boundary."""
    end = _before_entity(text, end)
    cut = end
    while end - cut < _MAX_CLUSTER_SHIFT:
        if not _inside_cluster(text, cut):
            return cut
        cut = _before_entity(text, cut - 1)
    return end


def _tail_cut(text: str, start: int) -> int:
    """Move a cut that keeps `text[start:]` forward to the nearest safe boundary."""
    start = _after_entity(text, start)
    cut = start
    while cut - start < _MAX_CLUSTER_SHIFT:
        if not _inside_cluster(text, cut):
            return cut
        cut = _after_entity(text, cut + 1)
    return start


def _before_entity(text: str, index: int) -> int:
    entity = _entity_spanning(text, index)
    return index if entity is None else entity[0]


def _after_entity(text: str, index: int) -> int:
    entity = _entity_spanning(text, index)
    return index if entity is None else entity[1]


def _entity_spanning(text: str, index: int) -> tuple[int, int] | None:
    """Return the (start, end) of the escape entity that a cut at `index` would split, if any."""
    start = text.rfind("&", max(0, index - _LONGEST_ENTITY + 1), index)
    if start < 0:
        return None
    for entity in _ENTITIES:
        if text.startswith(entity, start) and start + len(entity) > index:
            return start, start + len(entity)
    return None


def _inside_cluster(text: str, index: int) -> bool:
    """Tell whether a cut before `text[index]` would split one user-perceived character."""
    if index <= 0 or index >= len(text):
        return False
    if text[index - 1] == _ZERO_WIDTH_JOINER or _is_continuation(text[index]):
        return True
    return _splits_flag(text, index)


def _is_continuation(char: str) -> bool:
    code = ord(char)
    return (
        unicodedata.category(char) in ("Mn", "Mc", "Me")
        or char == _ZERO_WIDTH_JOINER
        or 0xFE00 <= code <= 0xFE0F  # variation selectors, such as the emoji presentation selector
        or 0x1F3FB <= code <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= code <= 0xE007F  # tag characters of subdivision flags
        or 0xDC00 <= code <= 0xDFFF  # the low half of a surrogate pair
    )


def _splits_flag(text: str, index: int) -> bool:
    """Tell whether `index` falls between the two regional indicators of one flag."""
    if not (_is_regional_indicator(text[index - 1]) and _is_regional_indicator(text[index])):
        return False
    run = 0
    while index - run - 1 >= 0 and _is_regional_indicator(text[index - run - 1]):
        run += 1
    return run % 2 == 1


def _is_regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF
