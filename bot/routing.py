"""Routing: keep state current from each stored event and create one delivery per matching rule.

Routing is idempotent, so an event routed twice (a crash between creating deliveries and marking the event
routed, or two replicas sweeping at once) still gets one delivery per rule.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from enum import Enum

from bot.alert_policy import alert_of
from bot.clock import Clock
from bot.rule_index import EventFacts, RuleIndex
from bot.snoozing import hold_snoozed
from storage.events import StoredEvent
from storage.events_schema import (
    ClientUpdatedEvent,
    MetricsSnapshotEvent,
    NoteCreatedEvent,
    NoteDeletedEvent,
    NoteUpdatedEvent,
    OutlierDetectedEvent,
    OutlierResolvedEvent,
    PlatformEvent,
    TaskRecoveredEvent,
    event_adapter,
)
from storage.models import ROUTED_EVENT_TYPES, RuleState
from storage.store import Storage

logger = logging.getLogger(__name__)

SWEEP_INTERVAL_SECONDS = 30.0
# Events younger than this are left to the routing task that received them, so a sweep running on another
# replica does not route them at the same moment (harmless, but wasted work).
SWEEP_GRACE = timedelta(seconds=10)
SWEEP_BATCH = 500


class Decision(str, Enum):
    """What routing did with an event, for logs and tests."""

    DELIVER = "deliver"
    STATE_ONLY = "state only"
    STALE = "skip: older than the stored state"
    PRIVATE = "skip: private note"


class Router:
    def __init__(
        self,
        *,
        storage: Storage,
        index: RuleIndex,
        clock: Clock,
        on_deliveries: Callable[[], None],
        sweep_interval: float = SWEEP_INTERVAL_SECONDS,
    ) -> None:
        self._storage = storage
        self._index = index
        self._clock = clock
        self._on_deliveries = on_deliveries
        self._sweep_interval = sweep_interval
        self._queue: asyncio.Queue[StoredEvent] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def submit(self, events: list[StoredEvent]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._consume(), name="router"),
            asyncio.create_task(self._sweep_forever(), name="router-sweep"),
        ]

    async def stop(self) -> None:
        """Stop taking work; events still queued stay unrouted in MongoDB and the next sweep routes them."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def drain(self) -> None:
        """Wait until every submitted event has been routed (tests and graceful shutdown)."""
        await self._queue.join()

    async def _consume(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self.route(event)
            except Exception:
                # The event stays unrouted in MongoDB; the sweep tries again.
                logger.exception("Routing failed (event %s)", event.id)
            finally:
                self._queue.task_done()

    async def _sweep_forever(self) -> None:
        while True:
            try:
                await self.sweep(grace=SWEEP_GRACE)
            except Exception:
                logger.exception("Routing sweep failed; retrying at the next interval")
            await asyncio.sleep(self._sweep_interval)

    async def sweep(self, *, grace: timedelta = timedelta(0)) -> int:
        """Route events that were stored but not routed, such as those of a process that stopped."""
        routed = 0
        failed: set[str] = set()
        while True:
            received_before = self._clock.now() - grace
            events = await self._storage.events.find_unrouted(received_before=received_before, limit=SWEEP_BATCH)
            fresh = [event for event in events if event.id not in failed]
            for event in fresh:
                try:
                    await self.route(event)
                    routed += 1
                except Exception:
                    # One event that cannot be routed must not hold back every event stored after it.
                    logger.exception("Routing failed in the sweep; the event stays unrouted (event %s)", event.id)
                    failed.add(event.id)
            # NOTE: a full page of events that all fail stops this sweep; the next one starts again from them.
            if len(events) < SWEEP_BATCH or not fresh or all(event.id in failed for event in fresh):
                break
        if routed:
            logger.info("Routing sweep routed stored events (count %d)", routed)
        return routed

    async def route(self, stored: StoredEvent) -> Decision:
        event = event_adapter.validate_python(stored.body)
        decision = await self._decide(event)
        if decision is Decision.DELIVER:
            await self._create_deliveries(event)
        elif decision is not Decision.STALE and _follows_up(event):
            await self._create_follow_ups(event)
        await self._storage.events.mark_routed(stored.id, now=self._clock.now())
        log = logger.info if decision is Decision.STALE else logger.debug
        log("Routed event (event %s, type %s, decision %s)", stored.id, stored.type, decision.value)
        return decision

    async def _decide(self, event: PlatformEvent) -> Decision:
        if not await self._apply_state(event):
            return Decision.STALE
        if isinstance(event, NoteCreatedEvent | NoteUpdatedEvent) and event.data.private:
            return Decision.PRIVATE
        if event.type in ROUTED_EVENT_TYPES:
            return Decision.DELIVER
        return Decision.STATE_ONLY

    async def _create_deliveries(self, event: PlatformEvent) -> None:
        severity = event.data.severity if isinstance(event, OutlierDetectedEvent) else None
        facts = EventFacts(
            agency_id=event.agency_id,
            client_id=event.client_id,
            notification_type=ROUTED_EVENT_TYPES[event.type],
            severity=severity,
        )
        rules = await self._index.match(facts)
        rules = await hold_snoozed(self._storage, event, rules, now=self._clock.now())
        created = await self._storage.deliveries.create_for_event(event.id, rules, now=self._clock.now())
        if created:
            logger.info("Created deliveries (event %s, rules %s)", event.id, ",".join(rule.id for rule in rules))
            self._on_deliveries()

    async def _create_follow_ups(self, event: PlatformEvent) -> None:
        """Deliver a resolution, deletion or privacy change to the rules whose messages announced the alert.

        These events are not matched through the rule index: they reach exactly the messages of the ledger.
        """
        alert = alert_of(event)
        if alert is None:
            return
        rule_ids = await self._storage.alerts.rules_with_alert(
            agency_id=event.agency_id, client_id=event.client_id, kind=alert.kind.value, key=alert.key
        )
        rules = [rule for rule in [await self._storage.rules.get(rule_id) for rule_id in rule_ids] if rule]
        active = [rule for rule in rules if rule.state is RuleState.ACTIVE]
        # NOTE: a follow-up that arrives while the alert's first post is still pending finds no ledger entry,
        # and changes no message.
        created = await self._storage.deliveries.create_for_event(event.id, active, now=self._clock.now())
        if created:
            logger.info("Created follow-up deliveries (event %s, rules %s)", event.id, ",".join(r.id for r in active))
            self._on_deliveries()

    async def _apply_state(self, event: PlatformEvent) -> bool:
        """Update the state collections; return False when the event is older than the stored state."""
        storage = self._storage
        when = event.occurred_at
        if isinstance(event, OutlierDetectedEvent):
            data = event.data.model_dump(mode="json")
            return await storage.outliers.apply_detection(
                agency_id=event.agency_id, client_id=event.client_id, data=data, occurred_at=when
            )
        if isinstance(event, OutlierResolvedEvent):
            data = event.data.model_dump(mode="json")
            return await storage.outliers.apply_resolution(
                agency_id=event.agency_id, client_id=event.client_id, data=data, occurred_at=when
            )
        if isinstance(event, NoteCreatedEvent | NoteUpdatedEvent):
            return await storage.notes.apply_version(
                agency_id=event.agency_id,
                client_id=event.client_id,
                note_id=event.data.note_id,
                data=event.data.model_dump(mode="json"),
                occurred_at=when,
            )
        if isinstance(event, NoteDeletedEvent):
            return await storage.notes.apply_deletion(
                agency_id=event.agency_id, client_id=event.client_id, note_id=event.data.note_id, occurred_at=when
            )
        if isinstance(event, MetricsSnapshotEvent):
            return await storage.metrics.apply_snapshot(
                agency_id=event.agency_id,
                client_id=event.client_id,
                date=event.data.date.isoformat(),
                channel=event.data.channel,
                metrics={name: float(value) for name, value in event.data.metrics.items()},
                occurred_at=when,
            )
        if isinstance(event, ClientUpdatedEvent):
            return await storage.clients.apply_update(
                agency_id=event.agency_id,
                client_id=event.client_id,
                data=event.data.model_dump(mode="json", exclude_none=True),
                occurred_at=when,
            )
        # system.error, task.failed and task.recovered keep no state yet.
        return True


def _follows_up(event: PlatformEvent) -> bool:
    """Tell whether an event changes messages posted for earlier events instead of posting its own."""
    if isinstance(event, OutlierResolvedEvent | TaskRecoveredEvent | NoteDeletedEvent):
        return True
    return isinstance(event, NoteCreatedEvent | NoteUpdatedEvent) and event.data.private
