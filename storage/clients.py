"""`clients`: the agency's clients as the platform last described them (`client.updated` events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from storage.database import Database
from storage.state import upsert_if_newer

KEY = [("agency_id", ASCENDING), ("client_id", ASCENDING)]


@dataclass(frozen=True)
class Client:
    agency_id: str
    client_id: str
    name: str
    details: dict[str, Any] = field(default_factory=dict)


class ClientRepository:
    """Client records, unique on (agency, client); an older `client.updated` changes nothing."""

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("clients")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(KEY, unique=True, name="client_key")

    async def apply_update(
        self, *, agency_id: str, client_id: str, data: dict[str, Any], occurred_at: datetime
    ) -> bool:
        key = {"agency_id": agency_id, "client_id": client_id}
        return await upsert_if_newer(self._collection, key, occurred_at=occurred_at, update={"$set": {"data": data}})

    async def get(self, *, agency_id: str, client_id: str) -> Client | None:
        document = await self._collection.find_one({"agency_id": agency_id, "client_id": client_id})
        return _to_client(document) if document else None

    async def list_for_agency(self, agency_id: str) -> list[Client]:
        cursor = self._collection.find({"agency_id": agency_id}).sort("client_id", ASCENDING)
        return [_to_client(document) async for document in cursor]

    async def list_by_ids(self, *, agency_id: str, client_ids: Sequence[str]) -> list[Client]:
        """List the agency's clients among `client_ids` that have a record, sorted by client id."""
        query = {"agency_id": agency_id, "client_id": {"$in": list(client_ids)}}
        cursor = self._collection.find(query).sort("client_id", ASCENDING)
        return [_to_client(document) async for document in cursor]


def _to_client(document: dict[str, Any]) -> Client:
    data = dict(document.get("data", {}))
    return Client(
        agency_id=document["agency_id"],
        client_id=document["client_id"],
        name=str(data.pop("name", document["client_id"])),
        details=data,
    )
