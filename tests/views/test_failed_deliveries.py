"""The Home tab's undelivered messages: rows, Retry buttons, the read-only and empty states, Slack's limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from storage.models import Delivery, DeliveryState
from tests.views.test_home import HOSTILE, limit_problems, make_model, many_rules
from views.delivery_subject import EXPIRED, delivery_subject, state_label
from views.failed_deliveries import (
    MAX_ROWS,
    RETRY_ACTION,
    RETRY_ALL_ACTION,
    failed_delivery_blocks,
    retry_refusal_modal,
)
from views.home import build_home_view

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def make_delivery(index: int, **changes: object) -> Delivery:
    fields: dict[str, object] = {
        "id": f"rule{index:04d}:evt-{index:04d}-" + "x" * 100,
        "event_id": f"evt-{index:04d}",
        "rule_id": f"rule{index:04d}",
        "team_id": "T0001",
        "channel": f"C{index:04d}",
        "state": DeliveryState.DEAD if index % 2 else DeliveryState.FAILED,
        "attempts": 8,
        "next_attempt_at": NOW,
        "lease_owner": None,
        "lease_until": None,
        "ts": None,
        "last_error": HOSTILE * 50,
        "created_at": NOW - timedelta(hours=2),
        "updated_at": NOW - timedelta(minutes=index),
    }
    fields.update(changes)
    return Delivery(**fields)  # type: ignore[arg-type]


def action_ids(blocks: list[dict[str, object]]) -> list[str]:
    text = json.dumps(blocks)
    return [action for action in (RETRY_ACTION, RETRY_ALL_ACTION) if f'"{action}"' in text]


def test_empty_state_has_no_buttons() -> None:
    blocks = failed_delivery_blocks([], total=0, can_manage=True)
    text = json.dumps(blocks)
    assert "Every message was posted or is still queued" in text
    assert action_ids(blocks) == []


def test_manager_gets_retry_buttons() -> None:
    blocks = failed_delivery_blocks([make_delivery(1), make_delivery(2)], total=2, can_manage=True)
    retry_buttons = [block for block in blocks if block.get("accessory", {}).get("action_id") == RETRY_ACTION]
    assert len(retry_buttons) == 2
    assert retry_buttons[0]["accessory"]["value"] == make_delivery(1).id
    assert action_ids(blocks) == [RETRY_ACTION, RETRY_ALL_ACTION]


def test_member_sees_rows_without_buttons() -> None:
    blocks = failed_delivery_blocks([make_delivery(1)], total=1, can_manage=False)
    text = json.dumps(blocks)
    assert "<#C0001>" in text
    assert "Gave up after 8 attempts" not in text  # make_delivery(1)'s reason does not say it gave up
    assert "Not sent" in text
    assert action_ids(blocks) == []
    assert "Only people who can change notifications" in text


def test_reason_is_escaped_and_cut() -> None:
    [_, _, row, *_] = failed_delivery_blocks([make_delivery(1)], total=1, can_manage=True)
    text = row["text"]["text"]
    assert "<!channel>" not in text
    assert len(text) < 700


def test_more_than_shown_says_how_many() -> None:
    deliveries = [make_delivery(index) for index in range(MAX_ROWS)]
    blocks = failed_delivery_blocks(deliveries, total=250, can_manage=True)
    assert f"Showing the latest {MAX_ROWS} of 250" in json.dumps(blocks)


def test_full_home_stays_within_limits() -> None:
    rules, channels, clients = many_rules(60)
    failed = failed_delivery_blocks([make_delivery(index) for index in range(MAX_ROWS)], total=99, can_manage=True)
    # The snooze list is at most 12 blocks (views.snooze.snooze_home_blocks): count it at its largest.
    snoozes = tuple({"type": "context", "elements": [{"type": "mrkdwn", "text": "snooze"}]} for _ in range(12))
    model = make_model(
        rules=rules, channels=channels, client_names=clients, failed_blocks=tuple(failed), snooze_blocks=snoozes
    )
    view = build_home_view(model)
    assert len(view["blocks"]) <= 100
    assert limit_problems(view) == []
    assert RETRY_ALL_ACTION in json.dumps(view)


def test_connection_section_has_no_failures() -> None:
    failed = failed_delivery_blocks([make_delivery(1)], total=1, can_manage=True)
    view = build_home_view(make_model(section="connection", failed_blocks=tuple(failed)))
    assert RETRY_ACTION not in json.dumps(view)


def test_row_names_the_alert_and_its_event() -> None:
    delivery = make_delivery(1, last_error="Slack rejected the message (invalid_blocks)", attempts=1)
    body = {"type": "system.error", "client_id": None, "data": {"service": "reporting-api", "exception_type": "E"}}
    blocks = failed_delivery_blocks(
        [delivery], total=1, can_manage=True, subjects={delivery.event_id: delivery_subject(body)}
    )
    [_, _, row, event, _] = blocks
    assert row["text"]["text"].startswith("*system.error · reporting-api E*\n")
    assert "Rejected by Slack" in row["text"]["text"]
    assert event["type"] == "context"
    assert event["elements"][0]["text"] == "Event `evt-0001`"


def test_row_without_stored_event_says_so() -> None:
    [_, _, row, *_] = failed_delivery_blocks([make_delivery(1)], total=1, can_manage=True, subjects={})
    assert row["text"]["text"].startswith(f"*{EXPIRED}*")


def test_hostile_subject_is_escaped_and_short() -> None:
    body = {"type": "note.created", "client_id": HOSTILE, "data": {"title": HOSTILE * 40, "private": False}}
    subject = delivery_subject(body)
    assert len(subject) <= 150
    blocks = failed_delivery_blocks([make_delivery(1)], total=1, can_manage=True, subjects={"evt-0001": subject})
    text = blocks[2]["text"]["text"]
    assert "<!channel>" not in text
    assert "<@U999>" not in text
    assert limit_problems({"type": "home", "blocks": blocks}) == []


def test_subject_drops_control_characters() -> None:
    body = {"type": "system.error", "data": {"service": "api\x1b[31m\nred", "exception_type": "E\x07"}}
    assert delivery_subject(body) == "system.error · api [31m red E"


@pytest.mark.parametrize(
    ("body", "subject"),
    [
        (
            {"type": "outlier.detected", "client_id": "cl-alpha", "data": {"metric": "cpc", "channel": "Google Ads"}},
            "outlier.detected · cpc (Google Ads) for cl-alpha",
        ),
        (
            {"type": "task.failed", "client_id": "cl-alpha", "data": {"task_name": "Nightly GA4 import"}},
            "task.failed · Nightly GA4 import for cl-alpha",
        ),
        (
            {"type": "note.updated", "client_id": "cl-alpha", "data": {"title": "Budget plan", "private": True}},
            "note.updated · a private note for cl-alpha",
        ),
        (None, EXPIRED),
    ],
)
def test_subject_per_event_type(body: dict[str, object] | None, subject: str) -> None:
    assert delivery_subject(body) == subject


@pytest.mark.parametrize(
    ("state", "attempts", "reason", "label"),
    [
        (DeliveryState.DEAD, 1, "Slack rejected the message (invalid_blocks)", "Rejected by Slack"),
        (DeliveryState.DEAD, 8, "Slack answered HTTP 500; gave up after 8 attempts", "Gave up after 8 attempts"),
        (DeliveryState.DEAD, 1, "The stored event no longer matches the schema.", "Not sent"),
        (DeliveryState.FAILED, 1, "The rule was deleted before the message was sent.", "Not sent"),
    ],
)
def test_state_label_says_what_happened(state: DeliveryState, attempts: int, reason: str, label: str) -> None:
    assert state_label(make_delivery(1, state=state, attempts=attempts, last_error=reason)) == label


def test_retry_refusal_mentions_retrying() -> None:
    modal = retry_refusal_modal("workspace admins and owners, <@U0ADMIN>")
    text = modal["blocks"][0]["text"]["text"]
    assert "can retry undelivered messages" in text
    assert "<@U0ADMIN>" in text
