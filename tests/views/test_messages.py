from __future__ import annotations

import json
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from tests.views.blockkit import all_texts, limit_violations, mrkdwn_objects, mrkdwn_texts, unsafe_markup
from tests.views.factories import OCCURRED_UNIX, make_event
from views.messages import (
    ASK_HOUSTON_ACTION_ID,
    DEVIATION_UNDEFINED,
    SlackMessage,
    build_event_message,
)
from views.text import ELLIPSIS

WEB_URL = "https://mc.test"
ROUTED_TYPES = ["system.error", "outlier.detected", "task.failed", "note.created", "note.updated"]
INJECTIONS = ["<!channel>", "<!here>", "<@U123>", "<#C1>", "<http://x|y>", "<!subteam^S1>"]
HOSTILE = "a & b " + " ".join(INJECTIONS) + " &amp; ``` *bold* שלום مرحبا 😀"

# For each routed type, every platform-supplied text field, so that each can be filled with hostile text.
TEXT_FIELDS: dict[str, list[str]] = {
    "system.error": ["service", "exception_type", "message", "traceback", "request_id"],
    "outlier.detected": ["outlier_id", "definition", "metric", "channel"],
    "task.failed": ["task_id", "task_name", "error"],
    "note.created": ["note_id", "title", "body", "author", "status"],
    "note.updated": ["note_id", "title", "body", "author", "status"],
}


def build(event: Any, *, web_url: str | None = WEB_URL, client_workspace: bool = False) -> SlackMessage:
    return build_event_message(event, web_url=web_url, client_workspace=client_workspace)


def blocks_json(message: SlackMessage) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def blocks_of_type(message: SlackMessage, block_type: str) -> list[dict[str, Any]]:
    return [block for block in message.blocks if block["type"] == block_type]


def header_text(message: SlackMessage) -> str:
    return str(blocks_of_type(message, "header")[0]["text"]["text"])


def links(message: SlackMessage) -> list[str]:
    return [text for text in mrkdwn_texts(message) if "<http" in text]


# --- Every routed type ------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_default_event_within_limits(event_type: str) -> None:
    message = build(make_event(event_type))

    assert limit_violations(message) == []


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_every_mrkdwn_is_verbatim(event_type: str) -> None:
    message = build(make_event(event_type))

    for text_object in mrkdwn_objects(message):
        assert text_object["verbatim"] is True, text_object


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_shows_slack_date(event_type: str) -> None:
    message = build(make_event(event_type))

    assert f"<!date^{OCCURRED_UNIX}^" in blocks_json(message)


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_hostile_text_escaped(event_type: str) -> None:
    data: dict[str, Any] = {name: HOSTILE for name in TEXT_FIELDS[event_type]}
    message = build(make_event(event_type, **data), web_url=None)

    assert limit_violations(message) == []
    assert "&lt;!channel&gt;" in blocks_json(message)
    for text in mrkdwn_texts(message):
        assert unsafe_markup(text) == [], text
        for injection in INJECTIONS:
            assert injection not in text


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_hostile_client_id_escaped(event_type: str) -> None:
    event = make_event(event_type, envelope={"client_id": "<!channel> & co"})

    message = build(event, web_url=None)

    assert "&lt;!channel&gt; &amp; co" in blocks_json(message)
    for text in mrkdwn_texts(message):
        assert unsafe_markup(text) == [], text


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_literal_entity_escaped_again(event_type: str) -> None:
    data: dict[str, Any] = {TEXT_FIELDS[event_type][-1]: "fish &amp; chips"}
    message = build(make_event(event_type, **data))

    assert "fish &amp;amp; chips" in blocks_json(message)


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_without_web_url_has_no_link(event_type: str) -> None:
    message = build(make_event(event_type), web_url=None)

    assert links(message) == []
    assert "http" not in blocks_json(message)


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_event_url_wins_over_web_url(event_type: str) -> None:
    event = make_event(event_type, url="https://platform.test/page?a=1&b=2")

    message = build(event)

    assert "<https://platform.test/page?a=1&amp;b=2|Open in Mission Control>" in blocks_json(message)
    assert WEB_URL not in blocks_json(message)


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_huge_fields_within_limits(event_type: str) -> None:
    size = 100_000
    data: dict[str, Any] = {}
    for name in TEXT_FIELDS[event_type]:
        data[name] = "&" * 500
    long_field = {"system.error": "message", "task.failed": "error"}.get(event_type, "body")
    if long_field in TEXT_FIELDS[event_type]:
        data[long_field] = "<" * size
    if event_type == "system.error":
        data["traceback"] = ">" * size
    if event_type.startswith("note."):
        data["title"] = "&" * 1000
    if event_type == "note.updated":
        data["changed_fields"] = ["&" * 500] * 100

    url = "https://x.test/" + "&" * 1900
    message = build(make_event(event_type, envelope={"client_id": "&" * 500}, url=url, **data))

    assert limit_violations(message) == []
    for text in mrkdwn_texts(message):
        assert unsafe_markup(text) == [], text[:80]


def test_build_event_message_rejects_unrouted_type() -> None:
    event = make_event("outlier.resolved")

    with pytest.raises(ValueError, match=r"outlier\.resolved"):
        build(event)


def test_build_event_message_rejects_non_event() -> None:
    with pytest.raises(ValueError, match="dict"):
        build({"type": "system.error"})


# --- System errors ----------------------------------------------------------------------------------


def test_system_error_agency_shows_everything() -> None:
    message = build(make_event("system.error"))
    text = blocks_json(message)

    assert header_text(message) == ":rotating_light: System error in billing-api"
    assert "`ValueError`" in text
    assert "invoice total must not be negative" in text
    assert "ValueError: negative" in text
    assert "req-7f3a" in text
    assert "<https://mc.test/system/errors|Open in Mission Control>" in text


def test_system_error_client_workspace_hides_internals() -> None:
    message = build(make_event("system.error"), client_workspace=True)
    text = blocks_json(message) + message.text

    assert "invoice total must not be negative" in text
    assert "Traceback" not in text
    assert "ValueError: negative" not in text
    assert "req-7f3a" not in text
    assert "Request ID" not in text
    assert links(message) == []


def test_system_error_traceback_keeps_end() -> None:
    traceback = "Traceback (most recent call last):\n" + "  frame\n" * 2000 + "KeyError: 'spend'"

    message = build(make_event("system.error", traceback=traceback))
    section = next(text for text in mrkdwn_texts(message) if text.startswith("*Traceback*"))

    assert section.endswith("KeyError: 'spend'\n```")
    assert ELLIPSIS in section
    assert len(section) <= 3000


def test_system_error_message_keeps_start() -> None:
    message = build(make_event("system.error", message="START " + "x" * 5000 + " END"))
    section = next(text for text in mrkdwn_texts(message) if text.startswith("*Message*"))

    assert "START" in section
    assert "END" not in section
    assert ELLIPSIS in section


def test_system_error_without_traceback_or_request_id() -> None:
    message = build(make_event("system.error", traceback=None, request_id=None))
    text = blocks_json(message)

    assert "Traceback" not in text
    assert "Request ID" not in text
    assert limit_violations(message) == []


def test_system_error_platform_wide_client() -> None:
    message = build(make_event("system.error", envelope={"client_id": None}))

    assert "Platform-wide" in blocks_json(message)


def test_system_error_code_fence_in_message_neutralised() -> None:
    message = build(make_event("system.error", message="before ``` after"))
    section = next(text for text in mrkdwn_texts(message) if text.startswith("*Message*"))

    assert section.count("```") == 2


def test_system_error_fallback_text() -> None:
    message = build(make_event("system.error", message="boom <!here>"))

    assert message.text == "System error in billing-api: ValueError: boom &lt;!here&gt;"


# --- Outlier alerts ---------------------------------------------------------------------------------


def test_outlier_ask_houston_button() -> None:
    event = make_event("outlier.detected", envelope={"id": "evt-" + "9" * 124})

    message = build(event)
    (actions,) = blocks_of_type(message, "actions")
    button, snooze = actions["elements"]

    assert snooze["action_id"] == "snooze_open"
    assert snooze["value"] == "evt-" + "9" * 124
    assert button["type"] == "button"
    assert button["action_id"] == ASK_HOUSTON_ACTION_ID == "houston_ask_outlier"
    assert button["value"] == "evt-" + "9" * 124
    assert button["text"]["text"] == "Ask Houston"


def test_outlier_shows_values_and_deviation() -> None:
    message = build(make_event("outlier.detected", observed=42.5, expected=25))
    text = blocks_json(message)

    assert "*42.50*" in text
    assert "*25*" in text
    assert "+70.0%" in text
    assert ":arrow_up:" in text
    assert "CPA spike" in text
    assert "Google Ads" in text
    assert "cl-alpha" in text
    assert "<https://mc.test/clients/cl-alpha/outliers/out-42|Open in Mission Control>" in text


def test_outlier_negative_deviation() -> None:
    message = build(make_event("outlier.detected", observed=5, expected=20))

    assert "-75.0%" in blocks_json(message)
    assert ":arrow_down:" in blocks_json(message)


@pytest.mark.parametrize(
    ("observed", "expected_text"),
    [
        pytest.param(10, DEVIATION_UNDEFINED, id="nonzero-observed"),
        pytest.param(0, "+0.0%", id="zero-observed"),
    ],
)
def test_outlier_expected_zero(observed: int, expected_text: str) -> None:
    message = build(make_event("outlier.detected", observed=observed, expected=0))

    assert expected_text in blocks_json(message)
    assert expected_text in message.text


@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        pytest.param(10**400, 1, id="huge-int"),
        pytest.param(1e308, -1e-308, id="float-overflow"),
        pytest.param(float("inf"), 1.0, id="infinity"),
        pytest.param(float("nan"), 1.0, id="nan"),
        pytest.param(0.000123, 0.0001, id="tiny"),
    ],
)
def test_outlier_extreme_numbers_within_limits(observed: float, expected: float) -> None:
    message = build(make_event("outlier.detected", observed=observed, expected=expected))

    assert limit_violations(message) == []


def test_outlier_severities_look_different() -> None:
    headers = {
        severity: header_text(build(make_event("outlier.detected", severity=severity)))
        for severity in ("low", "medium", "high", "critical")
    }

    assert len({header.split()[0] for header in headers.values()}) == 4
    assert headers["critical"].startswith(":red_circle: Critical outlier: cpa on Google Ads")
    assert headers["low"].startswith(":large_blue_circle: Low")


def test_outlier_link_segments_quoted() -> None:
    event = make_event("outlier.detected", outlier_id="a/b c?d", envelope={"client_id": "cl/1"})

    message = build(event, web_url="https://mc.test/app/")

    assert "<https://mc.test/app/clients/cl%2F1/outliers/a%2Fb%20c%3Fd|" in blocks_json(message)


def test_outlier_unsafe_web_url_gives_no_link() -> None:
    message = build(make_event("outlier.detected"), web_url="javascript:alert(1)")

    assert links(message) == []
    assert "javascript" not in blocks_json(message)


# --- Task failures ----------------------------------------------------------------------------------


def test_task_failed_message() -> None:
    message = build(make_event("task.failed", state="failed"))
    text = blocks_json(message)

    assert header_text(message) == ":warning: Task failed: Import Google Ads spend"
    assert "after 3 attempts" in text
    assert "may retry" in text
    assert "TimeoutError: upstream did not answer" in text
    assert "<https://mc.test/clients/cl-alpha/tasks/task-9|Open in Mission Control>" in text


def test_task_dead_letter_differs_from_failed() -> None:
    failed = build(make_event("task.failed", state="failed"))
    dead = build(make_event("task.failed", state="dead_letter"))

    assert header_text(dead) == ":skull_and_crossbones: Task dead-lettered: Import Google Ads spend"
    assert header_text(dead).split()[0] != header_text(failed).split()[0]
    assert "will not be retried automatically" in blocks_json(dead)
    assert "will not be retried automatically" not in blocks_json(failed)
    assert dead.text != failed.text


def test_task_single_attempt_singular() -> None:
    message = build(make_event("task.failed", attempts=1))

    assert "after 1 attempt." in blocks_json(message)


def test_task_error_truncated_in_code_block() -> None:
    message = build(make_event("task.failed", error="E" * 10_000))
    section = next(text for text in mrkdwn_texts(message) if text.startswith("*Error*"))

    assert section.endswith(ELLIPSIS + "\n```")
    assert len(section) <= 3000


# --- Notes ------------------------------------------------------------------------------------------


def test_note_created_message() -> None:
    message = build(make_event("note.created"))
    text = blocks_json(message)

    assert header_text(message) == ":memo: New note: Q2 budget plan"
    assert "Dana Levi" in text
    assert "open" in text
    assert "Shift 10% of spend" in text
    assert "Changed" not in text
    assert "<https://mc.test/clients/cl-alpha/notes/note-1|Open in Mission Control>" in text
    assert message.text == "New note by Dana Levi: Q2 budget plan"


def test_note_updated_shows_changed_fields() -> None:
    message = build(make_event("note.updated", changed_fields=["title", "body"]))

    assert header_text(message) == ":pencil2: Note updated: Q2 budget plan"
    assert "*Changed*\\ntitle, body" in blocks_json(message)


def test_note_updated_without_changed_fields() -> None:
    message = build(make_event("note.updated", changed_fields=None))

    assert "Changed" not in blocks_json(message)


def test_note_private_rejected() -> None:
    with pytest.raises(ValueError, match="private"):
        build(make_event("note.created", private=True))


def test_note_untitled_and_empty_body() -> None:
    message = build(make_event("note.created", title="  ", body=""))

    assert header_text(message) == ":memo: New note: Untitled note"
    assert limit_violations(message) == []


def test_note_huge_body_within_limits() -> None:
    body = "".join(
        f"{index} & <b> > <!channel> <@U123> <#C1> <http://x|y> 😀👨‍👩‍👧 שלום עולם مرحبا بالعالم &amp;\n"
        for index in range(200)
    )[:10_000]
    assert len(body) == 10_000

    message = build(make_event("note.created", body=body, title="📈 " + "<!here> " * 120))
    body_section = blocks_of_type(message, "section")[1]["text"]["text"]

    assert limit_violations(message) == []
    assert body_section.endswith(ELLIPSIS)
    assert len(body_section) <= 3000
    assert len(header_text(message)) <= 150
    for text in mrkdwn_texts(message):
        assert unsafe_markup(text) == [], text[:80]
        assert "<!channel>" not in text
        assert "<@U123>" not in text


def test_note_body_keeps_right_to_left_text() -> None:
    message = build(make_event("note.created", body="שלום עולם and مرحبا بالعالم"))

    assert "שלום עולם and مرحبا بالعالم" in list(all_texts(message))


# --- Cross-check with slack_sdk's own Block Kit models ----------------------------------------------


@pytest.mark.parametrize("event_type", ROUTED_TYPES)
def test_message_blocks_pass_slack_sdk_validation(event_type: str) -> None:
    data: dict[str, Any] = {
        name: "<&>" * 1000
        for name in TEXT_FIELDS[event_type]
        if name.endswith(("body", "message", "traceback", "error"))
    }
    message = build(make_event(event_type, **data))

    for block in message.blocks:
        parsed = Block.parse(block)

        assert parsed is not None
        assert parsed.to_dict() == block


@pytest.mark.parametrize("event_type", ["system.error", "task.failed", "outlier.detected"])
def test_alert_has_snooze_button(event_type: str) -> None:
    message = build(make_event(event_type, envelope={"id": "evt-snooze"}))

    buttons = [element for block in blocks_of_type(message, "actions") for element in block["elements"]]
    snoozes = [element for element in buttons if element["action_id"] == "snooze_open"]

    assert len(snoozes) == 1
    assert snoozes[0]["value"] == "evt-snooze"
    assert snoozes[0]["text"]["text"] == "Snooze"


@pytest.mark.parametrize("event_type", ["note.created", "note.updated"])
def test_note_has_no_snooze_button(event_type: str) -> None:
    message = build(make_event(event_type))

    assert "snooze_open" not in blocks_json(message)
