"""`audit_log`: who changed which rule or setting, when, with the values before and after."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING

from storage.database import Database, utc
from storage.models import AuditEntry

# Audit entries outlive events and deliveries: a year, so "who changed this rule" has an answer.
AUDIT_RETENTION = timedelta(days=365)


class AuditRepository:
    """Append-only log of changes made in Slack or on the command line."""

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("audit_log")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index([("team_id", ASCENDING), ("at", DESCENDING)])
        await self._collection.create_index("expires_at", expireAfterSeconds=0)

    async def record(
        self,
        *,
        team_id: str,
        user_id: str,
        action: str,
        target: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        now: datetime,
    ) -> None:
        await self._collection.insert_one(
            {
                "team_id": team_id,
                "user_id": user_id,
                "action": action,
                "target": target,
                "before": before,
                "after": after,
                "at": now,
                "expires_at": now + AUDIT_RETENTION,
            }
        )

    async def latest(self, team_id: str, *, limit: int = 10) -> list[AuditEntry]:
        cursor = self._collection.find({"team_id": team_id}).sort("at", DESCENDING).limit(limit)
        return [_to_entry(document) async for document in cursor]


def _to_entry(document: dict[str, Any]) -> AuditEntry:
    return AuditEntry(
        team_id=document["team_id"],
        user_id=document["user_id"],
        action=document["action"],
        target=document["target"],
        before=document.get("before"),
        after=document.get("after"),
        at=utc(document["at"]),
    )
