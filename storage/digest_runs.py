"""`digest_runs`: one record per (workspace, local date) whose digest was claimed for sending.

Inserting the record is the claim: the unique index lets exactly one scheduler, of any number of replicas,
send a workspace's digest for a date.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from storage.database import Database

logger = logging.getLogger(__name__)

# Kept long enough to answer "was today's digest sent" across restarts and time-zone changes.
RUN_RETENTION = timedelta(days=30)


class DigestRunRepository:
    """Claims and records digest runs.

    `claim` returns True for exactly one caller per (team, local date). `last_sent_date` is the latest date
    claimed for a team, which the schedule uses so a changed time or zone never sends a date twice.
    """

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("digest_runs")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(
            [("team_id", ASCENDING), ("local_date", ASCENDING)], unique=True, name="team_date"
        )
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def claim(self, *, team_id: str, local_date: date, owner: str, now: datetime) -> bool:
        try:
            await self._collection.insert_one(
                {
                    "team_id": team_id,
                    "local_date": local_date.isoformat(),
                    "owner": owner,
                    "claimed_at": now,
                    "status": "claimed",
                    "expires_at": now + RUN_RETENTION,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def finish(
        self, *, team_id: str, local_date: date, status: str, detail: dict[str, Any], now: datetime
    ) -> None:
        await self._collection.update_one(
            {"team_id": team_id, "local_date": local_date.isoformat()},
            {"$set": {"status": status, "detail": detail, "finished_at": now}},
        )

    async def last_sent_date(self, team_id: str) -> date | None:
        document = await self._collection.find_one({"team_id": team_id}, sort=[("local_date", DESCENDING)])
        return date.fromisoformat(document["local_date"]) if document else None

    async def count_for(self, team_id: str) -> int:
        return int(await self._collection.count_documents({"team_id": team_id}))
