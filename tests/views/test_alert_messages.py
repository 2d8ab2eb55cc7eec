"""Living alert messages, replies, burst summaries and their list: limits, escaping and wording."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from storage.events_schema import event_adapter
from tests.conftest import load_example
from tests.slack_emulator import check_view
from tests.views.blockkit import limit_violations, mrkdwn_texts, unsafe_markup
from views.alert_messages import (
    LIST_PAGE_SIZE,
    BurstSummary,
    GatheredItem,
    LivingStatus,
    build_burst_list_modal,
    build_burst_summary,
    build_living_message,
    build_note_gone_message,
    build_repeat_reply,
    build_resolution_reply,
    burst_span,
    format_duration,
)
from views.messages import SlackMessage, build_event_message

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
HOSTILE = "<!channel> <@U123> " + "x" * 5_000


def outlier_message(observed: float = 84.2) -> SlackMessage:
    body = load_example("outlier_detected.json")
    event = event_adapter.validate_python({**body, "data": {**body["data"], "observed": observed}})
    return build_event_message(event, web_url=None, client_workspace=False)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(45, "45 s"), (720, "12 min"), (7_500, "2 h 5 min"), (7_200, "2 h"), (3 * 86_400 + 4 * 3_600, "3 d 4 h")],
)
def test_format_duration(seconds: int, expected: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == expected


def test_open_status_line_under_header() -> None:
    status = LivingStatus(resolved=False, occurrences=3, first_seen=AT, last_seen=AT + timedelta(minutes=5))
    message = build_living_message(outlier_message(), status)
    assert message.blocks[0]["type"] == "header"
    assert message.blocks[1]["type"] == "context"
    assert "seen 3 occurrences" in message.blocks[1]["elements"][0]["text"]
    assert limit_violations(message) == []


def test_resolved_marks_header_and_text() -> None:
    status = LivingStatus(
        resolved=True, occurrences=4, first_seen=AT, last_seen=AT, resolved_at=AT + timedelta(hours=1, minutes=5)
    )
    base = outlier_message()
    message = build_living_message(base, status)
    assert message.text.startswith("Resolved: ")
    assert message.blocks[0]["text"]["text"].startswith(":white_check_mark: Resolved: ")
    assert "after 1 h 5 min" in json.dumps(message.blocks)
    assert len(message.blocks) == len(base.blocks) + 1
    assert limit_violations(message) == []


def test_replies_escape_labels() -> None:
    reply = build_repeat_reply(count=3, occurrences=7, last_seen=AT, label=HOSTILE)
    assert "3 more times" in reply.text
    assert limit_violations(reply) == []
    for text in mrkdwn_texts(reply):
        assert unsafe_markup(text) == []
    resolution = build_resolution_reply(resolved_at=AT + timedelta(minutes=3), first_seen=AT, occurrences=1)
    assert "after 3 min and 1 occurrence." in resolution.text


def test_note_gone_shows_no_content() -> None:
    message = build_note_gone_message(deleted=True, at=AT)
    assert "deleted" in json.dumps(message.blocks)
    assert message.text == "A note that is no longer shown"
    assert "private" in json.dumps(build_note_gone_message(deleted=False, at=AT).blocks)


def summary(count: int, top: int = 5) -> BurstSummary:
    items = [GatheredItem(label=HOSTILE, severity=3, resolved=index == 0, first_seen=AT) for index in range(top)]
    return BurstSummary(
        summary_id="rule_1|summary|cl-alpha|1",
        notification_type="task_failures",
        client="Acme <!here>",
        count=count,
        resolved=1,
        first_at=AT,
        last_at=AT + timedelta(seconds=40),
        top=items,
    )


def test_burst_summary_counts_rest() -> None:
    message = build_burst_summary(summary(12))
    assert message.text == "12 task failures for Acme &lt;!here&gt;, at 09:00 UTC"
    text = json.dumps(message.blocks)
    assert "and 7 more" in text
    assert "Show all 12" in text
    assert "1 of 12 resolved" in text
    assert limit_violations(message) == []
    for mrkdwn in mrkdwn_texts(message):
        assert unsafe_markup(mrkdwn) == []


def test_burst_list_pages_fit_a_modal() -> None:
    items = [GatheredItem(label=HOSTILE, severity=1, resolved=False, first_seen=AT)] * LIST_PAGE_SIZE
    view = build_burst_list_modal(summary_id="s" * 200, title="200 task failures", items=items, page=1, total=200)
    assert check_view(view) == []
    buttons = next(block for block in view["blocks"] if block["type"] == "actions")["elements"]
    assert [button["value"].split("|")[0] for button in buttons] == ["0", "2"]
    last = build_burst_list_modal(summary_id="s", title="t", items=items[:5], page=4, total=165)
    assert [button["text"]["text"] for button in last["blocks"][-1]["elements"]] == ["Previous"]


def test_burst_list_empty_state() -> None:
    view = build_burst_list_modal(summary_id="s", title="t", items=[], page=0, total=0)
    assert "expired" in json.dumps(view["blocks"])


def test_burst_summary_counts_posted_first_and_names_its_span() -> None:
    burst = replace(summary(199), posted_first=1, last_at=AT + timedelta(minutes=2), repeats=3)

    message = build_burst_summary(burst)
    text = json.dumps(message.blocks)

    assert message.blocks[0]["text"]["text"] == ":rotating_light: 200 task failures for Acme <!here>, 09:00–09:02 UTC"
    assert "The first was posted above." in text
    assert "Show all 200" in text
    assert "*Latest:*" in text
    assert "Most severe" not in text
    assert "3 repeats of these alerts since." in text
    assert limit_violations(message) == []


def test_burst_summary_of_outliers_ranks_by_severity() -> None:
    burst = replace(summary(3, top=3), notification_type="outlier_alerts", posted_first=2)

    text = json.dumps(build_burst_summary(burst).blocks)

    assert "*Most severe:*" in text
    assert "The first 2 were posted above." in text


def test_burst_span_over_midnight_names_days() -> None:
    late = datetime(2026, 12, 4, 23, 49, tzinfo=UTC)

    assert burst_span(late, late + timedelta(seconds=30)) == "at 23:49 UTC"
    assert burst_span(late, late + timedelta(minutes=2)) == "23:49–23:51 UTC"
    assert burst_span(late, late + timedelta(minutes=20)) == "04 Dec 23:49–05 Dec 00:09 UTC"


def test_gathered_item_shows_repeats_and_latest_time() -> None:
    item = GatheredItem(
        label="Import 3 (failed, 1 attempt)",
        severity=2,
        resolved=False,
        first_seen=AT,
        occurrences=4,
        last_seen=AT + timedelta(minutes=5),
    )

    text = json.dumps(build_burst_summary(replace(summary(1, top=0), top=[item])).blocks)

    assert f"seen 4 times, latest <!date^{int((AT + timedelta(minutes=5)).timestamp())}^" in text
