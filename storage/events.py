"""`events`: every accepted platform event, unique on its id, kept for the retention period."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, PyMongoError

from storage.database import Database, StorageUnavailable, utc

logger = logging.getLogger(__name__)

DUPLICATE_KEY = 11000


@dataclass(frozen=True)
class NewEvent:
    """An event that passed validation, with its body exactly as the platform sent it."""

    id: str
    type: str
    agency_id: str
    client_id: str | None
    occurred_at: datetime
    body: dict[str, Any]


@dataclass(frozen=True)
class StoredEvent:
    id: str
    type: str
    agency_id: str
    client_id: str | None
    occurred_at: datetime
    body: dict[str, Any]
    received_at: datetime
    routed_at: datetime | None


@dataclass(frozen=True)
class InsertOutcome:
    accepted: list[str]
    duplicates: list[str]


class EventRepository:
    """Stores platform events.

    `insert_batch` stores each new event once: an id already stored, or repeated within the batch, is
    reported as a duplicate and left untouched. When MongoDB fails it raises `StorageUnavailable`; events
    written before the failure stay stored and unrouted, so the routing sweep delivers them and a retry by
    the platform reports them as duplicates.
    """

    def __init__(self, database: Database, *, retention: timedelta) -> None:
        self._collection = database.collection("events")
        self._retention = retention

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("routed_at", ASCENDING), ("received_at", ASCENDING)])
        await self._collection.create_index("expires_at", expireAfterSeconds=0)
        await self._collection.create_index([("agency_id", ASCENDING), ("client_id", ASCENDING), ("received_at", -1)])

    async def insert_batch(self, events: Sequence[NewEvent], *, now: datetime) -> InsertOutcome:
        documents, repeated = self._documents(events, now=now)
        stored_before: list[str] = []
        if documents:
            try:
                await self._collection.insert_many(documents, ordered=False)
            except BulkWriteError as error:
                stored_before = self._duplicate_ids(error, documents)
            except PyMongoError as error:
                logger.error("Failed to store events (count %d, error %s)", len(documents), error)
                raise StorageUnavailable(str(error)) from error
        already = set(stored_before)
        accepted = [document["_id"] for document in documents if document["_id"] not in already]
        return InsertOutcome(accepted=accepted, duplicates=stored_before + repeated)

    def _documents(self, events: Sequence[NewEvent], *, now: datetime) -> tuple[list[dict[str, Any]], list[str]]:
        seen: set[str] = set()
        repeated: list[str] = []
        documents = []
        for event in events:
            if event.id in seen:
                repeated.append(event.id)
                continue
            seen.add(event.id)
            documents.append(
                {
                    "_id": event.id,
                    "type": event.type,
                    "agency_id": event.agency_id,
                    "client_id": event.client_id,
                    "occurred_at": event.occurred_at,
                    # NOTE: kept as JSON text, because unknown fields may use keys MongoDB restricts
                    # (dots, a leading `$`), and they must come back exactly as sent.
                    "body": json.dumps(event.body, ensure_ascii=False),
                    "received_at": now,
                    "routed_at": None,
                    "expires_at": now + self._retention,
                }
            )
        return documents, repeated

    @staticmethod
    def _duplicate_ids(error: BulkWriteError, documents: list[dict[str, Any]]) -> list[str]:
        write_errors = error.details.get("writeErrors", [])
        other = [entry for entry in write_errors if entry.get("code") != DUPLICATE_KEY]
        if other:
            logger.error("Failed to store events (count %d, error %s)", len(other), other[0].get("errmsg"))
            raise StorageUnavailable(str(other[0].get("errmsg"))) from error
        return [documents[entry["index"]]["_id"] for entry in write_errors]

    async def find(self, event_id: str) -> StoredEvent | None:
        document = await self._collection.find_one({"_id": event_id})
        return _to_event(document) if document else None

    async def find_unrouted(self, *, received_before: datetime, limit: int) -> list[StoredEvent]:
        cursor = (
            self._collection.find({"routed_at": None, "received_at": {"$lt": received_before}})
            .sort("received_at", ASCENDING)
            .limit(limit)
        )
        return [_to_event(document) async for document in cursor]

    async def last_received(self, *, agency_id: str, client_id: str | None = None) -> datetime | None:
        """Return when the latest event of an agency (or of one of its clients) arrived."""
        query: dict[str, Any] = {"agency_id": agency_id}
        if client_id is not None:
            query["client_id"] = client_id
        document = await self._collection.find_one(query, sort=[("received_at", -1)], projection={"received_at": 1})
        return utc(document["received_at"]) if document else None

    async def list_received_between(
        self,
        *,
        agency_id: str,
        types: Sequence[str],
        start: datetime,
        end: datetime,
        client_id: str | None = None,
        limit: int,
    ) -> list[StoredEvent]:
        """List an agency's events of `types` received from `start` to `end` inclusive, oldest first, at most `limit`.

        With `client_id`, only that client's events are listed.
        """
        query: dict[str, Any] = {"agency_id": agency_id, "type": {"$in": list(types)}}
        if client_id is not None:
            query["client_id"] = client_id
        query["received_at"] = {"$gte": start, "$lte": end}
        cursor = self._collection.find(query).sort([("received_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        return [_to_event(document) async for document in cursor]

    async def list_of_type(
        self, *, agency_id: str, client_id: str, event_type: str, since: datetime, limit: int = 200
    ) -> list[StoredEvent]:
        """Return a client's events of one type received since `since`, oldest first."""
        query = {"agency_id": agency_id, "client_id": client_id, "type": event_type, "received_at": {"$gte": since}}
        cursor = self._collection.find(query).sort("received_at", ASCENDING).limit(limit)
        return [_to_event(document) async for document in cursor]

    async def mark_routed(self, event_id: str, *, now: datetime) -> None:
        await self._collection.update_one({"_id": event_id, "routed_at": None}, {"$set": {"routed_at": now}})


def _to_event(document: dict[str, Any]) -> StoredEvent:
    routed_at = document.get("routed_at")
    return StoredEvent(
        id=document["_id"],
        type=document["type"],
        agency_id=document["agency_id"],
        client_id=document.get("client_id"),
        occurred_at=utc(document["occurred_at"]),
        body=json.loads(document["body"]),
        received_at=utc(document["received_at"]),
        routed_at=utc(routed_at) if routed_at else None,
    )
