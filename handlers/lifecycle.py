"""App lifecycle events: App Home opened, app uninstalled, tokens revoked.

Every event the manifest subscribes to needs a listener, because Bolt answers an unhandled event with 404
and Slack then retries it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from storage.models import WorkspaceStatus

logger = logging.getLogger(__name__)


class Clock(Protocol):
    def now(self) -> datetime: ...


class WorkspaceStatusStore(Protocol):
    async def set_status(self, team_id: str, status: WorkspaceStatus, *, reason: str | None, now: datetime) -> bool: ...


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(on_app_home_opened)
    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


async def on_app_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
    # TODO: publish the App Home view (Connection and Notifications sections).
    logger.debug("App Home opened (team %s, user %s)", context.team_id, event.get("user"))


async def on_app_uninstalled(context: AsyncBoltContext) -> None:
    await _mark_inactive(context, "The app was uninstalled from the workspace.")


async def on_tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tokens", {}).get("bot"):
        await _mark_inactive(context, "The bot token was revoked.")


async def _mark_inactive(context: AsyncBoltContext, reason: str) -> None:
    workspaces: WorkspaceStatusStore = context["workspaces"]
    clock: Clock = context["clock"]
    if context.team_id is None:
        return
    changed = await workspaces.set_status(context.team_id, WorkspaceStatus.INACTIVE, reason=reason, now=clock.now())
    logger.warning("Workspace marked inactive (team %s, changed %s, reason %s)", context.team_id, changed, reason)
