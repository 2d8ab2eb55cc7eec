"""MongoOAuthStateStore: random single-use states that expire by the injected clock."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest

from storage.database import Database, utc
from storage.oauth_states import COLLECTION, MongoOAuthStateStore
from tests.conftest import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    # mongomock applies TTL indexes against the wall clock on every read, so a fake clock that starts in the
    # past would see its documents vanish at once. Whole seconds, because BSON dates keep milliseconds.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def states(database: Database, clock: FakeClock) -> MongoOAuthStateStore:
    store = MongoOAuthStateStore(database, expiration_seconds=600, clock=clock.now)
    await store.ensure_indexes()
    return store


async def test_issue_returns_random_url_safe_states(states: MongoOAuthStateStore) -> None:
    issued = [await states.async_issue() for _ in range(20)]

    assert len(set(issued)) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", state) for state in issued)


async def test_issue_stores_creation_and_expiry(
    states: MongoOAuthStateStore, database: Database, clock: FakeClock
) -> None:
    state = await states.async_issue()

    document = await database.collection(COLLECTION).find_one({"_id": state})

    assert document is not None
    assert utc(document["created_at"]) == clock.now()
    assert utc(document["expires_at"]) == clock.now() + timedelta(seconds=600)


async def test_issue_ignores_arguments(states: MongoOAuthStateStore) -> None:
    state = await states.async_issue("anything", extra=1)

    assert await states.async_consume(state) is True


async def test_consume_is_single_use(states: MongoOAuthStateStore, database: Database) -> None:
    state = await states.async_issue()

    first = await states.async_consume(state)
    second = await states.async_consume(state)

    assert first is True
    assert second is False
    assert await database.collection(COLLECTION).find_one({"_id": state}) is None


async def test_concurrent_consumes_succeed_once(states: MongoOAuthStateStore) -> None:
    state = await states.async_issue()

    results = await asyncio.gather(*(states.async_consume(state) for _ in range(5)))

    assert sorted(results) == [False, False, False, False, True]


async def test_consume_unknown_state(states: MongoOAuthStateStore) -> None:
    assert await states.async_consume("never-issued") is False


async def test_consume_at_expiration_succeeds(states: MongoOAuthStateStore, clock: FakeClock) -> None:
    state = await states.async_issue()
    clock.advance(seconds=600)

    assert await states.async_consume(state) is True


async def test_consume_after_expiration_fails(
    states: MongoOAuthStateStore, database: Database, clock: FakeClock
) -> None:
    state = await states.async_issue()
    clock.advance(seconds=601)

    assert await states.async_consume(state) is False
    assert await database.collection(COLLECTION).find_one({"_id": state}) is None


async def test_custom_expiration(database: Database, clock: FakeClock) -> None:
    states = MongoOAuthStateStore(database, expiration_seconds=30, clock=clock.now)
    state = await states.async_issue()
    clock.advance(seconds=31)

    assert await states.async_consume(state) is False


async def test_ttl_index(states: MongoOAuthStateStore, database: Database) -> None:
    assert "oauth_state_ttl" in await database.index_names(COLLECTION)
