"""Retention: events, deliveries and Houston threads get an `expires_at` that a TTL index deletes them by."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, timedelta

import pytest

from storage.database import Database
from storage.events import NewEvent
from storage.models import NotificationType
from storage.rules import RuleSpec
from storage.store import Storage

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(event_id: str) -> NewEvent:
    body = {"id": event_id, "type": "system.error", "agency_id": "ag-acme", "client_id": None, "data": {}}
    return NewEvent(id=event_id, type="system.error", agency_id="ag-acme", client_id=None, occurred_at=NOW, body=body)


async def expiry(database: Database, collection: str, query: dict[str, object]) -> datetime:
    document = await database.collection(collection).find_one(query)
    assert document is not None
    value = document["expires_at"]
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        pytest.param((30, None, None), (30, 30, 90), id="defaults"),
        pytest.param((10, 20, 40), (10, 20, 40), id="each-set"),
    ],
)
async def test_expiry_per_collection(
    database: Database, days: tuple[int, int | None, int | None], expected: tuple[int, int, int]
) -> None:
    events_days, delivery_days, houston_days = days
    storage = Storage.create(
        database, retention_days=events_days, delivery_retention_days=delivery_days, houston_retention_days=houston_days
    )
    await storage.ensure_indexes()
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.SYSTEM_ERRORS), now=NOW)

    await storage.events.insert_batch([event("evt-retention")], now=NOW)
    await storage.deliveries.create_for_event("evt-retention", [rule], now=NOW)
    await storage.houston_threads.save("T0001:C0001:1.0", team_id="T0001", active_client_id=None, messages=[], now=NOW)

    assert await expiry(database, "events", {"_id": "evt-retention"}) == NOW + timedelta(days=expected[0])
    assert await expiry(database, "deliveries", {"event_id": "evt-retention"}) == NOW + timedelta(days=expected[1])
    assert await expiry(database, "houston_threads", {"team_id": "T0001"}) == NOW + timedelta(days=expected[2])


async def test_ttl_indexes_exist(storage: Storage) -> None:
    for collection in ("events", "deliveries", "houston_threads"):
        cursor = storage.database.db[collection].list_indexes()
        if inspect.isawaitable(cursor):
            cursor = await cursor
        indexes = [index async for index in cursor]
        ttl = [index for index in indexes if index.get("expireAfterSeconds") == 0]
        assert [dict(index["key"]) for index in ttl] == [{"expires_at": 1}], collection
