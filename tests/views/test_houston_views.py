from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.slack_emulator import BlockKitChecker, Mention, scan_message, scan_mrkdwn
from views.houston import (
    ANSWER_SHORTENED,
    EMPTY_ANSWER,
    FEEDBACK_DOWN_ACTION_ID,
    FEEDBACK_UP_ACTION_ID,
    NOTICE_TEXTS,
    REMOVED_LINK,
    RETRY_ACTION_ID,
    ZERO_WIDTH_SPACE,
    AnswerFooter,
    NoticeKind,
    build_answer_message,
    build_error_message,
    build_notice,
    sanitize_answer_markdown,
)
from views.messages import SlackMessage
from views.text import ELLIPSIS

# Slack's limits, repeated here so that a wrong constant in views/ makes these tests fail.
MARKDOWN_TOTAL = 12_000
FALLBACK_TEXT = 4_000
BUTTON_VALUE = 2_000
# This project's estimate of the safe total of text over all blocks of one message.
BLOCK_TEXT_TOTAL = 12_000

MENTION_KINDS = {"broadcast", "user", "usergroup", "channel"}
INJECTIONS = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!here|here>",
    "<@U123>",
    "<@W123|bob>",
    "<#C123>",
    "<#C123|general>",
    "<!subteam^S123>",
    "<!subteam^S123|@team>",
    "<https://evil.example|click>",
    "<!date^1700000000^{date}|x>",
]

ALLOWED = "https://mc.example/clients/acme/outliers/o1"
ALLOWED_OTHER = "https://mc.example/clients/acme/notes/n1"
EVIL_HOST = "evil.example"
THREAD_ID = "houston_thread_7f3a"
AS_OF = datetime(2025, 12, 8, 9, 30, tzinfo=UTC)
NO_FOOTER = AnswerFooter()

# A Markdown table's separator line, such as `|---|:-:|`.
TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)+\|?\s*$", re.MULTILINE)
HEADING = re.compile(r"^ {0,3}#{1,6}\s", re.MULTILINE)
URL = re.compile(r"(?:[A-Za-z][A-Za-z0-9+.\-]*://|www\.)[^\s<>()\[\]]+")


def answer(markdown: str, *, allowed: tuple[str, ...] = (ALLOWED,), footer: AnswerFooter = NO_FOOTER) -> SlackMessage:
    return build_answer_message(markdown=markdown, allowed_urls=allowed, footer=footer, thread_id=THREAD_ID)


def body_of(message: SlackMessage) -> str:
    markdown_blocks = [block for block in message.blocks if block["type"] == "markdown"]
    assert len(markdown_blocks) == 1
    return str(markdown_blocks[0]["text"])


def visible(text: str) -> str:
    """Return the text as a reader sees it: zero-width spaces render as nothing."""
    return text.replace(ZERO_WIDTH_SPACE, "")


def limit_problems(message: SlackMessage) -> list[str]:
    checker = BlockKitChecker()
    checker.check_blocks(message.blocks, "/blocks", maximum=50, surface="message")
    return [problem.describe() for problem in checker.problems]


def mentions(message: SlackMessage) -> list[Mention]:
    """Find mentions of the kinds that notify people, counting plain `@here` as Slack would with link_names."""
    payload = {**message.to_payload(), "link_names": True}
    return [mention for mention in scan_message(payload) if mention.kind in MENTION_KINDS]


def block_text_total(message: SlackMessage) -> int:
    total = 0
    for block in message.blocks:
        if block["type"] in ("markdown", "section"):
            text = block["text"]
            total += len(text if isinstance(text, str) else text["text"])
        for element in block.get("elements", []):
            text = element.get("text")
            total += len(text if isinstance(text, str) else text["text"])
    return total


def buttons(message: SlackMessage) -> list[dict[str, Any]]:
    return [element for block in message.blocks if block["type"] == "actions" for element in block["elements"]]


def footer_text(message: SlackMessage) -> str | None:
    contexts = [block for block in message.blocks if block["type"] == "context"]
    if not contexts:
        return None
    assert len(contexts) == 1
    return str(contexts[0]["elements"][0]["text"])


def code_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```[^\n]*\n(.*?)\n```$", markdown, flags=re.MULTILINE | re.DOTALL)


# --- Tables -----------------------------------------------------------------------------------------

TABLE = """Spend by channel:

| Channel | Spend | ROAS |
|:--------|------:|:----:|
| Search | 1,200 | 3.1 |
| **Social** | 80 | `2.0` |
| Display 日本 | 5 | 0.5 |

That is all."""


def test_table_becomes_code_block() -> None:
    body = body_of(answer(TABLE))

    assert TABLE_SEPARATOR.search(body) is None
    assert "| Search |" not in body
    assert len(code_blocks(body)) == 1
    assert body.startswith("Spend by channel:")
    assert body.endswith("That is all.")


def test_table_columns_aligned() -> None:
    lines = code_blocks(body_of(answer(TABLE)))[0].split("\n")

    assert lines == [
        "Channel       Spend  ROAS",
        "------------  -----  ----",
        "Search        1,200  3.1",
        "Social           80  2.0",
        "Display 日本      5  0.5",
    ]


def test_table_inside_code_block_kept() -> None:
    markdown = "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"

    assert body_of(answer(markdown)) == markdown


def test_table_ragged_rows_padded() -> None:
    markdown = "| a | b |\n|---|---|\n| 1 |\n| 1 | 2 | 3 |"

    lines = code_blocks(body_of(answer(markdown)))[0].split("\n")

    assert lines == ["a  b", "-  -  -", "1", "1  2  3"]


def test_table_allowed_links_listed_below() -> None:
    markdown = f"| Outlier | Note |\n|---|---|\n| [Spike]({ALLOWED}) | [Evil](https://{EVIL_HOST}/x) |"

    body = body_of(answer(markdown))

    assert code_blocks(body)[0].endswith("Spike    Evil")
    assert body.endswith(f"Links in the table: [Spike]({ALLOWED})")
    assert EVIL_HOST not in body


def test_table_without_separator_kept() -> None:
    markdown = "a | b\nc | d"

    assert body_of(answer(markdown)) == markdown


# --- Links ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        pytest.param(f"See [the outlier]({ALLOWED}).", f"See [the outlier]({ALLOWED}).", id="allowed-link"),
        pytest.param(f"See [this](https://{EVIL_HOST}/a).", "See this.", id="unknown-link"),
        pytest.param(f"Open {ALLOWED}.", f"Open {ALLOWED}.", id="allowed-bare"),
        pytest.param(f"Open https://{EVIL_HOST}/a?q=1.", f"Open {REMOVED_LINK}.", id="unknown-bare"),
        pytest.param(f"Open www.{EVIL_HOST}/a", f"Open {REMOVED_LINK}", id="unknown-www"),
        pytest.param(f"({ALLOWED})", f"({ALLOWED})", id="allowed-in-parentheses"),
        pytest.param(f"**{ALLOWED}**", f"**{ALLOWED}**", id="allowed-in-bold"),
        pytest.param(f"[x]({ALLOWED}/more)", "x", id="longer-than-allowed"),
        pytest.param(f"<{ALLOWED}|Outlier>", f"[Outlier]({ALLOWED})", id="slack-link-allowed"),
        pytest.param(f"<https://{EVIL_HOST}|Click>", "Click", id="slack-link-unknown"),
        pytest.param(f"<{ALLOWED}>", f"[{ALLOWED}]({ALLOWED})", id="autolink-allowed"),
        pytest.param(f"<https://{EVIL_HOST}/a>", REMOVED_LINK, id="autolink-unknown"),
        pytest.param(f"![chart](https://{EVIL_HOST}/p.png?d=secret)", "chart", id="image-unknown"),
        pytest.param(f"![chart]({ALLOWED})", f"[chart]({ALLOWED})", id="image-allowed"),
        pytest.param(f"[](https://{EVIL_HOST}/a)", REMOVED_LINK, id="empty-label"),
        pytest.param(f'[x]({ALLOWED} "https://{EVIL_HOST}")', f"[x]({ALLOWED})", id="title-dropped"),
        pytest.param(f"[https://{EVIL_HOST}/a]({ALLOWED})", f"[{REMOVED_LINK}]({ALLOWED})", id="url-label"),
        pytest.param(f"[![i](https://{EVIL_HOST}/i)](https://{EVIL_HOST}/a)", "i", id="nested-unknown"),
        pytest.param(f"[ref]: https://{EVIL_HOST}/a", f"[ref]: {REMOVED_LINK}", id="reference-definition"),
        pytest.param(f"xhttps://{EVIL_HOST}/a", REMOVED_LINK, id="scheme-inside-word"),
        pytest.param("[a](relative/path)", "a", id="relative-link"),
    ],
)
def test_links_only_allowed_urls(markdown: str, expected: str) -> None:
    assert visible(body_of(answer(markdown))) == expected


def test_links_in_code_block_filtered() -> None:
    markdown = f"```python\nhandlers[name](event)  # https://{EVIL_HOST}/a and {ALLOWED}\n```"

    body = body_of(answer(markdown))

    assert "handlers[name](event)" in body
    assert EVIL_HOST not in body
    assert ALLOWED in body


def test_links_none_allowed() -> None:
    body = body_of(answer(f"[Outlier]({ALLOWED})", allowed=()))

    assert body == "Outlier"


# --- Mentions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("injection", INJECTIONS)
def test_mention_neutralised(injection: str) -> None:
    message = answer(f"Hello {injection} and `{injection}`\n\n```\n{injection}\n```")

    assert mentions(message) == []
    assert scan_message(message.to_payload()) == []
    assert limit_problems(message) == []


def test_mention_text_stays_readable() -> None:
    body = body_of(answer("Ping <!channel> now"))

    assert visible(body) == "Ping <!channel> now"
    assert body == f"Ping <{ZERO_WIDTH_SPACE}!channel> now"


@pytest.mark.parametrize("entity", ["&lt;!channel&gt;", "&LT;@U1&GT;", "&#60;!here&#62;", "&#x3C;!here&#x3e;"])
def test_mention_entities_neutralised(entity: str) -> None:
    body = body_of(answer(entity))

    assert f"&{ZERO_WIDTH_SPACE}" in body
    assert re.search(r"&(lt|gt|#0*6[02]|#x0*3[ce]);", body, flags=re.IGNORECASE) is None


@pytest.mark.parametrize("broadcast", ["@channel", "@here", "@everyone", "@HERE"])
def test_mention_bare_broadcast_neutralised(broadcast: str) -> None:
    message = answer(f"Tell {broadcast} about it")

    assert mentions(message) == []
    assert scan_mrkdwn(body_of(message), bare_broadcasts=True) == []


def test_mention_in_fallback_escaped() -> None:
    message = answer("Hello <!channel> & <@U1>")

    assert message.text == "Hello &lt;!channel&gt; &amp; &lt;@U1&gt;"


def test_sanitize_markdown_matches_answer() -> None:
    markdown = f"<!here> [x](https://{EVIL_HOST}) [y]({ALLOWED})\n\n| a |\n|---|\n| 1 |"

    sanitized = sanitize_answer_markdown(markdown, allowed_urls=[ALLOWED])

    assert sanitized == body_of(answer(markdown))
    assert scan_mrkdwn(sanitized) == []


# --- Notification text ------------------------------------------------------------------------------

RICH_MARKDOWN = f"""# Weekly summary

## Spend

**Spend** rose __12%__ on *Search* and _Social_, see `channel_performance` and ~~old~~ [outlier]({ALLOWED}).

> A quoted line

---

| Channel | Spend |
|---|---|
| Search | 1,200 |

```sql
SELECT **x** FROM `t`  # comment
```
"""


def test_fallback_has_no_markdown() -> None:
    text = answer(RICH_MARKDOWN).text

    for marker in ("**", "__", "`", "~~", "](", "\n>", "\n---\n"):
        assert marker not in text, marker
    assert TABLE_SEPARATOR.search(text) is None
    assert HEADING.search(text) is None


def test_fallback_keeps_words() -> None:
    text = answer(RICH_MARKDOWN).text

    assert text.startswith("Weekly summary\n\nSpend\n\nSpend rose 12% on Search and Social, see channel_performance")
    assert "old outlier." in text
    assert "A quoted line" in text
    assert "Search   1,200" in text
    assert "SELECT x FROM t  # comment" in text


def test_fallback_keeps_snake_case() -> None:
    assert answer("use snake_case_name and 2*3*4").text == "use snake_case_name and 2*3*4"


def test_fallback_empty_answer() -> None:
    message = answer("   \n ")

    assert message.text == EMPTY_ANSWER
    assert body_of(message) == EMPTY_ANSWER


# --- Length -----------------------------------------------------------------------------------------


def long_answer(length: int) -> str:
    paragraph = f"Spend on **Search** rose by 12% <!here>, see [the outlier]({ALLOWED}) and https://{EVIL_HOST}/x.\n\n"
    return (paragraph * (length // len(paragraph) + 1))[:length]


def test_long_answer_fits_limits() -> None:
    footer = AnswerFooter(
        client_label="Acme" * 100,
        date_window=(date(2025, 12, 1), date(2025, 12, 7)),
        data_as_of=AS_OF,
        tools_used=[f"tool_{index}" for index in range(200)],
    )
    message = answer(long_answer(30_000), footer=footer)
    body = body_of(message)

    assert limit_problems(message) == []
    assert len(body) <= MARKDOWN_TOTAL
    assert block_text_total(message) <= BLOCK_TEXT_TOTAL
    assert len(message.text) <= FALLBACK_TEXT
    assert body.endswith(f"{ELLIPSIS}\n\n{ANSWER_SHORTENED}")
    assert message.text.endswith(ELLIPSIS)
    assert mentions(message) == []


def test_long_answer_cut_leaves_whole_urls() -> None:
    allowed = tuple(f"https://mc.example/clients/acme/notes/{index}" for index in range(3000))
    markdown = " ".join(allowed)

    body = body_of(answer(markdown, allowed=allowed))

    assert body.endswith(ANSWER_SHORTENED)
    for url in URL.findall(body):
        assert url in allowed


def test_long_answer_closes_code_block() -> None:
    markdown = "Intro\n\n```\n" + "row of data\n" * 3000 + "```\n\nAfter."

    body = body_of(answer(markdown))

    assert body.endswith(f"{ELLIPSIS}\n```\n\n{ANSWER_SHORTENED}")
    assert len(body) <= MARKDOWN_TOTAL


def test_long_answer_without_spaces_fits() -> None:
    message = answer("x" * 30_000)

    assert limit_problems(message) == []
    assert len(body_of(message)) <= MARKDOWN_TOTAL
    assert len(message.text) <= FALLBACK_TEXT


def test_short_answer_not_shortened() -> None:
    assert body_of(answer("Spend rose 12%.")) == "Spend rose 12%."


def test_huge_answer_marked_shortened() -> None:
    body = body_of(answer("<!here> " * 50_000))

    assert body.endswith(ANSWER_SHORTENED)
    assert len(body) <= MARKDOWN_TOTAL


# --- Footer -----------------------------------------------------------------------------------------


def test_footer_all_parts() -> None:
    footer = AnswerFooter(
        client_label="Acme",
        date_window=(date(2025, 12, 1), date(2025, 12, 7)),
        data_as_of=AS_OF,
        tools_used=["channel_performance", "notes", "channel_performance"],
    )

    text = footer_text(answer("x", footer=footer))

    assert text == (
        "Client: Acme · Dates: 1–7 Dec · "
        f"Data as of <!date^{int(AS_OF.timestamp())}^{{date_short_pretty}} at {{time}}|2025-12-08 09:30 UTC> · "
        "Tools: channel_performance, notes"
    )


@pytest.mark.parametrize(
    ("footer", "expected"),
    [
        pytest.param(AnswerFooter(client_label="Acme"), "Client: Acme", id="client-only"),
        pytest.param(AnswerFooter(tools_used=["notes"]), "Tools: notes", id="tools-only"),
        pytest.param(AnswerFooter(client_label="  ", tools_used=[""]), None, id="blank-parts"),
        pytest.param(AnswerFooter(), None, id="empty"),
        pytest.param(
            AnswerFooter(date_window=(date(2025, 12, 1), date(2025, 12, 7))), "Dates: 1–7 Dec 2025", id="no-as-of-year"
        ),
        pytest.param(
            AnswerFooter(client_label="A <!channel> & <@U1>\n@here"),
            f"Client: A &lt;!channel&gt; &amp; &lt;@U1&gt; @{ZERO_WIDTH_SPACE}here",
            id="escaped-client",
        ),
    ],
)
def test_footer_parts(footer: AnswerFooter, expected: str | None) -> None:
    message = answer("x", footer=footer)

    assert footer_text(message) == expected
    assert mentions(message) == []


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(date(2025, 12, 7), date(2025, 12, 7), "7 Dec", id="one-day"),
        pytest.param(date(2025, 11, 28), date(2025, 12, 4), "28 Nov – 4 Dec", id="two-months"),
        pytest.param(date(2024, 12, 1), date(2024, 12, 7), "1–7 Dec 2024", id="other-year"),
        pytest.param(date(2024, 12, 28), date(2025, 1, 3), "28 Dec 2024 – 3 Jan 2025", id="two-years"),
    ],
)
def test_footer_date_window(start: date, end: date, expected: str) -> None:
    text = footer_text(answer("x", footer=AnswerFooter(date_window=(start, end), data_as_of=AS_OF)))

    assert text is not None
    assert text.startswith(f"Dates: {expected} · ")


def test_footer_reversed_window_rejected() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        answer("x", footer=AnswerFooter(date_window=(date(2025, 12, 7), date(2025, 12, 1))))


def test_footer_naive_as_of_rejected() -> None:
    with pytest.raises(ValueError, match="naive"):
        answer("x", footer=AnswerFooter(data_as_of=datetime(2025, 12, 8, 9, 30)))


# --- Buttons ----------------------------------------------------------------------------------------


def test_feedback_buttons_carry_thread_id() -> None:
    found = buttons(answer("x"))

    assert [button["action_id"] for button in found] == [FEEDBACK_UP_ACTION_ID, FEEDBACK_DOWN_ACTION_ID]
    assert [button["value"] for button in found] == [THREAD_ID, THREAD_ID]
    assert found[0]["text"]["text"].startswith("👍")
    assert found[1]["text"]["text"].startswith("👎")


def test_feedback_longest_thread_id_accepted() -> None:
    thread_id = "t" * BUTTON_VALUE

    message = build_answer_message(markdown="x", allowed_urls=(), footer=NO_FOOTER, thread_id=thread_id)

    assert limit_problems(message) == []
    assert buttons(message)[0]["value"] == thread_id


@pytest.mark.parametrize("thread_id", ["", "t" * (BUTTON_VALUE + 1)], ids=["empty", "too-long"])
def test_buttons_invalid_thread_id_rejected(thread_id: str) -> None:
    with pytest.raises(ValueError, match="thread_id"):
        build_answer_message(markdown="x", allowed_urls=(), footer=NO_FOOTER, thread_id=thread_id)
    with pytest.raises(ValueError, match="thread_id"):
        build_error_message(request_id="r1", thread_id=thread_id)


def test_error_message_retry_button() -> None:
    message = build_error_message(request_id="req_42", thread_id=THREAD_ID)

    assert limit_problems(message) == []
    assert [(button["action_id"], button["value"]) for button in buttons(message)] == [(RETRY_ACTION_ID, THREAD_ID)]
    assert buttons(message)[0]["text"]["text"] == "Retry"
    assert "`req_42`" in message.blocks[0]["text"]["text"]
    assert "req_42" in message.text


def test_error_message_request_id_escaped() -> None:
    message = build_error_message(request_id="<!channel> `x` & " + "r" * 5000, thread_id=THREAD_ID)

    section = message.blocks[0]["text"]["text"]
    assert limit_problems(message) == []
    assert mentions(message) == []
    assert "&lt;!channel&gt; 'x' &amp; rrr" in section
    assert section.count("`") == 2
    assert len(message.text) <= FALLBACK_TEXT


# --- Notices ----------------------------------------------------------------------------------------

NOTICE_VALUES: dict[NoticeKind, dict[str, Any]] = {
    NoticeKind.RATE_LIMITED: {"retry_at": AS_OF + timedelta(minutes=5)},
    NoticeKind.AMBIGUOUS_CLIENT: {"names": ["Acme", "Acme Labs", "Acme <!channel>"]},
}


@pytest.mark.parametrize("kind", list(NoticeKind), ids=lambda kind: kind.name)
def test_notice_within_limits(kind: NoticeKind) -> None:
    message = build_notice(kind, **NOTICE_VALUES.get(kind, {}))

    assert len(message.blocks) == 1
    assert message.blocks[0]["type"] == "section"
    assert limit_problems(message) == []
    assert 0 < len(message.text) <= FALLBACK_TEXT
    assert mentions(message) == []
    assert "`" not in message.text


def test_notice_every_kind_has_text() -> None:
    assert set(NOTICE_TEXTS) == set(NoticeKind)


def test_notice_rate_limited_shows_date() -> None:
    retry_at = NOTICE_VALUES[NoticeKind.RATE_LIMITED]["retry_at"]

    text = build_notice(NoticeKind.RATE_LIMITED, retry_at=retry_at).blocks[0]["text"]["text"]

    assert f"<!date^{int(retry_at.timestamp())}^" in text


def test_notice_ambiguous_client_names_escaped() -> None:
    message = build_notice(NoticeKind.AMBIGUOUS_CLIENT, names=["A & B", "<@U1>", "@here"])

    text = message.blocks[0]["text"]["text"]
    assert text.startswith(f"Which client do you mean: A &amp; B, &lt;@U1&gt; or @{ZERO_WIDTH_SPACE}here?")
    assert "--client &lt;client id&gt;" in text
    assert mentions(message) == []


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        pytest.param(["Acme"], "Acme", id="one"),
        pytest.param(("Acme", "Beta"), "Acme or Beta", id="two-tuple"),
        pytest.param(
            [f"C{index}" for index in range(12)], "C0, C1, C2, C3, C4, C5, C6, C7, C8, C9 or 2 others", id="twelve"
        ),
        pytest.param(["Acme\nCorp", "x" * 500], "Acme Corp or " + "x" * 99 + ELLIPSIS, id="long-name"),
    ],
)
def test_notice_ambiguous_client_name_list(names: list[str], expected: str) -> None:
    text = build_notice(NoticeKind.AMBIGUOUS_CLIENT, names=names).blocks[0]["text"]["text"]

    assert text.startswith(f"Which client do you mean: {expected}? ")


@pytest.mark.parametrize(
    ("kind", "values", "error"),
    [
        pytest.param(NoticeKind.RATE_LIMITED, {}, TypeError, id="missing"),
        pytest.param(NoticeKind.DISABLED, {"names": ["A"]}, TypeError, id="unexpected"),
        pytest.param(NoticeKind.RATE_LIMITED, {"retry_at": "soon"}, TypeError, id="wrong-type"),
        pytest.param(NoticeKind.AMBIGUOUS_CLIENT, {"names": [1]}, TypeError, id="name-not-str"),
        pytest.param(NoticeKind.AMBIGUOUS_CLIENT, {"names": []}, ValueError, id="no-names"),
        pytest.param(NoticeKind.RATE_LIMITED, {"retry_at": datetime(2025, 1, 1)}, ValueError, id="naive"),
    ],
)
def test_notice_invalid_values_rejected(kind: NoticeKind, values: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        build_notice(kind, **values)


# --- Any input --------------------------------------------------------------------------------------

MARKUP_PIECES = st.sampled_from(
    [
        *INJECTIONS,
        "@here",
        "&lt;!channel&gt;",
        f"[label]({ALLOWED})",
        f"[label](https://{EVIL_HOST}/a)",
        f"![img](https://{EVIL_HOST}/i.png)",
        f"https://{EVIL_HOST}/b",
        f"www.{EVIL_HOST}",
        f"<https://{EVIL_HOST}/c|x>",
        ALLOWED,
        ALLOWED_OTHER,
        "| a | b |\n|---|:-:|\n| 1 | 2 |\n",
        "```",
        "~~~",
        "**",
        "__",
        "`",
        "# ",
        "> ",
        "[",
        "](",
        ")",
        "<",
        ">",
        "&",
        "|",
        "\n",
        " ",
        "😀",
        "👍🏽",
        "\u200d",
        "\u0301",
        "日本",
        "مرحبا",
    ]
)
ANY_MARKDOWN = st.lists(st.one_of(MARKUP_PIECES, st.text(max_size=30)), max_size=60).map("".join)


@settings(max_examples=150, deadline=None)
@given(markdown=ANY_MARKDOWN, repeat=st.sampled_from([1, 1, 2, 50, 400]))
def test_any_answer_safe_and_within_limits(markdown: str, repeat: int) -> None:
    message = build_answer_message(
        markdown=markdown * repeat,
        allowed_urls=[ALLOWED, ALLOWED_OTHER],
        footer=AnswerFooter(client_label=markdown[:300], data_as_of=AS_OF, tools_used=[markdown[:50]]),
        thread_id=THREAD_ID,
    )
    body = body_of(message)

    assert limit_problems(message) == []
    assert 0 < len(body) <= MARKDOWN_TOTAL
    assert block_text_total(message) <= BLOCK_TEXT_TOTAL
    assert 0 < len(message.text) <= FALLBACK_TEXT
    assert mentions(message) == []
    assert scan_mrkdwn(body, bare_broadcasts=True) == []
    assert EVIL_HOST not in body
    assert EVIL_HOST not in message.text


@settings(max_examples=100, deadline=None)
@given(markdown=ANY_MARKDOWN)
def test_any_answer_sanitize_idempotent(markdown: str) -> None:
    once = sanitize_answer_markdown(markdown, allowed_urls=[ALLOWED])

    assert sanitize_answer_markdown(once, allowed_urls=[ALLOWED]) == once
