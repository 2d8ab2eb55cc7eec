"""The alert decision and its in-memory replay, case by case."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.alert_policy import (
    Action,
    AlertEvent,
    AlertKind,
    AlertState,
    AlertStatus,
    BurstCounter,
    BurstPolicy,
    Change,
    MessageState,
    Placement,
    ReplayedEvent,
    alert_of,
    count_in_burst,
    decide,
    place,
    replay,
)
from storage.events_schema import event_adapter
from tests.conftest import load_example

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POLICY = BurstPolicy()


def alert(kind: AlertKind = AlertKind.OUTLIER, change: Change = Change.RAISE) -> AlertEvent:
    return AlertEvent(kind=kind, key="k", group="cl-alpha", change=change, severity=2, label="label")


def state(
    status: AlertStatus = AlertStatus.OPEN,
    message: MessageState = MessageState.POSTED,
    *,
    last_seen: datetime = AT,
    claim_until: datetime | None = None,
) -> AlertState:
    return AlertState(status=status, message=message, occurrences=1, last_seen=last_seen, claim_until=claim_until)


CASES: list[tuple[str, AlertEvent, AlertState | None, Action]] = [
    ("first detection", alert(), None, Action.NEW),
    ("repeat while open", alert(), state(), Action.REPEAT),
    ("repeat of a gathered alert", alert(), state(message=MessageState.GATHERED), Action.REPEAT),
    ("detection after resolve reopens", alert(), state(AlertStatus.RESOLVED), Action.REPEAT),
    ("resolve open", alert(change=Change.RESOLVE), state(), Action.RESOLVE),
    ("resolve twice", alert(change=Change.RESOLVE), state(AlertStatus.RESOLVED), Action.SKIP_ALREADY),
    ("resolve unknown", alert(change=Change.RESOLVE), None, Action.SKIP_NO_MESSAGE),
    ("claim held", alert(), state(message=MessageState.POSTING, claim_until=AT + timedelta(seconds=5)), Action.WAIT),
    ("claim expired", alert(), state(message=MessageState.POSTING, claim_until=AT - timedelta(seconds=1)), Action.NEW),
    (
        "system error in window",
        alert(AlertKind.SYSTEM_ERROR),
        state(last_seen=AT - timedelta(seconds=30)),
        Action.REPEAT,
    ),
    (
        "system error after window",
        alert(AlertKind.SYSTEM_ERROR),
        state(last_seen=AT - timedelta(minutes=5)),
        Action.NEW,
    ),
    ("note first", alert(AlertKind.NOTE), None, Action.NEW),
    ("note update", alert(AlertKind.NOTE), state(), Action.NOTE_REPLY),
    ("note deleted", alert(AlertKind.NOTE, Change.REDACT), state(), Action.REDACT),
    ("note deleted twice", alert(AlertKind.NOTE, Change.REDACT), state(AlertStatus.REDACTED), Action.SKIP_ALREADY),
    ("note deleted unknown", alert(AlertKind.NOTE, Change.REDACT), None, Action.SKIP_NO_MESSAGE),
    ("note public again", alert(AlertKind.NOTE), state(AlertStatus.REDACTED), Action.NEW),
]


@pytest.mark.parametrize(
    ("alert_event", "current", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES]
)
def test_decide(alert_event: AlertEvent, current: AlertState | None, expected: Action) -> None:
    assert decide(alert_event, current, policy=POLICY, at=AT) is expected


def test_place_by_position() -> None:
    policy = BurstPolicy(threshold=2)
    assert place(1, kind=AlertKind.TASK, policy=policy) is Placement.POST
    assert place(2, kind=AlertKind.TASK, policy=policy) is Placement.POST
    assert place(3, kind=AlertKind.TASK, policy=policy) is Placement.GATHER
    assert place(3, kind=AlertKind.NOTE, policy=policy) is Placement.POST


def test_burst_window_slides() -> None:
    counter = count_in_burst(None, at=AT, policy=POLICY)
    assert (counter.seq, counter.alerts) == (1, 1)
    counter = count_in_burst(counter, at=AT + timedelta(seconds=50), policy=POLICY)
    counter = count_in_burst(counter, at=AT + timedelta(seconds=100), policy=POLICY)
    assert (counter.seq, counter.alerts) == (1, 3)
    later = count_in_burst(counter, at=AT + timedelta(seconds=161), policy=POLICY)
    assert later == BurstCounter(seq=2, alerts=1, last_at=AT + timedelta(seconds=161))


def event(name: str, **changes: Any) -> Any:
    body = load_example(name)
    data = {**body["data"], **changes.pop("data", {})}
    return event_adapter.validate_python({**body, **changes, "data": data})


def test_alert_of_keys() -> None:
    detected = alert_of(event("outlier_detected.json"))
    resolved = alert_of(event("outlier_resolved.json"))
    assert detected is not None and resolved is not None
    assert (detected.kind, detected.key, detected.change) == (
        AlertKind.OUTLIER,
        "out_alpha_gads_cpa_3k9x",
        Change.RAISE,
    )
    assert (resolved.key, resolved.change) == (detected.key, Change.RESOLVE)
    private = alert_of(event("note_updated.json", data={"private": True}))
    assert private is not None and private.change is Change.REDACT
    assert alert_of(event("metrics_snapshot.json")) is None
    first = alert_of(event("system_error.json"))
    other_message = alert_of(event("system_error.json", data={"message": "another"}))
    assert first is not None and other_message is not None
    assert first.key != other_message.key


def test_task_label_counts_attempts_in_words() -> None:
    one = alert_of(event("task_failed.json", data={"attempts": 1}))
    three = alert_of(event("task_failed.json", data={"attempts": 3}))

    assert one is not None and one.label.endswith(", 1 attempt)")
    assert three is not None and three.label.endswith(", 3 attempts)")


def test_replay_counts_posts_and_summaries() -> None:
    failures = [
        ReplayedEvent(event("task_failed.json", id=f"e{n}", data={"task_id": f"t{n}"}), AT + timedelta(seconds=n))
        for n in range(5)
    ]
    repeat = ReplayedEvent(event("task_failed.json", id="again", data={"task_id": "t0"}), AT + timedelta(seconds=6))
    later = ReplayedEvent(event("task_failed.json", id="later", data={"task_id": "t9"}), AT + timedelta(hours=1))
    result = replay([*failures, repeat, later], policy=POLICY)
    assert [post.summary for post in result.posts] == [False, True, False]
    assert result.gathered == 4
    assert result.updates == 1
