"""The test-only outage switch: every database call fails while it is down, and works again after."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from storage.database import OutageSwitch, StorageUnavailable, open_database
from storage.models import NotificationType
from storage.rules import RuleSpec
from storage.store import Storage

NOW = datetime(2026, 12, 1, tzinfo=UTC)


async def test_switch_fails_every_call_while_down() -> None:
    database = open_database(None, "outage_test")
    switch = OutageSwitch()
    database.outage = switch
    storage = Storage.create(database, retention_days=30)
    await storage.ensure_indexes()
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.SYSTEM_ERRORS), now=NOW)

    switch.down = True
    with pytest.raises(StorageUnavailable, match=r"rules\.find_one"):
        await storage.rules.get(rule.id)
    with pytest.raises(StorageUnavailable):
        await storage.deliveries.list_unsent()
    with pytest.raises(StorageUnavailable):
        await database.aggregate("rules", [{"$match": {}}])
    assert await database.ping() is False
    assert switch.rejected_calls == 4

    switch.down = False
    assert await storage.rules.get(rule.id) == rule
    assert await database.ping() is True


async def test_database_without_switch_is_unwrapped() -> None:
    database = open_database(None, "outage_test")
    assert database.outage is None
    assert type(database.collection("rules")) is type(database.db["rules"])
