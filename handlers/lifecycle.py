"""App lifecycle events: app uninstalled, tokens revoked.

Every event the manifest subscribes to needs a listener, because Bolt answers an unhandled event with 404
and Slack then retries it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from handlers.services import clock_of, storage_of
from storage.models import WorkspaceStatus

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


async def on_app_uninstalled(context: AsyncBoltContext) -> None:
    await _mark_inactive(context, "The app was uninstalled from the workspace.")


async def on_tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tokens", {}).get("bot"):
        await _mark_inactive(context, "The bot token was revoked.")


async def _mark_inactive(context: AsyncBoltContext, reason: str) -> None:
    if context.team_id is None:
        return
    changed = await storage_of(context).workspaces.set_status(
        context.team_id, WorkspaceStatus.INACTIVE, reason=reason, now=clock_of(context).now()
    )
    logger.warning("Workspace marked inactive (team %s, changed %s, reason %s)", context.team_id, changed, reason)
