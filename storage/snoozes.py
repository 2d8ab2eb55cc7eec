"""`snoozes`: who quieted which alerts where, until when, and what was held back meanwhile.

A snooze is made from an alert message and covers one of three scopes in one workspace: the alert's
subject (a client and metric, a client and task, or a client and service) in the message's channel, one
rule, or one channel. Routing records each event it holds back on the snooze itself, and a snooze ends
once: whoever claims the end (the expiry loop of any replica, or an Unsnooze click) posts the one reply.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pymongo import ASCENDING, ReturnDocument

from storage.database import Database, optional_utc, utc
from storage.events_schema import (
    OutlierDetectedEvent,
    SystemErrorEvent,
    TaskFailedEvent,
    TaskState,
)

logger = logging.getLogger(__name__)

# Ended snoozes stay this long, for the audit trail in App Home, then MongoDB's TTL monitor deletes them.
ENDED_RETENTION = timedelta(days=30)


class SnoozeScope(str, Enum):
    SUBJECT = "subject"
    RULE = "rule"
    CHANNEL = "channel"


class SnoozeState(str, Enum):
    ACTIVE = "active"
    # Claimed by one process, which is posting the end reply; the claim expires if that process stops.
    ENDING = "ending"
    ENDED = "ended"


@dataclass(frozen=True)
class SnoozeSubject:
    """The subject of an alert: `kind` is "outlier" (key: metric), "task" (key: task id) or "error" (key: service).

    `client_id` is None for a platform-wide system error.
    """

    kind: str
    agency_id: str
    client_id: str | None
    key: str


@dataclass(frozen=True)
class AlertRef:
    """The alert an "until resolved" snooze waits for: an outlier id or a task id of one client."""

    kind: str
    agency_id: str
    client_id: str
    alert_id: str


@dataclass(frozen=True)
class HeldEvent:
    event_id: str
    # Higher is worse: the severity order of outliers, dead letter above failed for tasks.
    rank: int


@dataclass(frozen=True)
class Snooze:
    """One snooze. `until` is None for "until resolved", which `resolves` then names."""

    id: str
    team_id: str
    scope: SnoozeScope
    channel: str
    rule_id: str | None
    subject: SnoozeSubject | None
    created_by: str
    created_at: datetime
    until: datetime | None
    resolves: AlertRef | None
    duration_label: str
    source_channel: str
    source_ts: str | None
    held_count: int
    worst: HeldEvent | None
    state: SnoozeState
    ended_at: datetime | None = None
    ended_by: str | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class NewSnooze:
    team_id: str
    scope: SnoozeScope
    channel: str
    rule_id: str | None
    subject: SnoozeSubject | None
    created_by: str
    until: datetime | None
    resolves: AlertRef | None
    duration_label: str
    source_channel: str
    source_ts: str | None


_TASK_RANK = {TaskState.FAILED: 1, TaskState.DEAD_LETTER: 2}


def subject_of(event: object) -> SnoozeSubject | None:
    """Return what an alert event is about, or None for events that are not alerts (notes)."""
    if isinstance(event, OutlierDetectedEvent):
        return SnoozeSubject("outlier", event.agency_id, event.client_id, event.data.metric)
    if isinstance(event, TaskFailedEvent):
        return SnoozeSubject("task", event.agency_id, event.client_id, event.data.task_id)
    if isinstance(event, SystemErrorEvent):
        return SnoozeSubject("error", event.agency_id, event.client_id, event.data.service)
    return None


def alert_of(event: object) -> AlertRef | None:
    """Return the alert whose resolution can end an "until resolved" snooze: an outlier or a task."""
    if isinstance(event, OutlierDetectedEvent):
        return AlertRef("outlier", event.agency_id, event.client_id, event.data.outlier_id)
    if isinstance(event, TaskFailedEvent):
        return AlertRef("task", event.agency_id, event.client_id, event.data.task_id)
    return None


def rank_of(event: object) -> int:
    """Rank how bad an event is, higher being worse, to pick the worst held event."""
    if isinstance(event, OutlierDetectedEvent):
        return event.data.severity.rank + 1
    if isinstance(event, TaskFailedEvent):
        return _TASK_RANK[event.data.state]
    return 1 if isinstance(event, SystemErrorEvent) else 0


class SnoozeRepository:
    """Stores snoozes.

    `record_held` counts an event once per snooze, however often routing runs for it, and only while the
    snooze is active. `claim_due` and `claim_end` hand a snooze's end to exactly one caller across
    processes; that caller posts the reply and calls `finish`. A claim that is not finished within its
    lease is handed out again, so a crash between the reply and `finish` may post the reply twice.
    """

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("snoozes")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("team_id", ASCENDING), ("state", ASCENDING)])
        await self._collection.create_index([("state", ASCENDING), ("until", ASCENDING)])
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def create(self, snooze: NewSnooze, *, now: datetime) -> Snooze:
        document: dict[str, Any] = {
            "_id": "snz_" + secrets.token_hex(6),
            "team_id": snooze.team_id,
            "scope": snooze.scope.value,
            "channel": snooze.channel,
            "rule_id": snooze.rule_id,
            "subject": _subject_document(snooze.subject),
            "created_by": snooze.created_by,
            "created_at": now,
            "until": snooze.until,
            "resolves": _resolves_document(snooze.resolves),
            "duration_label": snooze.duration_label,
            "source_channel": snooze.source_channel,
            "source_ts": snooze.source_ts,
            "held_count": 0,
            "held": [],
            "state": SnoozeState.ACTIVE.value,
            "lease_until": None,
        }
        await self._collection.insert_one(document)
        return _to_snooze(document)

    async def get(self, snooze_id: str) -> Snooze | None:
        document = await self._collection.find_one({"_id": snooze_id})
        return _to_snooze(document) if document else None

    async def active_for_teams(self, team_ids: list[str], *, now: datetime) -> list[Snooze]:
        """Return the snoozes of these workspaces that hold events back at `now`."""
        query = {"team_id": {"$in": team_ids}, "state": SnoozeState.ACTIVE.value, **_not_expired(now)}
        return [_to_snooze(document) async for document in self._collection.find(query)]

    async def list_active(self, team_id: str, *, now: datetime, limit: int = 50) -> list[Snooze]:
        query = {"team_id": team_id, "state": SnoozeState.ACTIVE.value, **_not_expired(now)}
        cursor = self._collection.find(query).sort("created_at", ASCENDING).limit(limit)
        return [_to_snooze(document) async for document in cursor]

    async def list_until_resolved(self, *, limit: int = 500) -> list[Snooze]:
        query = {"state": SnoozeState.ACTIVE.value, "until": None}
        cursor = self._collection.find(query).sort("created_at", ASCENDING).limit(limit)
        return [_to_snooze(document) async for document in cursor]

    async def record_held(self, snooze_id: str, held: HeldEvent, *, now: datetime) -> bool:
        """Count an event as held back by an active snooze; return False when it was counted before."""
        # NOTE: every held event id is kept on the document, so that routing an event twice counts it once.
        # MongoDB's 16 MB document limit allows roughly 200,000 of them per snooze.
        result = await self._collection.update_one(
            {"_id": snooze_id, "state": SnoozeState.ACTIVE.value, "held.id": {"$ne": held.event_id}},
            {
                "$inc": {"held_count": 1},
                "$push": {"held": {"id": held.event_id, "rank": held.rank}},
                "$set": {"last_held_at": now},
            },
        )
        return bool(result.modified_count)

    async def claim_due(self, *, now: datetime, lease: timedelta) -> Snooze | None:
        """Claim one snooze whose time is up, or whose earlier claim lapsed, to post its end reply."""
        # A lapsed claim first, so a reply that a stopped process never posted is not delayed by new ones.
        document = await self._collection.find_one_and_update(
            {"state": SnoozeState.ENDING.value, "lease_until": {"$lt": now}},
            {"$set": {"lease_until": now + lease}},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            document = await self._collection.find_one_and_update(
                {"state": SnoozeState.ACTIVE.value, "until": {"$ne": None, "$lte": now}},
                {"$set": _ending(now, lease, reason="expired", by=None)},
                sort=[("until", ASCENDING)],
                return_document=ReturnDocument.AFTER,
            )
        return _to_snooze(document) if document else None

    async def claim_end(
        self, snooze_id: str, *, now: datetime, lease: timedelta, reason: str, by: str | None
    ) -> Snooze | None:
        """Claim the end of an active snooze (Unsnooze, or its alert resolved); None when it already ended."""
        document = await self._collection.find_one_and_update(
            {"_id": snooze_id, "state": SnoozeState.ACTIVE.value},
            {"$set": _ending(now, lease, reason=reason, by=by)},
            return_document=ReturnDocument.AFTER,
        )
        return _to_snooze(document) if document else None

    async def finish(self, snooze_id: str, *, reply_ts: str | None, now: datetime) -> None:
        await self._collection.update_one(
            {"_id": snooze_id, "state": SnoozeState.ENDING.value},
            {
                "$set": {
                    "state": SnoozeState.ENDED.value,
                    "reply_ts": reply_ts,
                    "lease_until": None,
                    "expires_at": now + ENDED_RETENTION,
                }
            },
        )


def _not_expired(now: datetime) -> dict[str, Any]:
    return {"$or": [{"until": None}, {"until": {"$gt": now}}]}


def _ending(now: datetime, lease: timedelta, *, reason: str, by: str | None) -> dict[str, Any]:
    return {
        "state": SnoozeState.ENDING.value,
        "ended_at": now,
        "ended_by": by,
        "end_reason": reason,
        "lease_until": now + lease,
    }


def _subject_document(subject: SnoozeSubject | None) -> dict[str, Any] | None:
    if subject is None:
        return None
    return {"kind": subject.kind, "agency_id": subject.agency_id, "client_id": subject.client_id, "key": subject.key}


def _resolves_document(resolves: AlertRef | None) -> dict[str, Any] | None:
    if resolves is None:
        return None
    return {
        "kind": resolves.kind,
        "agency_id": resolves.agency_id,
        "client_id": resolves.client_id,
        "alert_id": resolves.alert_id,
    }


def _worst(held: list[dict[str, Any]]) -> HeldEvent | None:
    worst: HeldEvent | None = None
    for entry in held:
        # The first event of the highest rank wins, so the reply names the earliest of equally bad ones.
        if worst is None or int(entry["rank"]) > worst.rank:
            worst = HeldEvent(event_id=str(entry["id"]), rank=int(entry["rank"]))
    return worst


def _to_snooze(document: dict[str, Any]) -> Snooze:
    subject = document.get("subject")
    resolves = document.get("resolves")
    return Snooze(
        id=document["_id"],
        team_id=document["team_id"],
        scope=SnoozeScope(document["scope"]),
        channel=document["channel"],
        rule_id=document.get("rule_id"),
        subject=SnoozeSubject(**subject) if subject else None,
        created_by=document["created_by"],
        created_at=utc(document["created_at"]),
        until=optional_utc(document.get("until")),
        resolves=AlertRef(**resolves) if resolves else None,
        duration_label=document["duration_label"],
        source_channel=document["source_channel"],
        source_ts=document.get("source_ts"),
        held_count=int(document.get("held_count", 0)),
        worst=_worst(document.get("held") or []),
        state=SnoozeState(document["state"]),
        ended_at=optional_utc(document.get("ended_at")),
        ended_by=document.get("ended_by"),
        end_reason=document.get("end_reason"),
    )
