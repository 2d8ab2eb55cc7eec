"""`houston_requests`: questions Houston has taken on, so a retried Slack event or a double click never
produces a second answer."""

from __future__ import annotations

from datetime import datetime, timedelta

from pymongo.errors import DuplicateKeyError

from storage.database import Database

# Slack retries an event within minutes; a day is far beyond that and keeps the collection small.
REQUEST_RETENTION = timedelta(days=1)


class HoustonRequestRepository:
    """Claims request keys (a Slack event id, or a button press on one message); each key is claimed once."""

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("houston_requests")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def claim(self, key: str, *, now: datetime) -> bool:
        try:
            await self._collection.insert_one({"_id": key, "claimed_at": now, "expires_at": now + REQUEST_RETENTION})
        except DuplicateKeyError:
            return False
        return True
