from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from views.text import (
    ELLIPSIS,
    escape_and_truncate,
    escape_mrkdwn,
    format_utc,
    safe_link,
    slack_date,
    truncate,
    truncate_keep_end,
    unescape_mrkdwn,
)

ESCAPE_CASES = [
    pytest.param("plain text", "plain text", id="nothing-to-escape"),
    pytest.param("<!channel>", "&lt;!channel&gt;", id="channel-broadcast"),
    pytest.param("<!here> now", "&lt;!here&gt; now", id="here-broadcast"),
    pytest.param("hi <@U123>", "hi &lt;@U123&gt;", id="user-mention"),
    pytest.param("<#C1>", "&lt;#C1&gt;", id="channel-link"),
    pytest.param("<http://x|y>", "&lt;http://x|y&gt;", id="link"),
    pytest.param("<!subteam^S1>", "&lt;!subteam^S1&gt;", id="group-mention"),
    pytest.param("a & b", "a &amp; b", id="ampersand"),
    pytest.param("&amp;", "&amp;amp;", id="entity-is-literal-text"),
    pytest.param("&lt;b&gt;", "&amp;lt;b&amp;gt;", id="escaped-tag-is-literal-text"),
    pytest.param("1 < 2 > 0", "1 &lt; 2 &gt; 0", id="comparisons"),
    pytest.param("שלום <b> مرحبا", "שלום &lt;b&gt; مرحبا", id="right-to-left"),
    pytest.param("", "", id="empty"),
]


@pytest.mark.parametrize(("raw", "escaped"), ESCAPE_CASES)
def test_escape_mrkdwn_cases(raw: str, escaped: str) -> None:
    assert escape_mrkdwn(raw) == escaped


@pytest.mark.parametrize(("raw", "escaped"), ESCAPE_CASES)
def test_unescape_mrkdwn_inverts_escape(raw: str, escaped: str) -> None:
    assert unescape_mrkdwn(escaped) == raw


def test_truncate_short_text_unchanged() -> None:
    assert truncate("abc", 3) == "abc"


def test_truncate_long_text_ends_with_ellipsis() -> None:
    result = truncate("abcdefghij", 5)

    assert result == "abcd" + ELLIPSIS
    assert len(result) == 5


def test_truncate_limit_one_is_ellipsis() -> None:
    assert truncate("abcdef", 1) == ELLIPSIS


def test_truncate_rejects_limit_zero() -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        truncate("abc", 0)


def test_truncate_strips_space_before_ellipsis() -> None:
    assert truncate("word    next", 8) == "word" + ELLIPSIS


@pytest.mark.parametrize("limit", range(1, 30))
def test_truncate_never_leaves_partial_entity(limit: int) -> None:
    escaped = escape_mrkdwn("a&b<c>d&&<<>>e&f")

    result = truncate(escaped, limit)

    assert len(result) <= limit
    assert unescape_mrkdwn(result.removesuffix(ELLIPSIS)).count("&") == result.count("&amp;")
    for index in (i for i, char in enumerate(result) if char == "&"):
        assert result.startswith(("&amp;", "&lt;", "&gt;"), index), result


@pytest.mark.parametrize("limit", range(1, 30))
def test_truncate_keep_end_never_leaves_partial_entity(limit: int) -> None:
    escaped = escape_mrkdwn("a&b<c>d&&<<>>e&f")

    result = truncate_keep_end(escaped, limit)

    assert len(result) <= limit
    assert ";" not in result.removeprefix(ELLIPSIS)[:1]
    for index in (i for i, char in enumerate(result) if char == "&"):
        assert result.startswith(("&amp;", "&lt;", "&gt;"), index), result


def test_truncate_does_not_cut_escaped_ampersand() -> None:
    assert truncate("ab&amp;cd", 6) == "ab" + ELLIPSIS


def test_truncate_keep_end_keeps_last_lines() -> None:
    traceback = "\n".join(f"line {number}" for number in range(100))

    result = truncate_keep_end(traceback, 20)

    assert result.startswith(ELLIPSIS)
    assert result.endswith("line 99")
    assert len(result) <= 20


CLUSTERS = [
    pytest.param("😀", id="single-code-point"),
    pytest.param("👍🏽", id="skin-tone-modifier"),
    pytest.param("👨\u200d👩\u200d👧", id="zwj-family"),
    pytest.param("🇩🇪", id="flag"),
    pytest.param("❤\ufe0f", id="variation-selector"),
    pytest.param("1\ufe0f\u20e3", id="keycap"),
    pytest.param("שָׁ", id="hebrew-points"),
    pytest.param("بِ", id="arabic-vowel-mark"),
]


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("limit", range(1, 12))
def test_truncate_keeps_cluster_whole(cluster: str, limit: int) -> None:
    text = "ab" + cluster + "cd"
    boundaries = {0, 1, 2, 2 + len(cluster), 3 + len(cluster), 4 + len(cluster)}

    result = truncate(text, limit)
    kept_prefix = result.removesuffix(ELLIPSIS)

    assert len(result) <= limit
    assert text.startswith(kept_prefix)
    assert len(kept_prefix) in boundaries


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("limit", range(1, 12))
def test_truncate_keep_end_keeps_cluster_whole(cluster: str, limit: int) -> None:
    text = "ab" + cluster + "cd"
    boundaries = {0, 1, 2, 2 + len(cluster), 3 + len(cluster), 4 + len(cluster)}

    result = truncate_keep_end(text, limit)
    kept_suffix = result.removeprefix(ELLIPSIS)

    assert len(result) <= limit
    assert text.endswith(kept_suffix)
    assert len(text) - len(kept_suffix) in boundaries


def test_truncate_skin_tone_not_orphaned() -> None:
    result = truncate("ab👍🏽cd", 4)

    assert result == "ab" + ELLIPSIS


def test_truncate_zwj_sequence_not_split() -> None:
    family = "👨‍👩‍👧"

    assert truncate("a" + family + "bc", 4) == "a" + ELLIPSIS
    assert truncate("a" + family + "bc", 7) == "a" + family + ELLIPSIS


def test_truncate_flag_pair_not_split() -> None:
    assert truncate("🇩🇪🇫🇷🇮🇹", 4) == "🇩🇪" + ELLIPSIS


def test_truncate_surrogate_pair_not_split() -> None:
    # Python keeps the two halves apart when a string was decoded with surrogatepass.
    text = "ab\ud83d\ude00cd"

    assert truncate(text, 4) == "ab" + ELLIPSIS
    assert truncate_keep_end(text, 4) == ELLIPSIS + "cd"


def test_truncate_keep_end_skips_orphan_modifier() -> None:
    assert truncate_keep_end("ab👍🏽cd", 4) == ELLIPSIS + "cd"


def test_truncate_long_combining_run_still_cut() -> None:
    zalgo = "a" + "\u0301" * 100

    result = truncate(zalgo, 50)

    assert len(result) == 50
    assert result.endswith(ELLIPSIS)


def test_escape_and_truncate_counts_escaped_length() -> None:
    result = escape_and_truncate("<" * 10, 12)

    assert result == "&lt;&lt;" + ELLIPSIS


def test_escape_and_truncate_keep_end() -> None:
    assert escape_and_truncate("abc<def>", 6, keep_end=True) == ELLIPSIS + "f&gt;"


def test_slack_date_token_format() -> None:
    ts = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)

    assert slack_date(ts) == "<!date^1772721000^{date_short_pretty} at {time}|2026-03-05 14:30 UTC>"


def test_slack_date_fallback_is_utc() -> None:
    ts = datetime(2026, 3, 5, 9, 30, tzinfo=timezone(timedelta(hours=-5)))

    assert slack_date(ts).endswith("|2026-03-05 14:30 UTC>")


def test_slack_date_custom_fallback_escaped() -> None:
    ts = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)

    token = slack_date(ts, fallback="<!channel> |x")

    assert token.endswith("|&lt;!channel&gt; |x>")


def test_slack_date_rejects_naive_datetime() -> None:
    with pytest.raises(ValueError, match="naive"):
        slack_date(datetime(2026, 3, 5, 14, 30))


def test_format_utc_minute_precision() -> None:
    ts = datetime(2026, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=2)))

    assert format_utc(ts) == "2026-12-31 21:59 UTC"


LINK_CASES = [
    pytest.param("https://mc.test/a", "Open", "<https://mc.test/a|Open>", id="https"),
    pytest.param("http://mc.test/a", "Open", "<http://mc.test/a|Open>", id="http"),
    pytest.param("https://mc.test/?a=1&b=2", "Open", "<https://mc.test/?a=1&amp;b=2|Open>", id="query-ampersand"),
    pytest.param("https://mc.test/a", "<b> & c", "<https://mc.test/a|&lt;b&gt; &amp; c>", id="label-escaped"),
    pytest.param("https://mc.test/a", "two\nlines", "<https://mc.test/a|two lines>", id="label-one-line"),
    pytest.param("javascript:alert(1)", "Open", "Open", id="javascript-scheme"),
    pytest.param("ftp://mc.test/a", "Open", "Open", id="ftp-scheme"),
    pytest.param("https://mc.test/a|<!channel>", "Open", "Open", id="pipe-in-url"),
    pytest.param("https://mc.test/<a>", "Open", "Open", id="angle-in-url"),
    pytest.param("https://mc.test/a b", "Open", "Open", id="space-in-url"),
    pytest.param("https://mc.test/a\nb", "Open", "Open", id="newline-in-url"),
    pytest.param("https://", "Open", "Open", id="no-host"),
    pytest.param(None, "Open", "Open", id="no-url"),
    pytest.param("https://mc.test/" + "a" * 3000, "Open", "Open", id="too-long"),
    pytest.param("https://mc.test/?" + "&" * 500, "Open", "Open", id="too-long-after-escaping"),
]


@pytest.mark.parametrize(("url", "label", "expected"), LINK_CASES)
def test_safe_link_cases(url: str | None, label: str, expected: str) -> None:
    assert safe_link(url, label) == expected
