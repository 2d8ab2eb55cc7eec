"""Snoozes at run time: hold back snoozed events while routing, and end snoozes with one thread reply.

`hold_snoozed` is the routing stage that mutes: it records each held event on its snooze and returns the
rules that still get a delivery. `SnoozeService` ends snoozes whose time is up, or whose alert resolved
("until resolved"), and posts the reply in the thread of the message the snooze was made from. Any number
of replicas may run it: each end is claimed with one atomic update, so only one process posts the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from pydantic import ValidationError
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.posting import NoTokenError, Poster
from storage.events_schema import PlatformEvent, event_adapter
from storage.models import Rule
from storage.snoozes import AlertRef, HeldEvent, Snooze, SnoozeScope, SnoozeSubject, rank_of, subject_of
from storage.store import Storage
from views.messages import SlackMessage, build_event_message
from views.snooze import build_snooze_ended_message, subject_text

logger = logging.getLogger(__name__)

EXPIRY_INTERVAL_SECONDS = 15.0
# Longer than posting one reply takes, even with Slack's rate limits; a lapsed claim is taken over.
END_LEASE = timedelta(minutes=2)
# task.recovered events are looked up in the events collection from the snooze's start, in pages of this size.
RECOVERY_PAGE = 200


def snooze_covers(snooze: Snooze, rule: Rule, subject: SnoozeSubject | None) -> bool:
    """Tell whether a snooze holds back an event (of `subject`) that `rule` would post."""
    if snooze.team_id != rule.team_id:
        return False
    if snooze.scope is SnoozeScope.RULE:
        return snooze.rule_id == rule.id
    if snooze.scope is SnoozeScope.CHANNEL:
        return snooze.channel == rule.channel
    # A subject snooze quiets its subject only in the channel the alert was posted to.
    return subject is not None and snooze.channel == rule.channel and snooze.subject == subject


async def hold_snoozed(storage: Storage, event: PlatformEvent, rules: list[Rule], *, now: datetime) -> list[Rule]:
    """Return the rules that still get a delivery; record the event on each snooze that withholds it.

    Recording is idempotent per snooze and event, so routing the same event again counts it once.
    """
    if not rules:
        return rules
    snoozes = await storage.snoozes.active_for_teams(sorted({rule.team_id for rule in rules}), now=now)
    if not snoozes:
        return rules
    subject = subject_of(event)
    held = HeldEvent(event_id=event.id, rank=rank_of(event))
    deliver: list[Rule] = []
    for rule in rules:
        covering = [snooze for snooze in snoozes if snooze_covers(snooze, rule, subject)]
        if not covering:
            deliver.append(rule)
            continue
        for snooze in covering:
            await storage.snoozes.record_held(snooze.id, held, now=now)
        logger.info(
            "Event held back by a snooze (event %s, rule %s, snoozes %s)",
            event.id,
            rule.id,
            ",".join(snooze.id for snooze in covering),
        )
    return deliver


class SnoozeService:
    """Ends snoozes and posts their end replies; `end` also serves App Home's Unsnooze button."""

    def __init__(
        self,
        *,
        storage: Storage,
        poster: Poster,
        clock: Clock,
        interval_seconds: float = EXPIRY_INTERVAL_SECONDS,
    ) -> None:
        self._storage = storage
        self._poster = poster
        self._clock = clock
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="snooze-expiry")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_due()
            except Exception:
                logger.exception("Snooze expiry failed; retrying at the next interval")
            await asyncio.sleep(self._interval)

    async def run_due(self) -> int:
        """End every snooze that is due now (time up, alert resolved, or an earlier claim lapsed)."""
        ended = await self._end_resolved()
        while True:
            snooze = await self._storage.snoozes.claim_due(now=self._clock.now(), lease=END_LEASE)
            if snooze is None:
                return ended
            await self._reply_and_finish(snooze)
            ended += 1

    async def end(self, snooze_id: str, *, user_id: str) -> Snooze | None:
        """End an active snooze now on a user's request; return it, or None when it had already ended."""
        snooze = await self._storage.snoozes.claim_end(
            snooze_id, now=self._clock.now(), lease=END_LEASE, reason="unsnoozed", by=user_id
        )
        if snooze is not None:
            await self._reply_and_finish(snooze)
        return snooze

    async def describe_subject(self, snooze: Snooze) -> str | None:
        """Describe a subject snooze's client and metric (task, service) as mrkdwn, with the client's name."""
        subject = snooze.subject
        if subject is None:
            return None
        name = None
        if subject.client_id is not None:
            client = await self._storage.clients.get(agency_id=subject.agency_id, client_id=subject.client_id)
            name = client.name if client else None
        return subject_text(subject, name)

    async def _end_resolved(self) -> int:
        ended = 0
        for snooze in await self._storage.snoozes.list_until_resolved():
            if not await self._resolved(snooze):
                continue
            claimed = await self._storage.snoozes.claim_end(
                snooze.id, now=self._clock.now(), lease=END_LEASE, reason="resolved", by=None
            )
            if claimed is not None:
                await self._reply_and_finish(claimed)
                ended += 1
        return ended

    async def _resolved(self, snooze: Snooze) -> bool:
        if snooze.resolves is None:
            return False
        return await self.alert_resolved(snooze.resolves, since=snooze.created_at)

    async def alert_resolved(self, alert: AlertRef, *, since: datetime) -> bool:
        """Tell whether an outlier is resolved, or a task recovered after `since` (when it failed)."""
        if alert.kind == "outlier":
            outlier = await self._storage.outliers.get(
                agency_id=alert.agency_id, client_id=alert.client_id, outlier_id=alert.alert_id
            )
            return outlier is not None and outlier.status == "resolved"
        # Tasks keep no state, so their task.recovered events are read back from the events collection.
        recoveries = await self._storage.events.list_of_type(
            agency_id=alert.agency_id,
            client_id=alert.client_id,
            event_type="task.recovered",
            since=since,
            limit=RECOVERY_PAGE,
        )
        return any((stored.body.get("data") or {}).get("task_id") == alert.alert_id for stored in recoveries)

    async def _reply_and_finish(self, snooze: Snooze) -> None:
        ts: str | None = None
        if _ended_unnoticed(snooze, now=self._clock.now()):
            # An "until it resolves" snooze of an alert that resolved at once held nothing: a reply saying
            # so would only be noise in the thread.
            logger.info("Snooze ended at once without holding anything; no reply (snooze %s)", snooze.id)
        elif snooze.source_ts:
            message = await self._ended_message(snooze)
            try:
                ts = await self._poster.post(
                    team_id=snooze.team_id, channel=snooze.source_channel, message=message, thread_ts=snooze.source_ts
                )
            except (SlackApiError, NoTokenError) as error:
                # The snooze still ends: the reply is a courtesy, and retrying it could post it twice.
                code = error.response.get("error") if isinstance(error, SlackApiError) else "no token"
                logger.warning(
                    "Snooze end reply failed (snooze %s, team %s, channel %s, error %s)",
                    snooze.id,
                    snooze.team_id,
                    snooze.source_channel,
                    code,
                )
        await self._storage.snoozes.finish(snooze.id, reply_ts=ts, now=self._clock.now())
        logger.info(
            "Snooze ended (snooze %s, team %s, reason %s, held %d)",
            snooze.id,
            snooze.team_id,
            snooze.end_reason,
            snooze.held_count,
        )

    async def _ended_message(self, snooze: Snooze) -> SlackMessage:
        worst_text = None
        if snooze.worst is not None:
            worst_text = await self._event_summary(snooze.worst.event_id)
        text, blocks = build_snooze_ended_message(
            snooze, subject_description=await self.describe_subject(snooze), worst_text=worst_text
        )
        return SlackMessage(text=text, blocks=blocks)

    async def _event_summary(self, event_id: str) -> str | None:
        stored = await self._storage.events.find(event_id)
        if stored is None:
            return None
        try:
            event = event_adapter.validate_python(stored.body)
            # The fallback text is escaped mrkdwn and leaves out what a client workspace must not see.
            return build_event_message(event, web_url=None, client_workspace=True).text
        except (ValidationError, ValueError):
            logger.warning("Held event cannot be summarized (event %s)", event_id)
            return None


# A snooze that ended by resolution this soon after it was made, holding nothing, ends without a reply.
UNNOTICED_END = timedelta(minutes=1)


def _ended_unnoticed(snooze: Snooze, *, now: datetime) -> bool:
    return snooze.end_reason == "resolved" and snooze.held_count == 0 and now - snooze.created_at < UNNOTICED_END
