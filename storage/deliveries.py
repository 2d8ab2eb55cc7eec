"""`deliveries`: the outbox. One document per (event, rule), written before the message is sent."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError

from storage.database import Database, StorageUnavailable, optional_utc, utc
from storage.models import Delivery, DeliveryState, Rule

logger = logging.getLogger(__name__)

DUPLICATE_KEY = 11000
# Deliveries that ended without a message; an operator or a manager may put them back in the queue.
ENDED_UNSENT = (DeliveryState.FAILED.value, DeliveryState.DEAD.value)


def delivery_id(*, rule_id: str, event_id: str) -> str:
    # Rule ids contain no colon, so this is unambiguous whatever characters the event id has.
    return f"{rule_id}:{event_id}"


class DeliveryRepository:
    """Stores deliveries and hands them to workers.

    `create_for_event` is idempotent: a second call for the same event and rule changes nothing. A worker
    owns a delivery between `claim_next` and one of `mark_sent`, `retry_later` or `finish`; those calls
    change nothing when the lease has passed to another worker, and return False then. A lease that is
    not renewed or released expires, and the delivery is claimed again.
    """

    def __init__(self, database: Database, *, retention: timedelta) -> None:
        self._collection = database.collection("deliveries")
        self._retention = retention

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("event_id", ASCENDING), ("rule_id", ASCENDING)], unique=True, name="event_rule"
        )
        await self._collection.create_index([("state", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._collection.create_index("expires_at", expireAfterSeconds=0)
        await self._collection.create_index([("team_id", ASCENDING), ("state", ASCENDING)])

    async def create_for_event(self, event_id: str, rules: Sequence[Rule], *, now: datetime) -> int:
        """Create one pending delivery per rule; return how many were new."""
        documents = [self._new_document(event_id, rule, now) for rule in rules]
        if not documents:
            return 0
        try:
            await self._collection.insert_many(documents, ordered=False)
        except BulkWriteError as error:
            write_errors = error.details.get("writeErrors", [])
            other = [entry for entry in write_errors if entry.get("code") != DUPLICATE_KEY]
            if other:
                raise StorageUnavailable(str(other[0].get("errmsg"))) from error
            return len(documents) - len(write_errors)
        return len(documents)

    def _new_document(self, event_id: str, rule: Rule, now: datetime) -> dict[str, Any]:
        return {
            "_id": delivery_id(rule_id=rule.id, event_id=event_id),
            "event_id": event_id,
            "rule_id": rule.id,
            "team_id": rule.team_id,
            "channel": rule.channel,
            "state": DeliveryState.PENDING.value,
            "attempts": 0,
            "next_attempt_at": now,
            "lease_owner": None,
            "lease_until": None,
            "ts": None,
            "last_error": None,
            "created_at": now,
            "updated_at": now,
            "expires_at": now + self._retention,
        }

    async def claim_next(self, *, owner: str, now: datetime, lease: timedelta) -> Delivery | None:
        """Lease the pending delivery that is due first, counting the attempt."""
        document = await self._collection.find_one_and_update(
            {
                "state": DeliveryState.PENDING.value,
                "next_attempt_at": {"$lte": now},
                "$or": [{"lease_until": None}, {"lease_until": {"$lt": now}}],
            },
            {"$set": {"lease_owner": owner, "lease_until": now + lease, "updated_at": now}, "$inc": {"attempts": 1}},
            sort=[("next_attempt_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return _to_delivery(document) if document else None

    async def mark_sent(self, delivery: Delivery, *, ts: str | None, now: datetime) -> bool:
        return await self._finish_lease(
            delivery, {"state": DeliveryState.SENT.value, "ts": ts, "last_error": None}, now=now
        )

    async def retry_later(self, delivery: Delivery, *, at: datetime, error: str, now: datetime) -> bool:
        return await self._finish_lease(delivery, {"next_attempt_at": at, "last_error": error}, now=now)

    async def postpone(self, delivery: Delivery, *, at: datetime, now: datetime) -> bool:
        """Put a claimed delivery back, due at `at`, without counting the attempt (no Slack call was made)."""
        return await self._finish_lease(delivery, {"next_attempt_at": at}, now=now, attempts=-1)

    async def finish(self, delivery: Delivery, *, state: DeliveryState, error: str, now: datetime) -> bool:
        return await self._finish_lease(delivery, {"state": state.value, "last_error": error}, now=now)

    async def _finish_lease(
        self, delivery: Delivery, fields: dict[str, Any], *, now: datetime, attempts: int = 0
    ) -> bool:
        update: dict[str, Any] = {"$set": {**fields, "lease_owner": None, "lease_until": None, "updated_at": now}}
        if attempts:
            update["$inc"] = {"attempts": attempts}
        result = await self._collection.update_one(
            {"_id": delivery.id, "lease_owner": delivery.lease_owner, "state": DeliveryState.PENDING.value}, update
        )
        if not result.modified_count:
            logger.warning("Delivery lease was lost before the result was stored (delivery %s)", delivery.id)
        return bool(result.modified_count)

    async def hold(self, delivery: Delivery, *, reason: str, now: datetime) -> bool:
        """Keep a leased delivery unsent, without using up its attempts, until `release_held` requeues it."""
        fields = {"state": DeliveryState.HELD.value, "last_error": reason, "attempts": max(0, delivery.attempts - 1)}
        return await self._finish_lease(delivery, fields, now=now)

    async def release_held(self, rule_id: str, *, channel: str, now: datetime) -> int:
        """Make the held deliveries of a rule pending and due now, addressed to `channel`; return how many."""
        result = await self._collection.update_many(
            {"rule_id": rule_id, "state": DeliveryState.HELD.value},
            {
                "$set": {
                    "state": DeliveryState.PENDING.value,
                    "channel": channel,
                    "next_attempt_at": now,
                    "lease_owner": None,
                    "lease_until": None,
                    "updated_at": now,
                }
            },
        )
        return int(result.modified_count)

    async def count_held(self, rule_id: str) -> int:
        return int(await self._collection.count_documents({"rule_id": rule_id, "state": DeliveryState.HELD.value}))

    async def release_leases(self, *, owner: str, now: datetime) -> int:
        result = await self._collection.update_many(
            {"lease_owner": owner, "state": DeliveryState.PENDING.value},
            {"$set": {"lease_owner": None, "lease_until": None, "updated_at": now}},
        )
        return int(result.modified_count)

    async def get(self, delivery_id_: str) -> Delivery | None:
        document = await self._collection.find_one({"_id": delivery_id_})
        return _to_delivery(document) if document else None

    async def list_by_state(self, *, states: Sequence[DeliveryState] | None = None, limit: int = 100) -> list[Delivery]:
        query = {"state": {"$in": [state.value for state in states]}} if states else {}
        cursor = self._collection.find(query).sort("created_at", -1).limit(limit)
        return [_to_delivery(document) async for document in cursor]

    async def for_event(self, event_id: str) -> list[Delivery]:
        cursor = self._collection.find({"event_id": event_id})
        return [_to_delivery(document) async for document in cursor]

    async def count_for_team(self, team_id: str, state: DeliveryState) -> int:
        return int(await self._collection.count_documents({"team_id": team_id, "state": state.value}))

    async def list_latest(self, *, team_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """Return deliveries in any state, the most recently changed first."""
        query: dict[str, Any] = {} if team_id is None else {"team_id": team_id}
        cursor = self._collection.find(query).sort("updated_at", -1).limit(limit)
        return [_to_delivery(document) async for document in cursor]

    async def list_unsent(self, *, team_id: str | None = None, limit: int = 100) -> list[Delivery]:
        """Return failed and dead deliveries, the most recently ended first, of one workspace or of all."""
        query: dict[str, Any] = {"state": {"$in": list(ENDED_UNSENT)}}
        if team_id is not None:
            query["team_id"] = team_id
        cursor = self._collection.find(query).sort("updated_at", -1).limit(limit)
        return [_to_delivery(document) async for document in cursor]

    async def count_unsent(self, *, team_id: str | None = None) -> int:
        query: dict[str, Any] = {"state": {"$in": list(ENDED_UNSENT)}}
        if team_id is not None:
            query["team_id"] = team_id
        return int(await self._collection.count_documents(query))

    async def requeue(self, delivery_id_: str, *, now: datetime, team_id: str | None = None) -> Delivery | None:
        """Put one failed or dead delivery back as pending, due now, with its attempts reset.

        Return the delivery as it was before, or None when no unsent delivery has that id (in `team_id`, when
        given). The retention period starts again, so a retried delivery does not expire while it waits.
        """
        query: dict[str, Any] = {"_id": delivery_id_, "state": {"$in": list(ENDED_UNSENT)}}
        if team_id is not None:
            query["team_id"] = team_id
        document = await self._collection.find_one_and_update(
            query, self._requeue_update(now), return_document=ReturnDocument.BEFORE
        )
        return _to_delivery(document) if document else None

    async def requeue_all(self, *, team_id: str, now: datetime) -> int:
        """Put every failed and dead delivery of a workspace back as pending; return how many."""
        result = await self._collection.update_many(
            {"team_id": team_id, "state": {"$in": list(ENDED_UNSENT)}}, self._requeue_update(now)
        )
        return int(result.modified_count)

    async def teams_with_unsent(self) -> list[str]:
        values = await self._collection.distinct("team_id", {"state": {"$in": list(ENDED_UNSENT)}})
        return sorted(str(value) for value in values)

    def _requeue_update(self, now: datetime) -> dict[str, Any]:
        return {
            "$set": {
                "state": DeliveryState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "lease_owner": None,
                "lease_until": None,
                "updated_at": now,
                "expires_at": now + self._retention,
            }
        }

    async def count_pending(self) -> int:
        return int(await self._collection.count_documents({"state": DeliveryState.PENDING.value}))

    async def oldest_pending_created_at(self) -> datetime | None:
        document = await self._collection.find_one(
            {"state": DeliveryState.PENDING.value}, sort=[("created_at", ASCENDING)], projection={"created_at": 1}
        )
        return utc(document["created_at"]) if document else None

    async def next_due(self) -> datetime | None:
        """Return when the earliest pending delivery is due, so idle workers know how long to sleep."""
        document = await self._collection.find_one(
            {"state": DeliveryState.PENDING.value}, sort=[("next_attempt_at", ASCENDING)]
        )
        return utc(document["next_attempt_at"]) if document else None


def _to_delivery(document: dict[str, Any]) -> Delivery:
    return Delivery(
        id=document["_id"],
        event_id=document["event_id"],
        rule_id=document["rule_id"],
        team_id=document["team_id"],
        channel=document["channel"],
        state=DeliveryState(document["state"]),
        attempts=document["attempts"],
        next_attempt_at=utc(document["next_attempt_at"]),
        lease_owner=document.get("lease_owner"),
        lease_until=optional_utc(document.get("lease_until")),
        ts=document.get("ts"),
        last_error=document.get("last_error"),
        created_at=utc(document["created_at"]),
        updated_at=optional_utc(document.get("updated_at")),
    )
