"""The MongoDB connection: pymongo's async client, or mongomock-motor for the in-memory store.

This module hides the one API difference between the two drivers that the repositories meet: pymongo's
`AsyncCollection.aggregate()` and `list_indexes()` are coroutines returning a cursor, while mongomock-motor
returns the cursor directly.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pymongo
from pymongo import AsyncMongoClient
from pymongo.errors import PyMongoError

logger = logging.getLogger(__name__)

# How long a query may wait for a server before it fails, so that /readyz and the ingest endpoint answer
# 503 in seconds instead of pymongo's default 30 seconds.
SERVER_SELECTION_TIMEOUT_MS = 5_000


class StorageUnavailable(Exception):
    """MongoDB did not answer or failed; nothing of the operation is known to be stored."""


class OutageSwitch:
    """Test-only: while `down` is True, every call through the `Database` raises `StorageUnavailable`.

    It simulates a MongoDB server that stops responding, which tests cannot stop and restart. Nothing in
    the settings creates one; a test sets `database.outage` before the repositories are created.
    """

    def __init__(self) -> None:
        self.down = False
        self.rejected_calls = 0

    def check(self, operation: str) -> None:
        if self.down:
            self.rejected_calls += 1
            raise StorageUnavailable(f"MongoDB is unavailable (simulated outage, operation {operation})")


class _SwitchedCollection:
    """A collection whose every method call checks the outage switch first."""

    def __init__(self, collection: Any, outage: OutageSwitch) -> None:
        self._collection = collection
        self._outage = outage

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._collection, name)
        if not callable(attribute):
            return attribute

        def checked(*args: Any, **kwargs: Any) -> Any:
            self._outage.check(f"{self._collection.name}.{name}")
            return attribute(*args, **kwargs)

        return checked


class Database:
    """One database handle shared by all repositories, created at start and closed at shutdown."""

    def __init__(self, client: Any, name: str, *, in_memory: bool) -> None:
        self.client = client
        self.db = client[name]
        self.in_memory = in_memory
        # Tests only: see OutageSwitch.
        self.outage: OutageSwitch | None = None

    def collection(self, name: str) -> Any:
        if self.outage is not None:
            return _SwitchedCollection(self.db[name], self.outage)
        return self.db[name]

    async def aggregate(self, collection: str, pipeline: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        if self.outage is not None:
            self.outage.check(f"{collection}.aggregate")
        cursor = self.db[collection].aggregate(list(pipeline))
        if inspect.isawaitable(cursor):
            cursor = await cursor
        return [document async for document in cursor]

    async def index_names(self, collection: str) -> set[str]:
        if self.outage is not None:
            self.outage.check(f"{collection}.list_indexes")
        cursor = self.db[collection].list_indexes()
        if inspect.isawaitable(cursor):
            cursor = await cursor
        return {index["name"] async for index in cursor}

    async def ping(self) -> bool:
        try:
            if self.outage is not None:
                self.outage.check("ping")
            await self.db.command("ping")
        except (PyMongoError, StorageUnavailable) as error:
            logger.warning("MongoDB ping failed (error %s)", type(error).__name__)
            return False
        return True

    async def ping_failure(self, *, timeout: float | None = None) -> str | None:
        """Send `ping` and return None when the server responds, else the driver's one-line reason.

        `timeout` (seconds) bounds server selection and the command, in place of the client's own timeout.
        """
        try:
            if timeout is None:
                await self.db.command("ping")
            else:
                with pymongo.timeout(timeout):
                    await self.db.command("ping")
        except PyMongoError as error:
            return driver_reason(error)
        return None

    async def close(self) -> None:
        result = self.client.close()
        if inspect.isawaitable(result):
            await result


# pymongo appends its timeouts and the whole topology description to a server selection error.
_DRIVER_DETAIL = re.compile(r" \(configured timeouts:[^)]*\)|, Timeout: .*$")


def driver_reason(error: PyMongoError) -> str:
    """Return the first line of a driver error without the timeouts and topology that pymongo appends."""
    lines = str(error).strip().splitlines()
    first = lines[0] if lines else ""
    return _DRIVER_DETAIL.sub("", first).strip() or type(error).__name__


def open_database(uri: str | None, name: str) -> Database:
    """Connect lazily to `uri`, or open a fresh in-memory store when `uri` is None."""
    if uri is None:
        from mongomock_motor import AsyncMongoMockClient

        return Database(AsyncMongoMockClient(tz_aware=True), name, in_memory=True)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri, tz_aware=True, serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS, appname="missioncontrol-slack"
    )
    return Database(client, name, in_memory=False)


def utc(value: datetime) -> datetime:
    """Return `value` as an aware UTC datetime; BSON dates carry no offset."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def optional_utc(value: datetime | None) -> datetime | None:
    """Return `value` as an aware UTC datetime, or None when the field is unset."""
    return None if value is None else utc(value)
