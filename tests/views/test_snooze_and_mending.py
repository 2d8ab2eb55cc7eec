"""Views of snoozes and of failing rules: limits, escaping, and the wording of each case."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.delivery_policy import classify_slack_error
from storage.snoozes import HeldEvent, Snooze, SnoozeScope, SnoozeState, SnoozeSubject
from tests.slack_emulator import check_view
from tests.views.test_home import HOSTILE, make_rule, unsafe_markup
from views.mending import build_failing_rule_dm, build_join_offer, join_failed_text, joined_text
from views.snooze import (
    SnoozeModalModel,
    build_snooze_ended_message,
    build_snooze_modal,
    snooze_home_blocks,
    subject_text,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SUBJECT = SnoozeSubject("outlier", "ag-acme", "cl-alpha", "cpa")


def make_snooze(**changes: Any) -> Snooze:
    snooze = Snooze(
        id="snz_000000000001",
        team_id="T0001",
        scope=SnoozeScope.SUBJECT,
        channel="C0ALERTS",
        rule_id="rule_0000000001",
        subject=SUBJECT,
        created_by="U0MEMBER",
        created_at=NOW,
        until=NOW + timedelta(hours=1),
        resolves=None,
        duration_label="1 hour",
        source_channel="C0ALERTS",
        source_ts="1.000001",
        held_count=0,
        worst=None,
        state=SnoozeState.ENDING,
        end_reason="expired",
    )
    return replace(snooze, **changes)


def modal_model(**changes: Any) -> SnoozeModalModel:
    model = SnoozeModalModel(
        subject=SUBJECT,
        subject_text=subject_text(SUBJECT, HOSTILE),
        can_manage=True,
        admins_hint="workspace admins and owners",
        timezone="Europe/Berlin",
        resolvable=True,
        metadata={"event_id": "e" * 128, "channel": "C0ALERTS", "ts": "1.000001", "rule_id": None, "tz": "UTC"},
    )
    return replace(model, **changes)


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


# --- Snooze modal ---------------------------------------------------------------------------------


@pytest.mark.parametrize("can_manage", [True, False], ids=["manager", "member"])
def test_snooze_modal_within_limits(can_manage: bool) -> None:
    view = build_snooze_modal(modal_model(can_manage=can_manage))

    assert check_view(view) == []
    assert unsafe_markup(view["blocks"]) == []


def test_snooze_modal_without_resolution() -> None:
    error = SnoozeSubject("error", "ag-acme", None, "billing-api")
    view = build_snooze_modal(modal_model(subject=error, resolvable=False, subject_text=subject_text(error, None)))

    assert "resolved" not in text_of(view["blocks"])
    assert "the whole platform" in text_of(view["blocks"])


def test_task_subject_offers_recovery() -> None:
    task = SnoozeSubject("task", "ag-acme", "cl-alpha", "task-1")
    view = build_snooze_modal(modal_model(subject=task))

    assert "Until the task recovers" in text_of(view["blocks"])


# --- End reply ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "expected", "fallback"),
    [
        (0, "No alerts were held back.", "Snooze over: no alerts held back."),
        (1, "*1 alert* was held back", "Snooze over: 1 alert held back."),
        (1_234, "*1,234 alerts* were held back", "Snooze over: 1,234 alerts held back."),
    ],
    ids=["none", "one", "many"],
)
def test_ended_message_counts(held: int, expected: str, fallback: str) -> None:
    snooze = make_snooze(held_count=held, worst=HeldEvent("evt-1", 4) if held else None)

    text, blocks = build_snooze_ended_message(snooze, subject_description="metric *cpa*", worst_text="Critical!")

    assert expected in text_of(blocks)
    assert text == fallback
    assert "<@U0MEMBER>" in text_of(blocks)


def test_ended_early_names_who() -> None:
    snooze = make_snooze(end_reason="unsnoozed", ended_by="U0ADMIN")

    _, blocks = build_snooze_ended_message(snooze, subject_description=None, worst_text=None)

    assert "<@U0ADMIN> ended it early." in text_of(blocks)


def test_ended_by_resolution_says_so() -> None:
    snooze = make_snooze(end_reason="resolved", until=None, duration_label="until it resolved")

    _, blocks = build_snooze_ended_message(snooze, subject_description=None, worst_text=None)

    assert "The alert resolved" in text_of(blocks)


def test_ended_without_stored_worst() -> None:
    snooze = make_snooze(held_count=3, worst=HeldEvent("evt-gone", 1))

    _, blocks = build_snooze_ended_message(snooze, subject_description=None, worst_text=None)

    assert "details have expired" in text_of(blocks)


@pytest.mark.parametrize("scope", list(SnoozeScope))
def test_ended_message_escapes(scope: SnoozeScope) -> None:
    snooze = make_snooze(scope=scope, duration_label=HOSTILE, held_count=2, worst=HeldEvent("evt", 1))
    description = subject_text(SnoozeSubject("outlier", "ag", "cl", HOSTILE), HOSTILE)

    _, blocks = build_snooze_ended_message(snooze, subject_description=description, worst_text="safe")

    assert unsafe_markup(blocks) == []


# --- App Home list --------------------------------------------------------------------------------


def test_home_list_capped_with_more_line() -> None:
    snoozes = [make_snooze(id=f"snz_{number:012d}", held_count=number) for number in range(50)]

    blocks = snooze_home_blocks(snoozes, subject_descriptions={})

    assert len(blocks) == 12
    assert "40 more snoozes" in text_of(blocks[-1:])
    assert check_view({"type": "home", "blocks": blocks}) == []


def test_home_list_one_more_snooze_is_singular() -> None:
    snoozes = [make_snooze(id=f"snz_{number:012d}") for number in range(11)]

    blocks = snooze_home_blocks(snoozes, subject_descriptions={})

    assert "1 more snooze is not shown." in text_of(blocks[-1:])


@pytest.mark.parametrize("scope", [SnoozeScope.CHANNEL, SnoozeScope.RULE])
def test_home_row_names_the_channel_once(scope: SnoozeScope) -> None:
    blocks = snooze_home_blocks([make_snooze(scope=scope)], subject_descriptions={})

    assert text_of(blocks[1:2]).count("<#") == 1


def test_home_row_of_one_alert_names_its_channel() -> None:
    blocks = snooze_home_blocks([make_snooze(scope=SnoozeScope.SUBJECT)], subject_descriptions={})

    assert " in <#" in text_of(blocks[1:2])


def test_home_list_until_resolved() -> None:
    blocks = snooze_home_blocks([make_snooze(until=None)], subject_descriptions={})

    assert "until the alert resolves" in text_of(blocks)
    assert blocks[1]["accessory"]["action_id"] == "snooze_end"


# --- Failing rule message and join offer ----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "private", "join"),
    [
        ("not_in_channel", False, True),
        ("not_in_channel", True, False),
        ("is_archived", False, False),
        ("channel_not_found", False, False),
    ],
    ids=["public-left", "private-left", "archived", "not-found"],
)
def test_failing_dm_buttons(code: str, private: bool, join: bool) -> None:
    rule = make_rule(failure_reason=HOSTILE)

    text, blocks = build_failing_rule_dm(rule, code=code, is_private=private)
    actions = [element["action_id"] for element in blocks[-1]["elements"]]

    assert ("mend_join" in actions) is join
    assert "mend_pick" in actions
    assert unsafe_markup(blocks) == []
    assert "<!channel>" not in text


def test_failing_dm_gives_the_advice_once() -> None:
    verdict = classify_slack_error(status=200, error="is_archived", retry_after=None, channel="C0OPS")
    rule = make_rule(failure_reason=verdict.reason)

    _, blocks = build_failing_rule_dm(rule, code="is_archived", is_private=False)
    shown = text_of(blocks)

    assert "<#C0OPS> is archived" in shown
    assert "Channel C0OPS" not in shown
    assert shown.lower().count("unarchive") == 1


def test_failing_dm_without_reason_still_says_what_to_do() -> None:
    _, blocks = build_failing_rule_dm(make_rule(failure_reason=None), code="is_archived", is_private=False)

    assert "Unarchive the channel" in text_of(blocks)


@pytest.mark.parametrize(
    ("held", "expected"),
    [(0, "No alerts were held back."), (1, "The 1 held alert is being sent now."), (3, "The 3 held alerts are")],
)
def test_joined_text_counts_held_alerts(held: int, expected: str) -> None:
    assert expected in joined_text("C0OPS", held)


def test_join_failed_hint_for_archived() -> None:
    assert "unarchive" in join_failed_text("C0OPS", "is_archived")
    assert "/invite" in join_failed_text("C0OPS", "channel_not_found")


def test_join_offer_within_limits() -> None:
    view = build_join_offer("C0NEW", {"rule_id": None, "channel_id": "C0NEW", "type": "system_errors"})

    assert check_view(view) == []
    assert json.loads(view["private_metadata"])["channel_id"] == "C0NEW"
