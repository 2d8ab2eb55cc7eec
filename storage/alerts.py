"""`alert_messages`: the ledger of alert messages, so any process can find a message to edit after a restart.

Three kinds of document share the collection, each keyed by its rule:

- `alert`: one per (rule, alert kind, alert key). Channel and `ts` of the message, its state, occurrences,
  first and last seen, the latest event, and the thread replies and edits still to send (`dirty`).
- `burst`: one per (rule, group), counting new alerts in the current burst window (`seq` numbers windows).
- `summary`: one per burst window that gathered alerts: the summary message's `ts` and what it lists (the
  `alert` documents whose `summary_id` names it).

Every document expires with the same retention as deliveries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from storage.database import Database, optional_utc, utc

logger = logging.getLogger(__name__)

ALERT = "alert"
BURST = "burst"
SUMMARY = "summary"


def alert_doc_id(*, rule_id: str, kind: str, group: str, key: str) -> str:
    """Identify an alert of a rule: the same outlier, task or note id may exist for several clients (`group`)."""
    # Client ids and alert keys may contain any character, so they are JSON-encoded to keep ids unambiguous.
    return f"{rule_id}|" + json.dumps([kind, group, key], ensure_ascii=False)


def rule_of_doc(doc_id: str) -> str:
    """Return the rule id of an alert or summary document id (both start with it; rule ids have no `|`)."""
    return doc_id.split("|", 1)[0]


@dataclass(frozen=True)
class AlertRecord:
    """One alert's message for one rule."""

    id: str
    rule_id: str
    team_id: str
    channel: str
    kind: str
    key: str
    group: str
    status: str
    message: str
    ts: str | None
    summary_id: str | None
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None
    event_id: str
    label: str
    severity: int
    pending_repeats: int
    pending_resolution: bool
    pending_note_events: tuple[str, ...]
    claim_until: datetime | None
    claimed_by: str | None
    dirty: bool
    # Why a note's message no longer shows it: "deleted" or "private".
    gone_reason: str | None
    # When things happened by the platform's clock (events' `occurred_at`), for display. `first_seen` and `last_seen`
    # are arrival times, which bursts and decisions use, as the rule preview does.
    occurred_first: datetime
    occurred_last: datetime
    occurred_resolved: datetime | None = None
    # The value the resolution reported (an outlier's `observed`), shown instead of the detection's.
    resolved_value: float | None = None
    # The summary of the burst window this alert opened as one of its first posts, so the summary counts it.
    burst_id: str | None = None


@dataclass(frozen=True)
class SummaryRecord:
    """A burst summary message: the alerts of one (rule, group) window gathered into one message."""

    id: str
    rule_id: str
    team_id: str
    channel: str
    group: str
    notification_type: str
    client_label: str
    ts: str | None
    posting: bool
    claim_until: datetime | None
    first_at: datetime
    last_at: datetime
    dirty: bool
    # Span of the gathered alerts' `occurred_at`, and how many repeats of them arrived, for display.
    occurred_first: datetime | None = None
    occurred_last: datetime | None = None
    repeats: int = 0
    # The agency of the burst's client, to look its name up again when `client_label` fell back to the id.
    agency_id: str | None = None


@dataclass(frozen=True)
class NewAlert:
    rule_id: str
    team_id: str
    channel: str
    kind: str
    key: str
    group: str
    event_id: str
    label: str
    severity: int
    at: datetime
    agency_id: str
    client_id: str | None
    # The delivery that claims the first post; its own retries resume the claim instead of waiting on it.
    claimed_by: str
    # The event's `occurred_at`; None means `at`.
    occurred_at: datetime | None = None


class AlertLedger:
    """Reads and writes the ledger.

    `claim_post` inserts an alert in the `posting` state and returns None when another worker claimed it first.
    `store_posted` then records the `ts`. A claim older than `claim_until` may be taken over (a worker that
    crashed mid-send), which is the one way a message can be posted twice. Edits of an existing message are
    recorded as `dirty` with their pending replies, and `take_dirty` hands each document to one worker at a
    time, at most once per pace interval.
    """

    def __init__(self, database: Database, *, retention: timedelta) -> None:
        self._collection = database.collection("alert_messages")
        self._retention = retention

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("alert_key", ASCENDING), ("kind", ASCENDING), ("agency_id", ASCENDING)])
        await self._collection.create_index([("summary_id", ASCENDING), ("severity", DESCENDING)])
        await self._collection.create_index([("dirty", ASCENDING), ("next_edit_at", ASCENDING)])
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    # --- Alerts ---------------------------------------------------------------------------------------

    async def get_alert(self, *, rule_id: str, kind: str, group: str, key: str) -> AlertRecord | None:
        doc_id = alert_doc_id(rule_id=rule_id, kind=kind, group=group, key=key)
        document = await self._collection.find_one({"_id": doc_id})
        return _to_alert(document) if document else None

    async def get_alert_by_id(self, doc_id: str) -> AlertRecord | None:
        document = await self._collection.find_one({"_id": doc_id, "kind_doc": ALERT})
        return _to_alert(document) if document else None

    async def find_note_in_channel(
        self, *, team_id: str, channel: str, client_id: str | None, note_id: str
    ) -> AlertRecord | None:
        """Find the posted message of a client's note in a channel, whichever rule posted it."""
        query = {"kind_doc": ALERT, "kind": "note", "alert_key": note_id, "client_id": client_id}
        document = await self._collection.find_one(
            {**query, "team_id": team_id, "channel": channel}, sort=[("first_seen", ASCENDING)]
        )
        return _to_alert(document) if document else None

    async def rules_with_alert(self, *, agency_id: str, client_id: str | None, kind: str, key: str) -> list[str]:
        """List the rules that have a message (or a summary entry) for this alert of this client."""
        query: dict[str, Any] = {
            "kind_doc": ALERT,
            "agency_id": agency_id,
            "client_id": client_id,
            "kind": kind,
            "alert_key": key,
        }
        cursor = self._collection.find(query, projection={"rule_id": 1})
        return sorted({document["rule_id"] async for document in cursor})

    async def claim_post(self, alert: NewAlert, *, claim: timedelta, now: datetime) -> AlertRecord | None:
        """Record a new alert in the `posting` state, claimed by `alert.claimed_by` until `now + claim`.

        Returns None when the alert is already recorded, claimed or not: `take_over` replaces a finished one.
        """
        doc_id = alert_doc_id(rule_id=alert.rule_id, kind=alert.kind, group=alert.group, key=alert.key)
        fields: dict[str, Any] = {
            "kind_doc": ALERT,
            "rule_id": alert.rule_id,
            "team_id": alert.team_id,
            "kind": alert.kind,
            "alert_key": alert.key,
            "agency_id": alert.agency_id,
            "client_id": alert.client_id,
            "group": alert.group,
            **self._incident_fields(alert, claim=claim, now=now),
            "next_edit_at": now,
        }
        try:
            await self._collection.insert_one({"_id": doc_id, **fields})
        except DuplicateKeyError:
            return None
        return _to_alert({"_id": doc_id, **fields})

    async def take_over(self, alert: NewAlert, *, claim: timedelta, now: datetime) -> AlertRecord | None:
        """Replace an alert document whose previous message is over: an expired claim, or a new incident.

        The filter repeats what `decide` saw, so only one worker wins.
        """
        doc_id = alert_doc_id(rule_id=alert.rule_id, kind=alert.kind, group=alert.group, key=alert.key)
        current = await self._collection.find_one({"_id": doc_id})
        if current is None:
            return await self.claim_post(alert, claim=claim, now=now)
        guard = {"_id": doc_id, "last_seen": current["last_seen"], "message": current["message"]}
        fields = self._incident_fields(alert, claim=claim, now=now)
        document = await self._collection.find_one_and_update(
            guard, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return _to_alert(document) if document else None

    def _incident_fields(self, alert: NewAlert, *, claim: timedelta, now: datetime) -> dict[str, Any]:
        """Build the fields of an alert's new incident, claimed for its first post by `alert.claimed_by`."""
        return {
            "channel": alert.channel,
            "status": "open",
            "message": "posting",
            "ts": None,
            "summary_id": None,
            "occurrences": 1,
            "first_seen": alert.at,
            "last_seen": alert.at,
            "resolved_at": None,
            "event_id": alert.event_id,
            "label": alert.label,
            "severity": alert.severity,
            "pending_repeats": 0,
            "pending_resolution": False,
            "pending_note_events": [],
            "claim_until": now + claim,
            "claimed_by": alert.claimed_by,
            "gone_reason": None,
            **_occurred_fields(alert),
            "dirty": False,
            "expires_at": now + self._retention,
        }

    async def store_posted(self, doc_id: str, *, ts: str, channel: str, now: datetime) -> None:
        # The channel is stored with the ts: a held first post may be sent after its rule moved channel.
        fields = {"message": "posted", "ts": ts, "channel": channel, "claim_until": None, "next_edit_at": now}
        await self._collection.update_one({"_id": doc_id}, {"$set": fields})

    async def record_repeat(
        self,
        doc_id: str,
        *,
        event_id: str,
        label: str,
        severity: int,
        at: datetime,
        occurred_at: datetime | None = None,
    ) -> None:
        occurred = occurred_at or at
        fields = {"status": "open", "event_id": event_id, "label": label, "resolved_at": None, "dirty": True}
        await self._collection.update_one(
            {"_id": doc_id},
            {
                "$inc": {"occurrences": 1, "pending_repeats": 1},
                # Each change keeps the message findable for another retention period.
                "$max": {
                    "last_seen": at,
                    "occurred_last": occurred,
                    "severity": severity,
                    "expires_at": at + self._retention,
                },
                "$min": {"occurred_first": occurred},
                "$set": {**fields, "occurred_resolved": None, "resolved_value": None},
            },
        )

    async def record_resolution(
        self, doc_id: str, *, at: datetime, occurred_at: datetime | None = None, value: float | None = None
    ) -> None:
        fields = {"status": "resolved", "resolved_at": at, "pending_resolution": True, "dirty": True}
        await self._collection.update_one(
            {"_id": doc_id, "status": "open"},
            {
                "$set": {**fields, "occurred_resolved": occurred_at or at, "resolved_value": value},
                "$max": {"expires_at": at + self._retention},
            },
        )

    async def record_note_event(self, doc_id: str, *, event_id: str, at: datetime) -> None:
        await self._collection.update_one(
            {"_id": doc_id},
            {
                "$push": {"pending_note_events": event_id},
                "$max": {"last_seen": at, "expires_at": at + self._retention},
                "$set": {"dirty": True},
            },
        )

    async def record_redaction(
        self, doc_id: str, *, reason: str, at: datetime, occurred_at: datetime | None = None
    ) -> None:
        fields = {"status": "redacted", "resolved_at": at, "gone_reason": reason, "pending_note_events": []}
        fields["occurred_resolved"] = occurred_at or at
        await self._collection.update_one({"_id": doc_id}, {"$set": {**fields, "dirty": True}})

    async def gather_claimed(self, doc_id: str, *, summary_id: str) -> None:
        """Turn a claimed first post into an entry of a burst summary."""
        fields = {"message": "gathered", "summary_id": summary_id, "claim_until": None, "claimed_by": None}
        await self._collection.update_one({"_id": doc_id}, {"$set": fields})

    async def mark_burst_first(self, doc_id: str, *, summary_id: str) -> None:
        """Note that an alert was posted as one of the first of a burst window, which the summary counts."""
        await self._collection.update_one({"_id": doc_id}, {"$set": {"burst_id": summary_id}})

    async def list_burst_firsts(self, summary_id: str) -> list[AlertRecord]:
        """List the alerts posted on their own at the start of a summary's burst window (at most its threshold)."""
        cursor = self._collection.find({"kind_doc": ALERT, "burst_id": summary_id, "summary_id": None}).sort(
            [("first_seen", ASCENDING), ("_id", ASCENDING)]
        )
        return [_to_alert(document) async for document in cursor]

    async def finish_edit(self, record: AlertRecord) -> None:
        """Subtract what an edit sent, so changes recorded meanwhile stay pending."""
        update: dict[str, Any] = {"$inc": {"pending_repeats": -record.pending_repeats}}
        if record.pending_note_events:
            update["$pullAll"] = {"pending_note_events": list(record.pending_note_events)}
        if record.pending_resolution:
            update["$set"] = {"pending_resolution": False}
        await self._collection.update_one({"_id": record.id}, update)

    # --- Bursts and summaries -------------------------------------------------------------------------

    async def count_new_alert(self, *, rule_id: str, group: str, at: datetime, window: timedelta) -> tuple[int, int]:
        """Count a new alert in its burst window; return (window seq, 1-based position in the window).

        The same rule as `bot.alert_policy.count_in_burst`, applied atomically: the window goes on while the
        previous alert is at most `window` old, otherwise a new window (seq + 1) starts.
        """
        doc_id = f"{rule_id}|{BURST}|{group}"
        for _ in range(5):
            document = await self._collection.find_one_and_update(
                {"_id": doc_id, "last_at": {"$gte": at - window}},
                {"$inc": {"alerts": 1}, "$max": {"last_at": at}, "$set": {"expires_at": at + self._retention}},
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                return int(document["seq"]), int(document["alerts"])
            document = await self._collection.find_one_and_update(
                {"_id": doc_id, "last_at": {"$lt": at - window}},
                {"$inc": {"seq": 1}, "$set": {"alerts": 1, "last_at": at, "expires_at": at + self._retention}},
                return_document=ReturnDocument.AFTER,
            )
            if document is not None:
                return int(document["seq"]), 1
            try:
                document = {"_id": doc_id, "kind_doc": BURST, "rule_id": rule_id, "group": group, "seq": 1}
                document.update({"alerts": 1, "last_at": at, "expires_at": at + self._retention})
                await self._collection.insert_one(document)
                return 1, 1
            except DuplicateKeyError:
                continue
        raise RuntimeError(f"burst counter kept changing under concurrent writers (rule {rule_id})")

    async def gather(
        self,
        *,
        summary_id: str,
        rule_id: str,
        team_id: str,
        channel: str,
        group: str,
        notification_type: str,
        client_label: str,
        at: datetime,
        occurred_at: datetime | None = None,
        agency_id: str | None = None,
    ) -> None:
        """Mark a summary changed, creating it on the first alert it gathers."""
        occurred = occurred_at or at
        await self._collection.update_one(
            {"_id": summary_id},
            {
                "$setOnInsert": {
                    "kind_doc": SUMMARY,
                    "rule_id": rule_id,
                    "team_id": team_id,
                    "channel": channel,
                    "group": group,
                    "notification_type": notification_type,
                    "client_label": client_label,
                    "agency_id": agency_id,
                    "ts": None,
                    "posting": False,
                    "claim_until": None,
                    "first_at": at,
                    "next_edit_at": at,
                },
                "$max": {"last_at": at, "occurred_last": occurred, "expires_at": at + self._retention},
                "$min": {"occurred_first": occurred},
                "$set": {"dirty": True},
            },
            upsert=True,
        )

    async def touch_summary(
        self, summary_id: str, *, occurred_at: datetime | None = None, repeat: bool = False
    ) -> None:
        """Mark a summary changed after one of its alerts changed; a repeat is counted and moves its span."""
        update: dict[str, Any] = {"$set": {"dirty": True}}
        if repeat:
            update["$inc"] = {"repeats": 1}
        if occurred_at is not None and repeat:
            update["$max"] = {"occurred_last": occurred_at}
        await self._collection.update_one({"_id": summary_id}, update)

    async def get_summary(self, summary_id: str) -> SummaryRecord | None:
        document = await self._collection.find_one({"_id": summary_id, "kind_doc": SUMMARY})
        return _to_summary(document) if document else None

    async def store_summary_posted(self, summary_id: str, *, ts: str) -> None:
        await self._collection.update_one({"_id": summary_id}, {"$set": {"ts": ts, "posting": False}})

    async def release_summary_claim(self, summary_id: str) -> None:
        """Give up the claim on posting a summary whose post failed, so a later pass may post it."""
        await self._collection.update_one({"_id": summary_id}, {"$set": {"posting": False, "claim_until": None}})

    async def list_gathered(
        self, summary_id: str, *, skip: int = 0, limit: int = 100, latest_first: bool = False
    ) -> list[AlertRecord]:
        """List a summary's alerts, most severe first, then oldest first; or latest occurrence first."""
        if latest_first:
            order = [("occurred_last", DESCENDING), ("_id", ASCENDING)]
        else:
            order = [("severity", DESCENDING), ("first_seen", ASCENDING), ("_id", ASCENDING)]
        cursor = (
            self._collection.find({"kind_doc": ALERT, "summary_id": summary_id}).sort(order).skip(skip).limit(limit)
        )
        return [_to_alert(document) async for document in cursor]

    async def count_gathered(self, summary_id: str, *, status: str | None = None) -> int:
        query: dict[str, Any] = {"kind_doc": ALERT, "summary_id": summary_id}
        if status is not None:
            query["status"] = status
        return int(await self._collection.count_documents(query))

    # --- Paced edits ----------------------------------------------------------------------------------

    async def due_edits(self, *, now: datetime, limit: int = 50) -> list[str]:
        """List documents with changes to send whose pace interval has passed."""
        cursor = (
            self._collection.find({"dirty": True, "next_edit_at": {"$lte": now}}, projection={"_id": 1})
            .sort("next_edit_at", ASCENDING)
            .limit(limit)
        )
        return [document["_id"] async for document in cursor]

    async def take_dirty(self, doc_id: str, *, now: datetime, pace: timedelta, claim: timedelta) -> str | None:
        """Claim the right to send a document's pending changes; return its kind, or None when not due.

        A summary without a message yet is also claimed for posting, so only one worker posts it.
        """
        document = await self._collection.find_one_and_update(
            {
                "_id": doc_id,
                "dirty": True,
                "next_edit_at": {"$lte": now},
                "$or": [{"posting": {"$ne": True}}, {"claim_until": {"$lt": now}}],
                "message": {"$ne": "posting"},
            },
            {"$set": {"dirty": False, "next_edit_at": now + pace}},
            return_document=ReturnDocument.AFTER,
        )
        if document is None:
            return None
        if document["kind_doc"] == SUMMARY and document.get("ts") is None:
            await self._collection.update_one({"_id": doc_id}, {"$set": {"posting": True, "claim_until": now + claim}})
        return str(document["kind_doc"])

    async def postpone_edit(self, doc_id: str, *, until: datetime) -> None:
        """Keep the next edit of a message from being sent before `until`."""
        await self._collection.update_one({"_id": doc_id}, {"$max": {"next_edit_at": until}})

    async def release_post_claims(self, claimed_by: str, *, now: datetime) -> int:
        """End the first-post claims of a delivery that ended without posting, so another may post at once.

        Without this the alert's other deliveries would wait for the claim to expire, spending attempts.
        """
        result = await self._collection.update_many(
            {"kind_doc": ALERT, "message": "posting", "claimed_by": claimed_by},
            {"$set": {"claim_until": now - timedelta(seconds=1)}},
        )
        return int(result.modified_count)

    async def channel_of(self, doc_id: str) -> str | None:
        document = await self._collection.find_one({"_id": doc_id}, projection={"channel": 1})
        return str(document["channel"]) if document and document.get("channel") else None

    async def resume_rule_edits(self, rule_id: str, *, now: datetime) -> int:
        """Make a rule's held edits due now, once its channel works again; return how many."""
        result = await self._collection.update_many(
            {"rule_id": rule_id, "dirty": True}, {"$set": {"next_edit_at": now}}
        )
        return int(result.modified_count)

    async def mark_dirty_again(self, doc_id: str) -> None:
        """Keep changes pending after a failed edit, so the next pass sends them."""
        await self._collection.update_one({"_id": doc_id}, {"$set": {"dirty": True}})

    async def pending_count(self) -> int:
        return int(await self._collection.count_documents({"dirty": True}))


def _occurred_fields(alert: NewAlert) -> dict[str, Any]:
    occurred = alert.occurred_at or alert.at
    return {
        "occurred_first": occurred,
        "occurred_last": occurred,
        "occurred_resolved": None,
        "resolved_value": None,
        "burst_id": None,
    }


def _to_alert(document: dict[str, Any]) -> AlertRecord:
    return AlertRecord(
        id=document["_id"],
        rule_id=document["rule_id"],
        team_id=document["team_id"],
        channel=document["channel"],
        kind=document["kind"],
        key=document["alert_key"],
        group=document["group"],
        status=document["status"],
        message=document["message"],
        ts=document.get("ts"),
        summary_id=document.get("summary_id"),
        occurrences=document["occurrences"],
        first_seen=utc(document["first_seen"]),
        last_seen=utc(document["last_seen"]),
        resolved_at=optional_utc(document.get("resolved_at")),
        event_id=document["event_id"],
        label=document.get("label", ""),
        severity=document.get("severity", 0),
        pending_repeats=document.get("pending_repeats", 0),
        pending_resolution=document.get("pending_resolution", False),
        pending_note_events=tuple(document.get("pending_note_events", [])),
        claim_until=optional_utc(document.get("claim_until")),
        claimed_by=document.get("claimed_by"),
        dirty=document.get("dirty", False),
        gone_reason=document.get("gone_reason"),
        # Documents written before occurred times were stored show arrival times.
        occurred_first=utc(document.get("occurred_first") or document["first_seen"]),
        occurred_last=utc(document.get("occurred_last") or document["last_seen"]),
        occurred_resolved=optional_utc(document.get("occurred_resolved") or document.get("resolved_at")),
        resolved_value=document.get("resolved_value"),
        burst_id=document.get("burst_id"),
    )


def _to_summary(document: dict[str, Any]) -> SummaryRecord:
    return SummaryRecord(
        id=document["_id"],
        rule_id=document["rule_id"],
        team_id=document["team_id"],
        channel=document["channel"],
        group=document["group"],
        notification_type=document["notification_type"],
        client_label=document.get("client_label", document["group"]),
        ts=document.get("ts"),
        posting=document.get("posting", False),
        claim_until=optional_utc(document.get("claim_until")),
        first_at=utc(document["first_at"]),
        last_at=utc(document["last_at"]),
        dirty=document.get("dirty", False),
        occurred_first=optional_utc(document.get("occurred_first")),
        occurred_last=optional_utc(document.get("occurred_last")),
        repeats=int(document.get("repeats", 0)),
        agency_id=document.get("agency_id"),
    )
