"""GrantRepository: pending grants taken once per OAuth state, and used grant ids that cannot be used again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo.errors import DuplicateKeyError

from storage.database import Database
from storage.grants import PENDING, USED, GrantRepository
from tests.conftest import FakeClock

GRANT: dict[str, Any] = {"grant_id": "g-1", "agency_id": "ag-acme", "client_id": "cl-alpha", "user": "mc-42"}


@pytest.fixture
def clock() -> FakeClock:
    # mongomock applies TTL indexes against the wall clock on every read, so a fake clock that starts in the
    # past would see its documents vanish at once. Whole seconds, because BSON dates keep milliseconds.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def grants(database: Database, clock: FakeClock) -> GrantRepository:
    repository = GrantRepository(database, clock=clock.now)
    await repository.ensure_indexes()
    return repository


async def test_take_returns_remembered_grant(grants: GrantRepository, clock: FakeClock) -> None:
    await grants.remember_for_state("state-1", GRANT, expires_at=clock.now() + timedelta(minutes=10))

    assert await grants.take_for_state("state-1") == GRANT


async def test_take_is_single_use(grants: GrantRepository, clock: FakeClock) -> None:
    await grants.remember_for_state("state-1", GRANT, expires_at=clock.now() + timedelta(minutes=10))

    first = await grants.take_for_state("state-1")
    second = await grants.take_for_state("state-1")

    assert first == GRANT
    assert second is None


async def test_concurrent_takes_return_grant_once(grants: GrantRepository, clock: FakeClock) -> None:
    await grants.remember_for_state("state-1", GRANT, expires_at=clock.now() + timedelta(minutes=10))

    results = await asyncio.gather(*(grants.take_for_state("state-1") for _ in range(5)))

    assert [result for result in results if result is not None] == [GRANT]


async def test_take_unknown_state(grants: GrantRepository) -> None:
    assert await grants.take_for_state("never-remembered") is None


async def test_take_after_expiry(grants: GrantRepository, database: Database, clock: FakeClock) -> None:
    await grants.remember_for_state("state-1", GRANT, expires_at=clock.now() + timedelta(minutes=10))
    clock.advance(minutes=10)

    assert await grants.take_for_state("state-1") is None
    assert await database.collection(PENDING).find_one({"_id": "state-1"}) is None


async def test_grants_are_kept_per_state(grants: GrantRepository, clock: FakeClock) -> None:
    other = {**GRANT, "grant_id": "g-2"}
    expires_at = clock.now() + timedelta(minutes=10)
    await grants.remember_for_state("state-1", GRANT, expires_at=expires_at)
    await grants.remember_for_state("state-2", other, expires_at=expires_at)

    assert await grants.take_for_state("state-2") == other
    assert await grants.take_for_state("state-1") == GRANT


async def test_remember_same_state_twice_raises(grants: GrantRepository, clock: FakeClock) -> None:
    expires_at = clock.now() + timedelta(minutes=10)
    await grants.remember_for_state("state-1", GRANT, expires_at=expires_at)

    with pytest.raises(DuplicateKeyError):
        await grants.remember_for_state("state-1", {**GRANT, "grant_id": "g-2"}, expires_at=expires_at)

    assert await grants.take_for_state("state-1") == GRANT


async def test_mark_used_once(grants: GrantRepository, clock: FakeClock) -> None:
    expires_at = clock.now() + timedelta(hours=1)

    first = await grants.mark_used("g-1", expires_at=expires_at)
    second = await grants.mark_used("g-1", expires_at=expires_at)

    assert first is True
    assert second is False


async def test_concurrent_mark_used_wins_once(grants: GrantRepository, clock: FakeClock) -> None:
    expires_at = clock.now() + timedelta(hours=1)

    results = await asyncio.gather(*(grants.mark_used("g-1", expires_at=expires_at) for _ in range(5)))

    assert sorted(results) == [False, False, False, False, True]


async def test_is_used(grants: GrantRepository, clock: FakeClock) -> None:
    assert await grants.is_used("g-1") is False

    await grants.mark_used("g-1", expires_at=clock.now() + timedelta(hours=1))

    assert await grants.is_used("g-1") is True
    assert await grants.is_used("g-2") is False


async def test_ttl_indexes(grants: GrantRepository, database: Database) -> None:
    assert "install_grant_pending_ttl" in await database.index_names(PENDING)
    assert "install_grant_used_ttl" in await database.index_names(USED)
