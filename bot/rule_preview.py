"""The rule preview: replay the last seven days of stored events through a draft rule.

The replay runs `bot.alert_policy.replay`, the same decisions live delivery applies, so the count it shows is
what the rule would have posted as top-level messages (alerts and burst summaries), with the rule's default
burst policy. Thread replies and edits are not counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from bot.alert_policy import ALERT_TYPES_BY_RULE, BurstPolicy, ReplayedEvent, alert_of, replay
from bot.clock import Clock
from bot.rule_index import EventFacts, RoutingTarget, rule_accepts
from storage.events import StoredEvent
from storage.events_schema import (
    NoteCreatedEvent,
    NoteUpdatedEvent,
    OutlierDetectedEvent,
    PlatformEvent,
    Severity,
    event_adapter,
)
from storage.models import ROUTED_EVENT_TYPES, NotificationType, Rule, RuleState, Workspace
from storage.store import Storage
from views.messages import build_event_message
from views.rule_preview import NOISY_PER_DAY, PREVIEW_DIGEST, PREVIEW_NEEDS_TYPE, RulePreview

logger = logging.getLogger(__name__)

PREVIEW_DAYS = 7
# NOTE: a replay over more events than this counts only the oldest ones and shows that it did, so that a
# preview of a very busy account still returns within seconds.
MAX_PREVIEW_EVENTS = 20_000


@dataclass(frozen=True)
class DraftRule:
    """The rule modal's current choices."""

    type: NotificationType | None
    client_id: str | None
    min_severity: Severity | None


class RulePreviewService:
    def __init__(self, *, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def preview(
        self,
        *,
        workspace: Workspace,
        type: NotificationType | None,
        client_id: str | None,
        min_severity: Severity | None,
        burst_threshold: int | None = None,
        burst_window_seconds: int | None = None,
    ) -> RulePreview:
        """Count what a draft rule would have posted per day over the last seven days."""
        if type is None:
            return RulePreview(notice=PREVIEW_NEEDS_TYPE)
        if type is NotificationType.DAILY_DIGEST or workspace.agency_id is None:
            return RulePreview(notice=PREVIEW_DIGEST if type is NotificationType.DAILY_DIGEST else PREVIEW_NEEDS_TYPE)
        now = self._clock.now()
        start = _day_start(now) - timedelta(days=PREVIEW_DAYS - 1)
        stored = await self._storage.events.list_received_between(
            agency_id=workspace.agency_id,
            types=ALERT_TYPES_BY_RULE[type],
            start=start,
            end=now,
            client_id=workspace.client_id,
            limit=MAX_PREVIEW_EVENTS,
        )
        events = [_parse(item) for item in stored]
        draft = _draft_rule(workspace, type=type, client_id=client_id, min_severity=min_severity, now=now)
        # Values below 1 can only come from a forged request, and saving would reject them too.
        if burst_threshold is not None and burst_threshold >= 1:
            draft = replace(draft, burst_threshold=burst_threshold)
        if burst_window_seconds is not None and burst_window_seconds >= 1:
            draft = replace(draft, burst_window_seconds=burst_window_seconds)
        days = [(start + timedelta(days=offset)).date() for offset in range(PREVIEW_DAYS)]
        counts, sample = _count(events, draft, workspace, days)
        total = sum(counts.values())
        logger.info(
            "Rule preview computed (team %s, type %s, events %d, messages %d)",
            workspace.team_id,
            type.value,
            len(events),
            total,
        )
        result = RulePreview(
            total=total,
            per_day=tuple((day, counts[day]) for day in days),
            sample=sample,
            truncated_at=MAX_PREVIEW_EVENTS if len(stored) >= MAX_PREVIEW_EVENTS else None,
        )
        if type is NotificationType.OUTLIER_ALERTS and max(counts.values(), default=0) > NOISY_PER_DAY:
            return _with_suggestion(result, events, workspace, draft, days)
        return result


def _with_suggestion(
    result: RulePreview, events: list[_Replayable], workspace: Workspace, draft: Rule, days: list[date]
) -> RulePreview:
    floor = draft.min_severity.rank if draft.min_severity else -1
    for severity in Severity:
        if severity.rank <= floor:
            continue
        stricter = _replace_severity(draft, severity)
        counts, _ = _count(events, stricter, workspace, days)
        busiest = max(counts.values(), default=0)
        if busiest <= NOISY_PER_DAY:
            return replace(result, suggested_severity=severity, suggested_busiest=busiest)
    return replace(result, no_suggestion=True)


@dataclass(frozen=True)
class _Replayable:
    event: PlatformEvent
    received_at: datetime


def _parse(stored: StoredEvent) -> _Replayable:
    return _Replayable(event=event_adapter.validate_python(stored.body), received_at=stored.received_at)


def _count(
    events: list[_Replayable], rule: Rule, workspace: Workspace, days: list[date]
) -> tuple[Counter[date], str | None]:
    target = RoutingTarget(rule=rule, workspace_client_id=workspace.client_id)
    received = [ReplayedEvent(item.event, item.received_at) for item in events if _receives(target, item.event)]
    policy = BurstPolicy(window=timedelta(seconds=rule.burst_window_seconds), threshold=rule.burst_threshold)
    result = replay(received, policy=policy)
    counts: Counter[date] = Counter({day: 0 for day in days})
    for post in result.posts:
        counts[post.at.date()] += 1
    # Every burst starts with an alert posted on its own, so the first post is an alert, never a summary.
    first = next((post for post in result.posts if not post.summary), None)
    sample = None
    if first is not None:
        client_workspace = workspace.is_client_workspace
        sample = build_event_message(first.event, web_url=None, client_workspace=client_workspace).text
    return counts, sample


def _receives(target: RoutingTarget, event: PlatformEvent) -> bool:
    """Tell whether live routing would deliver the event to the rule (follow-ups: to its own messages)."""
    private_note = isinstance(event, NoteCreatedEvent | NoteUpdatedEvent) and event.data.private
    if private_note or event.type not in ROUTED_EVENT_TYPES:
        # Resolutions, deletions and privacy changes reach the rule only through its own messages. The replay's
        # in-memory ledger checks that, so here they only need to belong to the rule's clients.
        rule_client = target.rule.client_id
        return alert_of(event) is not None and (rule_client is None or event.client_id == rule_client)
    severity = event.data.severity if isinstance(event, OutlierDetectedEvent) else None
    facts = EventFacts(
        agency_id=event.agency_id,
        client_id=event.client_id,
        notification_type=ROUTED_EVENT_TYPES[event.type],
        severity=severity,
    )
    return facts.notification_type is target.rule.type and rule_accepts(target, facts)


def _draft_rule(
    workspace: Workspace, *, type: NotificationType, client_id: str | None, min_severity: Severity | None, now: datetime
) -> Rule:
    return Rule(
        id="preview",
        team_id=workspace.team_id,
        channel="preview",
        type=type,
        client_id=workspace.client_id if workspace.is_client_workspace else client_id,
        min_severity=min_severity if type is NotificationType.OUTLIER_ALERTS else None,
        state=RuleState.ACTIVE,
        failure_reason=None,
        created_at=now,
        updated_at=now,
    )


def _replace_severity(rule: Rule, severity: Severity) -> Rule:
    return replace(rule, min_severity=severity)


def _day_start(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
