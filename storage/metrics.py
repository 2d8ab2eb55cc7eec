"""`metrics`: daily metric snapshots per client and marketing channel (`metrics.snapshot` events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from storage.database import Database
from storage.state import upsert_if_newer

KEY = [("agency_id", ASCENDING), ("client_id", ASCENDING), ("date", ASCENDING), ("channel", ASCENDING)]


@dataclass(frozen=True)
class MetricsSnapshot:
    agency_id: str
    client_id: str
    date: str
    channel: str
    metrics: dict[str, float]


class MetricsRepository:
    """One snapshot per (agency, client, date, channel); the snapshot that occurred last wins."""

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("metrics")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(KEY, unique=True, name="metrics_key")

    async def apply_snapshot(
        self,
        *,
        agency_id: str,
        client_id: str,
        date: str,
        channel: str,
        metrics: dict[str, float],
        occurred_at: datetime,
    ) -> bool:
        key = {"agency_id": agency_id, "client_id": client_id, "date": date, "channel": channel}
        update = {"$set": {"metrics": metrics}}
        return await upsert_if_newer(self._collection, key, occurred_at=occurred_at, update=update)

    async def list_for_client(
        self, *, agency_id: str, client_id: str, date_from: str, date_to: str
    ) -> list[MetricsSnapshot]:
        query = {"agency_id": agency_id, "client_id": client_id, "date": {"$gte": date_from, "$lte": date_to}}
        cursor = self._collection.find(query).sort([("date", ASCENDING), ("channel", ASCENDING)])
        return [_to_snapshot(document) async for document in cursor]

    async def list_for_agency(
        self, *, agency_id: str, client_ids: Sequence[str] | None = None, date_from: str, date_to: str
    ) -> list[MetricsSnapshot]:
        """List the agency's snapshots dated from `date_from` to `date_to` (both "YYYY-MM-DD", inclusive).

        With `client_ids`, only the snapshots of those clients are listed. Sorted by client, date and channel.
        """
        query: dict[str, Any] = {"agency_id": agency_id, "date": {"$gte": date_from, "$lte": date_to}}
        if client_ids is not None:
            query["client_id"] = {"$in": list(client_ids)}
        order = [("client_id", ASCENDING), ("date", ASCENDING), ("channel", ASCENDING)]
        cursor = self._collection.find(query).sort(order)
        return [_to_snapshot(document) async for document in cursor]


def _to_snapshot(document: dict[str, Any]) -> MetricsSnapshot:
    return MetricsSnapshot(
        agency_id=document["agency_id"],
        client_id=document["client_id"],
        date=document["date"],
        channel=document["channel"],
        metrics=dict(document["metrics"]),
    )
