"""Who may change rules and settings: workspace admins and owners, the installer, and listed managers.

The check runs on the server for every change, whatever the view showed the user.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.models import Workspace

logger = logging.getLogger(__name__)

ADMIN_CACHE_SECONDS = 300.0


@dataclass(frozen=True)
class Permission:
    can_manage: bool
    reason: str


class AdminCache:
    """Remembers `users.info` answers for a few minutes, so opening App Home costs no extra call."""

    def __init__(self, ttl_seconds: float = ADMIN_CACHE_SECONDS) -> None:
        self._ttl = ttl_seconds
        self._entries: dict[tuple[str, str], tuple[float, bool]] = {}

    def get(self, team_id: str, user_id: str) -> bool | None:
        entry = self._entries.get((team_id, user_id))
        if entry is None or time.monotonic() - entry[0] > self._ttl:
            return None
        return entry[1]

    def put(self, team_id: str, user_id: str, is_admin: bool) -> None:
        self._entries[(team_id, user_id)] = (time.monotonic(), is_admin)


async def check_permission(
    *, client: AsyncWebClient, cache: AdminCache, workspace: Workspace, user_id: str
) -> Permission:
    if user_id in workspace.managers:
        return Permission(True, "manager")
    if workspace.installer_user_id == user_id:
        return Permission(True, "installer")
    if await _is_admin(client, cache, workspace.team_id, user_id):
        return Permission(True, "workspace admin")
    return Permission(False, "not a manager")


async def _is_admin(client: AsyncWebClient, cache: AdminCache, team_id: str, user_id: str) -> bool:
    cached = cache.get(team_id, user_id)
    if cached is not None:
        return cached
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError as error:
        # Without an answer nobody gets rights they may not have; the refusal says who can help.
        logger.warning("users.info failed (team %s, user %s, error %s)", team_id, user_id, error.response.get("error"))
        return False
    user = response.get("user") or {}
    is_admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
    # A user from another organisation in a shared channel never manages this workspace's rules.
    if user.get("team_id") not in (None, team_id):
        is_admin = False
    cache.put(team_id, user_id, is_admin)
    return is_admin


def managers_hint(workspace: Workspace) -> str:
    """Name who can change notifications, for read-only views and refusals."""
    people = list(dict.fromkeys(f"<@{user}>" for user in (workspace.installer_user_id, *workspace.managers) if user))
    if not people:
        return "workspace admins and owners"
    return "workspace admins and owners, " + ", ".join(people[:-1]) + (" and " if len(people) > 1 else "") + people[-1]
