"""`notes`: the current version of each note (`note.created`, `note.updated`, `note.deleted` events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from storage.database import Database, utc
from storage.state import upsert_if_newer

KEY = [("agency_id", ASCENDING), ("client_id", ASCENDING), ("note_id", ASCENDING)]


@dataclass(frozen=True)
class Note:
    agency_id: str
    client_id: str
    note_id: str
    title: str
    body: str
    author: str
    status: str
    private: bool
    deleted: bool
    updated_at: datetime


@dataclass(frozen=True)
class NoteStatus:
    """The status of one visible note, without its text."""

    client_id: str
    note_id: str
    status: str
    updated_at: datetime


class NoteRepository:
    """Notes, unique on (agency, client, note id).

    Private and deleted notes are stored so that a later event can be judged against them, and readers that
    show notes (digest, Houston) ask for `visible_only`.
    """

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("notes")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(KEY, unique=True, name="note_key")

    async def apply_version(
        self, *, agency_id: str, client_id: str, note_id: str, data: dict[str, Any], occurred_at: datetime
    ) -> bool:
        fields = {
            "title": data["title"],
            "body": data["body"],
            "author": data["author"],
            "status": data["status"],
            "private": bool(data.get("private", False)),
            "deleted": False,
        }
        key = {"agency_id": agency_id, "client_id": client_id, "note_id": note_id}
        return await upsert_if_newer(self._collection, key, occurred_at=occurred_at, update={"$set": fields})

    async def apply_deletion(self, *, agency_id: str, client_id: str, note_id: str, occurred_at: datetime) -> bool:
        key = {"agency_id": agency_id, "client_id": client_id, "note_id": note_id}
        return await upsert_if_newer(self._collection, key, occurred_at=occurred_at, update={"$set": {"deleted": True}})

    async def get(self, *, agency_id: str, client_id: str, note_id: str) -> Note | None:
        document = await self._collection.find_one({"agency_id": agency_id, "client_id": client_id, "note_id": note_id})
        return _to_note(document) if document and "title" in document else None

    async def list_for_client(self, *, agency_id: str, client_id: str, visible_only: bool = True) -> list[Note]:
        query: dict[str, Any] = {"agency_id": agency_id, "client_id": client_id, "title": {"$exists": True}}
        if visible_only:
            query.update(private=False, deleted=False)
        cursor = self._collection.find(query).sort("state_at", -1)
        return [_to_note(document) async for document in cursor]

    async def find_visible(
        self,
        *,
        agency_id: str,
        client_id: str,
        status: str | None = None,
        updated_since: datetime | None = None,
        limit: int = 50,
    ) -> list[Note]:
        """List one client's visible notes (neither private nor deleted), most recently changed first.

        With `status`, only notes of that status are listed. With `updated_since`, only notes whose current
        version occurred at or after that instant. At most `limit` notes are returned.
        """
        query: dict[str, Any] = {
            "agency_id": agency_id,
            "client_id": client_id,
            "title": {"$exists": True},
            "private": False,
            "deleted": False,
        }
        if status is not None:
            query["status"] = status
        if updated_since is not None:
            query["state_at"] = {"$gte": updated_since}
        cursor = self._collection.find(query).sort("state_at", -1).limit(limit)
        return [_to_note(document) async for document in cursor]

    async def list_visible_statuses(
        self, *, agency_id: str, client_ids: Sequence[str] | None = None
    ) -> list[NoteStatus]:
        """List the status of every visible note (neither private nor deleted) of the agency.

        With `client_ids`, only the notes of those clients are listed. Titles and bodies are not read.
        """
        query: dict[str, Any] = {"agency_id": agency_id, "title": {"$exists": True}, "private": False, "deleted": False}
        if client_ids is not None:
            query["client_id"] = {"$in": list(client_ids)}
        projection = {"_id": False, "client_id": True, "note_id": True, "status": True, "state_at": True}
        cursor = self._collection.find(query, projection)
        return [
            NoteStatus(
                client_id=document["client_id"],
                note_id=document["note_id"],
                status=document["status"],
                updated_at=utc(document["state_at"]),
            )
            async for document in cursor
        ]


def _to_note(document: dict[str, Any]) -> Note:
    return Note(
        agency_id=document["agency_id"],
        client_id=document["client_id"],
        note_id=document["note_id"],
        title=document["title"],
        body=document["body"],
        author=document["author"],
        status=document["status"],
        private=document.get("private", False),
        deleted=document.get("deleted", False),
        updated_at=utc(document["state_at"]),
    )
