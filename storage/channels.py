"""`channels`: the Slack channels of each workspace as the bot last saw them, for the channel picker and
App Home. Filled from `users.conversations` and kept current by channel lifecycle events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ASCENDING

from storage.database import Database, utc
from storage.models import Channel

KEY = [("team_id", ASCENDING), ("channel_id", ASCENDING)]


class ChannelRepository:
    """Channels keyed by (team, channel id).

    `replace_member_channels` records a full listing of the bot's channels: listed channels become members,
    every other stored channel of the team stops being one. The other writes change one field of one
    channel and create it when it is unknown.
    """

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("channels")
        self._refreshes = database.collection("channel_refreshes")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(KEY, unique=True, name="channel_key")

    async def replace_member_channels(self, team_id: str, channels: Sequence[Channel], *, now: datetime) -> None:
        listed = [channel.channel_id for channel in channels]
        for channel in channels:
            await self._collection.update_one(
                {"team_id": team_id, "channel_id": channel.channel_id},
                {"$set": {**_fields(channel), "is_member": True, "updated_at": now}},
                upsert=True,
            )
        await self._collection.update_many(
            {"team_id": team_id, "channel_id": {"$nin": listed}, "is_member": True},
            {"$set": {"is_member": False, "updated_at": now}},
        )
        await self._refreshes.update_one({"_id": team_id}, {"$set": {"refreshed_at": now}}, upsert=True)

    async def merge_public_channels(self, team_id: str, channels: Sequence[Channel], *, now: datetime) -> None:
        """Store public channels from `conversations.list`; membership the cache already has is kept."""
        for channel in channels:
            fields = {name: value for name, value in _fields(channel).items() if name != "is_member"}
            await self._collection.update_one(
                {"team_id": team_id, "channel_id": channel.channel_id},
                {"$set": {**fields, "updated_at": now}, "$setOnInsert": {"is_member": channel.is_member}},
                upsert=True,
            )
        await self._refreshes.update_one(
            {"_id": _public_refresh_key(team_id)}, {"$set": {"refreshed_at": now}}, upsert=True
        )

    async def public_refreshed_at(self, team_id: str) -> datetime | None:
        document = await self._refreshes.find_one({"_id": _public_refresh_key(team_id)})
        return utc(document["refreshed_at"]) if document else None

    async def refreshed_at(self, team_id: str) -> datetime | None:
        document = await self._refreshes.find_one({"_id": team_id})
        return utc(document["refreshed_at"]) if document else None

    async def update(self, team_id: str, channel_id: str, *, now: datetime, **fields: Any) -> None:
        """Set some of name, is_private, is_shared, is_member, is_archived."""
        defaults = {"name": channel_id, "is_private": False, "is_shared": False, "is_member": False}
        defaults.update({"is_archived": False})
        on_insert = {key: value for key, value in defaults.items() if key not in fields}
        await self._collection.update_one(
            {"team_id": team_id, "channel_id": channel_id},
            {"$set": {**fields, "updated_at": now}, "$setOnInsert": on_insert},
            upsert=True,
        )

    async def get(self, team_id: str, channel_id: str) -> Channel | None:
        document = await self._collection.find_one({"team_id": team_id, "channel_id": channel_id})
        return _to_channel(document) if document else None

    async def list_for_team(self, team_id: str, *, members_only: bool = False) -> list[Channel]:
        query: dict[str, Any] = {"team_id": team_id}
        if members_only:
            query["is_member"] = True
        cursor = self._collection.find(query).sort("name", ASCENDING)
        return [_to_channel(document) async for document in cursor]


def _public_refresh_key(team_id: str) -> str:
    # Team ids contain no "#", so this never collides with the member listing's key, the team id itself.
    return f"{team_id}#public"


def _fields(channel: Channel) -> dict[str, Any]:
    return {
        "team_id": channel.team_id,
        "channel_id": channel.channel_id,
        "name": channel.name,
        "is_private": channel.is_private,
        "is_shared": channel.is_shared,
        "is_archived": channel.is_archived,
    }


def _to_channel(document: dict[str, Any]) -> Channel:
    return Channel(
        team_id=document["team_id"],
        channel_id=document["channel_id"],
        name=document.get("name") or document["channel_id"],
        is_private=bool(document.get("is_private")),
        is_shared=bool(document.get("is_shared")),
        is_member=bool(document.get("is_member")),
        is_archived=bool(document.get("is_archived")),
    )
