from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.views.blockkit import limit_violations, mrkdwn_texts, unsafe_markup
from tests.views.factories import make_event
from views.messages import build_event_message
from views.text import (
    ELLIPSIS,
    escape_and_truncate,
    escape_mrkdwn,
    truncate,
    truncate_keep_end,
    unescape_mrkdwn,
)

# Text rich in the characters that matter here: Slack markup, entities, emoji parts and right-to-left
# scripts, mixed with arbitrary Unicode.
MARKUP_PIECES = st.sampled_from(
    [
        "&",
        "<",
        ">",
        "&amp;",
        "&lt;",
        "<!channel>",
        "<@U123>",
        "|",
        "`",
        "```",
        "*",
        "\n",
        " ",
        "😀",
        "👍🏽",
        "\u200d",
        "\ufe0f",
        "🇩",
        "🇪",
        "\u0301",
        "שָׁ",
        "مرحبا",
    ]
)
RICH_TEXT = st.lists(st.one_of(MARKUP_PIECES, st.text(max_size=20)), max_size=60).map("".join)


@given(RICH_TEXT)
def test_escape_removes_angle_brackets(text: str) -> None:
    escaped = escape_mrkdwn(text)

    assert "<" not in escaped
    assert ">" not in escaped


@given(RICH_TEXT)
def test_escape_round_trips(text: str) -> None:
    assert unescape_mrkdwn(escape_mrkdwn(text)) == text


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_truncate_respects_limit(text: str, limit: int) -> None:
    result = truncate(text, limit)

    assert len(result) <= limit
    if len(text) <= limit:
        assert result == text
    else:
        assert result.endswith(ELLIPSIS)
        assert text.startswith(result.removesuffix(ELLIPSIS).rstrip())


@given(RICH_TEXT, st.integers(min_value=1, max_value=200), st.booleans())
def test_escape_and_truncate_leaves_whole_entities(text: str, limit: int, keep_end: bool) -> None:
    result = escape_and_truncate(text, limit, keep_end=keep_end)

    assert len(result) <= limit
    assert unsafe_markup(result) == []


@given(st.text(), st.integers(min_value=1, max_value=200))
def test_truncate_keep_end_keeps_suffix(text: str, limit: int) -> None:
    result = truncate_keep_end(text, limit)

    assert len(result) <= limit
    assert text.endswith(result.removeprefix(ELLIPSIS))


@settings(max_examples=150, deadline=None)
@given(
    title=st.one_of(RICH_TEXT, st.text(max_size=1000)).map(lambda text: text[:1000]),
    body=st.one_of(RICH_TEXT, st.text(), RICH_TEXT.map(lambda text: text * 200)),
    author=RICH_TEXT.filter(lambda text: 1 <= len(text) <= 500),
    updated=st.booleans(),
)
def test_note_message_within_limits(title: str, body: str, author: str, updated: bool) -> None:
    event_type = "note.updated" if updated else "note.created"
    event = make_event(event_type, title=title, body=body, author=author)

    message = build_event_message(event, web_url="https://mc.test", client_workspace=False)

    assert limit_violations(message) == []
    for text in mrkdwn_texts(message):
        assert unsafe_markup(text) == [], text[:80]
