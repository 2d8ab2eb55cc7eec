"""Alert decisions for one rule: pure functions shared by live delivery and the rule preview.

Every routed event belongs to an alert: an outlier (by outlier id), a failing task (by task id), a system error
(by its fingerprint: service, exception type and message) or a note (by note id). Given the event, the state of
that alert's message for the rule, and the rule's burst policy, `decide` names what to do. Live delivery loads
the state from MongoDB and applies the action there and in Slack; the preview (`replay`) keeps the state in
memory. Both use these functions, so the preview counts exactly the messages that live delivery posts.

Nothing here reads a clock: the instant of an event is its `received_at`, passed in by the caller.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from storage.events_schema import (
    NoteCreatedEvent,
    NoteDeletedEvent,
    NoteUpdatedEvent,
    OutlierDetectedEvent,
    OutlierResolvedEvent,
    PlatformEvent,
    SystemErrorEvent,
    TaskFailedEvent,
    TaskRecoveredEvent,
    TaskState,
)
from storage.models import NotificationType

DEFAULT_BURST_WINDOW = timedelta(seconds=60)
# New alerts of one client and type posted one by one before the rest of the window is gathered.
DEFAULT_BURST_THRESHOLD = 1
PLATFORM_GROUP = "(platform)"

_NOTE_TYPES = ("note.created", "note.updated", "note.deleted")
# The event types that can change the messages of a rule of each type: its own events and their follow-ups.
ALERT_TYPES_BY_RULE: dict[NotificationType, tuple[str, ...]] = {
    NotificationType.SYSTEM_ERRORS: ("system.error",),
    NotificationType.OUTLIER_ALERTS: ("outlier.detected", "outlier.resolved"),
    NotificationType.TASK_FAILURES: ("task.failed", "task.recovered"),
    NotificationType.NOTE_CREATED: _NOTE_TYPES,
    NotificationType.NOTE_UPDATED: _NOTE_TYPES,
    NotificationType.DAILY_DIGEST: (),
}


class AlertKind(str, Enum):
    OUTLIER = "outlier"
    TASK = "task"
    SYSTEM_ERROR = "system_error"
    NOTE = "note"


class Change(str, Enum):
    """The change an event makes to its alert."""

    RAISE = "raise"  # detected, failed, occurred, or a note written
    RESOLVE = "resolve"  # outlier.resolved, task.recovered
    REDACT = "redact"  # a note deleted or made private


class AlertStatus(str, Enum):
    OPEN = "open"
    RESOLVED = "resolved"
    REDACTED = "redacted"


class MessageState(str, Enum):
    """The state of an alert's message in Slack."""

    POSTING = "posting"  # a worker claimed the first post and has not stored its ts yet
    POSTED = "posted"  # a top-level message of its own exists (ts known)
    GATHERED = "gathered"  # listed in a burst summary instead of a message of its own


class Action(str, Enum):
    NEW = "new alert: post it or gather it, by its place in the burst"
    REPEAT = "update the message and reply in its thread"
    RESOLVE = "mark the message resolved and reply in its thread"
    NOTE_REPLY = "reply in the thread of the note's message"
    REDACT = "edit the note's message to remove its content"
    WAIT = "wait: another worker is posting this alert"
    SKIP_NO_MESSAGE = "skip: no message announced this alert"
    SKIP_ALREADY = "skip: the message already shows this"


class Placement(str, Enum):
    POST = "post a new top-level message"
    GATHER = "gather into the burst summary"


@dataclass(frozen=True)
class BurstPolicy:
    """Burst settings of a rule.

    After `threshold` new alerts of one client and type, each within `window` of the previous one, further new
    alerts go into one summary message.
    """

    window: timedelta = DEFAULT_BURST_WINDOW
    threshold: int = DEFAULT_BURST_THRESHOLD


@dataclass(frozen=True)
class AlertEvent:
    """The alert an event belongs to, and what it changes.

    `group` is the burst group within the rule (the client, or a placeholder for platform-wide errors).
    `severity` orders alerts in a burst summary, higher first.
    """

    kind: AlertKind
    key: str
    group: str
    change: Change
    severity: int
    label: str


@dataclass(frozen=True)
class AlertState:
    """The stored state of one alert's message for one rule."""

    status: AlertStatus
    message: MessageState
    occurrences: int
    last_seen: datetime
    # A claim that a crashed worker never finished may be taken over after this instant.
    claim_until: datetime | None = None


def alert_of(event: PlatformEvent) -> AlertEvent | None:
    """Name the alert an event belongs to; None for events that are not alerts (metrics, clients)."""
    group = event.client_id or PLATFORM_GROUP
    if isinstance(event, OutlierDetectedEvent):
        data = event.data
        label = f"{data.severity.value} · {data.metric} on {data.channel}: {data.observed} (expected {data.expected})"
        return AlertEvent(AlertKind.OUTLIER, data.outlier_id, group, Change.RAISE, data.severity.rank, label)
    if isinstance(event, OutlierResolvedEvent):
        return AlertEvent(AlertKind.OUTLIER, event.data.outlier_id, group, Change.RESOLVE, 0, "")
    if isinstance(event, TaskFailedEvent):
        data_task = event.data
        rank = 3 if data_task.state is TaskState.DEAD_LETTER else 2
        attempts = "1 attempt" if data_task.attempts == 1 else f"{data_task.attempts} attempts"
        label = f"{data_task.task_name} ({data_task.state.value}, {attempts})"
        return AlertEvent(AlertKind.TASK, data_task.task_id, group, Change.RAISE, rank, label)
    if isinstance(event, TaskRecoveredEvent):
        return AlertEvent(AlertKind.TASK, event.data.task_id, group, Change.RESOLVE, 0, "")
    if isinstance(event, SystemErrorEvent):
        data_error = event.data
        fingerprint = "\x1f".join((data_error.service, data_error.exception_type, data_error.message))
        label = f"{data_error.service}: {data_error.exception_type}"
        return AlertEvent(AlertKind.SYSTEM_ERROR, fingerprint, group, Change.RAISE, 2, label)
    if isinstance(event, NoteCreatedEvent | NoteUpdatedEvent):
        change = Change.REDACT if event.data.private else Change.RAISE
        return AlertEvent(AlertKind.NOTE, event.data.note_id, group, change, 0, event.data.title)
    if isinstance(event, NoteDeletedEvent):
        return AlertEvent(AlertKind.NOTE, event.data.note_id, group, Change.REDACT, 0, "")
    return None


def decide(
    alert: AlertEvent, state: AlertState | None, *, policy: BurstPolicy, at: datetime, now: datetime | None = None
) -> Action:
    """Decide what an event does to its alert's message for one rule.

    `state` is the alert's stored state for this rule (for notes: for this rule's channel), or None when no
    message announced it. `at` is when the event was received. `now` (default `at`) is when the decision is
    made, and only decides whether another delivery's claim on the first post has expired.
    """
    if state is not None and state.message is MessageState.POSTING:
        if state.claim_until is None or state.claim_until > (now or at):
            return Action.WAIT
        # The worker that claimed the post crashed: the alert is new again.
        return Action.NEW if alert.change is Change.RAISE else Action.SKIP_NO_MESSAGE
    if alert.kind is AlertKind.NOTE:
        return _decide_note(alert, state)
    if alert.change is Change.RESOLVE:
        if state is None:
            return Action.SKIP_NO_MESSAGE
        return Action.SKIP_ALREADY if state.status is AlertStatus.RESOLVED else Action.RESOLVE
    if state is None:
        return Action.NEW
    if alert.kind is AlertKind.SYSTEM_ERROR and at - state.last_seen > policy.window:
        # The same error after a quiet window is a new incident, with a message of its own.
        return Action.NEW
    return Action.REPEAT


def _decide_note(alert: AlertEvent, state: AlertState | None) -> Action:
    has_message = state is not None and state.message is MessageState.POSTED
    if alert.change is Change.REDACT:
        if not has_message:
            return Action.SKIP_NO_MESSAGE
        assert state is not None
        return Action.SKIP_ALREADY if state.status is AlertStatus.REDACTED else Action.REDACT
    if has_message:
        assert state is not None
        # A redacted note that is written again (made public) gets a fresh message.
        return Action.NEW if state.status is AlertStatus.REDACTED else Action.NOTE_REPLY
    return Action.NEW


def place(position: int, *, kind: AlertKind, policy: BurstPolicy) -> Placement:
    """Place a new alert by its 1-based position among the new alerts of its burst window."""
    if kind is AlertKind.NOTE or position <= policy.threshold:
        return Placement.POST
    return Placement.GATHER


@dataclass
class BurstCounter:
    """New alerts of one (rule, group) in the current window; `seq` numbers the windows."""

    seq: int
    alerts: int
    last_at: datetime


def count_in_burst(counter: BurstCounter | None, *, at: datetime, policy: BurstPolicy) -> BurstCounter:
    """Count one new alert at `at`: the same window while the previous alert is at most `window` old.

    storage.alerts applies the same rule atomically in MongoDB, and this is its in-memory form for the preview.
    """
    if counter is not None and at - counter.last_at <= policy.window:
        return BurstCounter(seq=counter.seq, alerts=counter.alerts + 1, last_at=max(counter.last_at, at))
    return BurstCounter(seq=(counter.seq + 1) if counter else 1, alerts=1, last_at=at)


# --- Replay, for the preview ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayedEvent:
    """A stored event that the draft rule would have received, with when it arrived."""

    event: PlatformEvent
    received_at: datetime


@dataclass(frozen=True)
class SimulatedPost:
    """A top-level message that live delivery would have posted: an alert or a burst summary."""

    at: datetime
    event: PlatformEvent
    summary: bool


@dataclass
class ReplayResult:
    posts: list[SimulatedPost] = field(default_factory=list)
    gathered: int = 0
    updates: int = 0


def replay(events: Iterable[ReplayedEvent], *, policy: BurstPolicy) -> ReplayResult:
    """Run events (in arrival order) through `decide` with in-memory state, and list the top-level posts.

    Events must already be filtered to those the rule receives. A WAIT never happens here, because one
    event is applied at a time.
    """
    states: dict[tuple[AlertKind, str, str], AlertState] = {}
    counters: dict[str, BurstCounter] = {}
    summaries: set[tuple[str, int]] = set()
    result = ReplayResult()
    for item in events:
        alert = alert_of(item.event)
        if alert is None:
            continue
        key = (alert.kind, alert.group, alert.key)
        state = states.get(key)
        action = decide(alert, state, policy=policy, at=item.received_at)
        if action is Action.NEW:
            counter = count_in_burst(counters.get(alert.group), at=item.received_at, policy=policy)
            counters[alert.group] = counter
            placement = place(counter.alerts, kind=alert.kind, policy=policy)
            message = MessageState.POSTED if placement is Placement.POST else MessageState.GATHERED
            states[key] = AlertState(AlertStatus.OPEN, message, 1, item.received_at)
            if placement is Placement.POST:
                result.posts.append(SimulatedPost(at=item.received_at, event=item.event, summary=False))
            else:
                result.gathered += 1
                if (alert.group, counter.seq) not in summaries:
                    summaries.add((alert.group, counter.seq))
                    result.posts.append(SimulatedPost(at=item.received_at, event=item.event, summary=True))
        elif action is Action.REPEAT and state is not None:
            states[key] = AlertState(AlertStatus.OPEN, state.message, state.occurrences + 1, item.received_at)
            result.updates += 1
        elif action is Action.RESOLVE and state is not None:
            states[key] = AlertState(AlertStatus.RESOLVED, state.message, state.occurrences, state.last_seen)
            result.updates += 1
        elif action is Action.REDACT and state is not None:
            states[key] = AlertState(AlertStatus.REDACTED, state.message, state.occurrences, state.last_seen)
            result.updates += 1
    return result
