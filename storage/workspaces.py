"""`workspaces`: the Slack workspaces the app is installed in and the account each belongs to."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from storage.database import Database, utc
from storage.models import DigestSettings, Workspace, WorkspaceStatus

logger = logging.getLogger(__name__)


class WorkspaceRepository:
    """Reads and writes workspaces, keyed by Slack team id.

    `upsert` sets the account and name and keeps the status, except that it reactivates an inactive
    workspace when `reactivate` is set (a fresh token was verified). `set_status` records why a workspace
    stopped receiving messages.
    """

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("workspaces")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("agency_id")
        await self._collection.create_index("updated_at")

    async def upsert(
        self,
        *,
        team_id: str,
        name: str | None,
        agency_id: str | None,
        client_id: str | None,
        now: datetime,
        reactivate: bool = False,
        enterprise_id: str | None = None,
    ) -> Workspace:
        fields: dict[str, Any] = {"agency_id": agency_id, "client_id": client_id, "updated_at": now}
        if enterprise_id is not None:
            fields["enterprise_id"] = enterprise_id
        if name is not None:
            fields["name"] = name
        if reactivate:
            fields["status"] = WorkspaceStatus.ACTIVE.value
            fields["status_reason"] = None
        on_insert: dict[str, Any] = {"created_at": now, "installer_user_id": None, "managers": []}
        if not reactivate:
            on_insert.update(status=WorkspaceStatus.ACTIVE.value, status_reason=None)
        if name is None:
            on_insert["name"] = None
        await self._collection.update_one({"_id": team_id}, {"$set": fields, "$setOnInsert": on_insert}, upsert=True)
        workspace = await self.get(team_id)
        assert workspace is not None  # written just above
        return workspace

    async def get(self, team_id: str) -> Workspace | None:
        document = await self._collection.find_one({"_id": team_id})
        return _to_workspace(document) if document else None

    async def list_all(self) -> list[Workspace]:
        return [_to_workspace(document) async for document in self._collection.find({}).sort("_id", 1)]

    async def set_status(self, team_id: str, status: WorkspaceStatus, *, reason: str | None, now: datetime) -> bool:
        """Set the status; return True when it changed."""
        result = await self._collection.update_one(
            {"_id": team_id, "status": {"$ne": status.value}},
            {"$set": {"status": status.value, "status_reason": reason, "updated_at": now}},
        )
        return bool(result.modified_count)

    async def set_digest(self, team_id: str, settings: DigestSettings, *, now: datetime) -> bool:
        """Store the digest settings; return False when the workspace is unknown."""
        fields = {"enabled": settings.enabled, "send_time": settings.send_time, "timezone": settings.timezone}
        result = await self._collection.update_one({"_id": team_id}, {"$set": {"digest": fields, "updated_at": now}})
        return bool(result.matched_count)

    async def set_houston_enabled(self, team_id: str, enabled: bool, *, now: datetime) -> bool:
        result = await self._collection.update_one(
            {"_id": team_id}, {"$set": {"houston_enabled": enabled, "updated_at": now}}
        )
        return bool(result.matched_count)

    async def list_digest_enabled(self) -> list[Workspace]:
        cursor = self._collection.find({"digest.enabled": True, "status": WorkspaceStatus.ACTIVE.value})
        return [_to_workspace(document) async for document in cursor]

    async def set_installer(self, team_id: str, user_id: str, *, now: datetime) -> None:
        await self._collection.update_one(
            {"_id": team_id, "installer_user_id": None}, {"$set": {"installer_user_id": user_id, "updated_at": now}}
        )

    async def link_user(self, team_id: str, slack_user_id: str, mc_user_id: str, *, now: datetime) -> None:
        """Record which Mission Control user a Slack user of this workspace is."""
        await self._collection.update_one(
            {"_id": team_id}, {"$set": {f"user_links.{slack_user_id}": mc_user_id, "updated_at": now}}
        )

    async def add_manager(self, team_id: str, user_id: str, *, now: datetime) -> bool:
        result = await self._collection.update_one(
            {"_id": team_id}, {"$addToSet": {"managers": user_id}, "$set": {"updated_at": now}}
        )
        return bool(result.modified_count)

    async def remove_manager(self, team_id: str, user_id: str, *, now: datetime) -> bool:
        result = await self._collection.update_one(
            {"_id": team_id, "managers": user_id}, {"$pull": {"managers": user_id}, "$set": {"updated_at": now}}
        )
        return bool(result.modified_count)

    async def last_change(self) -> tuple[int, datetime | None]:
        """Return the count and latest `updated_at`, so a cache can tell whether anything changed."""
        count = await self._collection.estimated_document_count()
        latest = await self._collection.find_one({}, sort=[("updated_at", -1)], projection={"updated_at": 1})
        return count, utc(latest["updated_at"]) if latest else None


def _to_workspace(document: dict[str, Any]) -> Workspace:
    return Workspace(
        team_id=document["_id"],
        name=document.get("name"),
        agency_id=document.get("agency_id"),
        client_id=document.get("client_id"),
        status=WorkspaceStatus(document.get("status", WorkspaceStatus.ACTIVE.value)),
        status_reason=document.get("status_reason"),
        installer_user_id=document.get("installer_user_id"),
        managers=tuple(document.get("managers", [])),
        enterprise_id=document.get("enterprise_id"),
        digest=_to_digest(document.get("digest")),
        digest_configured=bool(document.get("digest")),
        houston_enabled=bool(document.get("houston_enabled", False)),
    )


def _to_digest(fields: dict[str, Any] | None) -> DigestSettings:
    if not fields:
        return DigestSettings()
    defaults = DigestSettings()
    return DigestSettings(
        enabled=bool(fields.get("enabled", defaults.enabled)),
        send_time=str(fields.get("send_time") or defaults.send_time),
        timezone=str(fields.get("timezone") or defaults.timezone),
    )
