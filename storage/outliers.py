"""`outliers`: the current state of each outlier (`outlier.detected` and `outlier.resolved` events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from storage.database import Database, utc
from storage.state import upsert_if_newer

KEY = [("agency_id", ASCENDING), ("client_id", ASCENDING), ("outlier_id", ASCENDING)]


@dataclass(frozen=True)
class Outlier:
    agency_id: str
    client_id: str
    outlier_id: str
    status: str  # "open" or "resolved"
    severity: str | None
    metric: str | None
    channel: str | None
    definition: str | None
    observed: float | None
    expected: float | None
    detections: int
    updated_at: datetime


@dataclass(frozen=True)
class OutlierDetection:
    """An outlier and the instant of its latest detection."""

    outlier: Outlier
    detected_at: datetime


class OutlierRepository:
    """Outliers, unique on (agency, client, outlier id); events older than the stored state change nothing."""

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("outliers")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(KEY, unique=True, name="outlier_key")
        await self._collection.create_index([("agency_id", ASCENDING), ("state_at", ASCENDING)])

    async def apply_detection(
        self, *, agency_id: str, client_id: str, data: dict[str, Any], occurred_at: datetime
    ) -> bool:
        fields = {
            "status": "open",
            "severity": data["severity"],
            "metric": data["metric"],
            "channel": data["channel"],
            "definition": data["definition"],
            "observed": data["observed"],
            "expected": data["expected"],
            "detected_at": occurred_at,
        }
        key = {"agency_id": agency_id, "client_id": client_id, "outlier_id": data["outlier_id"]}
        update = {"$set": fields, "$inc": {"detections": 1}}
        return await upsert_if_newer(self._collection, key, occurred_at=occurred_at, update=update)

    async def apply_resolution(
        self, *, agency_id: str, client_id: str, data: dict[str, Any], occurred_at: datetime
    ) -> bool:
        fields: dict[str, Any] = {"status": "resolved", "resolved_at": occurred_at}
        if data.get("observed") is not None:
            fields["observed"] = data["observed"]
        key = {"agency_id": agency_id, "client_id": client_id, "outlier_id": data["outlier_id"]}
        return await upsert_if_newer(self._collection, key, occurred_at=occurred_at, update={"$set": fields})

    async def get(self, *, agency_id: str, client_id: str, outlier_id: str) -> Outlier | None:
        query = {"agency_id": agency_id, "client_id": client_id, "outlier_id": outlier_id}
        document = await self._collection.find_one(query)
        return _to_outlier(document) if document else None

    async def list_detected_between(
        self, *, agency_id: str, client_ids: Sequence[str] | None = None, start: datetime, end: datetime
    ) -> list[OutlierDetection]:
        """List the agency's outliers whose latest detection is after `start` and at or before `end`.

        With `client_ids`, only the outliers of those clients are listed. Resolved outliers are included.
        """
        query: dict[str, Any] = {
            "agency_id": agency_id,
            "detected_at": {"$gt": start, "$lte": end},
            # The stored state is never older than the latest detection, so this filter drops nothing,
            # and it lets MongoDB use the (agency_id, state_at) index.
            "state_at": {"$gt": start},
        }
        if client_ids is not None:
            query["client_id"] = {"$in": list(client_ids)}
        cursor = self._collection.find(query)
        return [
            OutlierDetection(outlier=_to_outlier(document), detected_at=utc(document["detected_at"]))
            async for document in cursor
        ]


def _to_outlier(document: dict[str, Any]) -> Outlier:
    return Outlier(
        agency_id=document["agency_id"],
        client_id=document["client_id"],
        outlier_id=document["outlier_id"],
        status=document["status"],
        severity=document.get("severity"),
        metric=document.get("metric"),
        channel=document.get("channel"),
        definition=document.get("definition"),
        observed=document.get("observed"),
        expected=document.get("expected"),
        detections=document.get("detections", 0),
        updated_at=utc(document["state_at"]),
    )
