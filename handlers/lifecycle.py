"""App lifecycle events: app uninstalled, tokens revoked.

Every event the manifest subscribes to needs a listener, because Bolt answers an unhandled event with 404
and Slack then retries it.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from handlers.services import clock_of, services_of, storage_of, team_key
from storage.models import WorkspaceStatus

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("app_uninstalled")(on_app_uninstalled)
    app.event("tokens_revoked")(on_tokens_revoked)


async def on_app_uninstalled(context: AsyncBoltContext) -> None:
    # The two events arrive in no fixed order; each one alone leaves the workspace without usable tokens.
    await _mark_inactive(context, "The app was uninstalled from the workspace.")
    revocation = services_of(context).revocation
    if revocation is not None:
        await revocation.handle_app_uninstalled_events(context)


async def on_tokens_revoked(event: dict[str, Any], context: AsyncBoltContext) -> None:
    if event.get("tokens", {}).get("bot"):
        await _mark_inactive(context, "The bot token was revoked.")
    revocation = services_of(context).revocation
    if revocation is not None:
        await revocation.handle_tokens_revoked_events(event, context)


async def _mark_inactive(context: AsyncBoltContext, reason: str) -> None:
    team_id = await team_key(context)
    if team_id is None:
        return
    changed = await storage_of(context).workspaces.set_status(
        team_id, WorkspaceStatus.INACTIVE, reason=reason, now=clock_of(context).now()
    )
    services_of(context).rules_changed()
    logger.warning("Workspace marked inactive (team %s, changed %s, reason %s)", team_id, changed, reason)
