"""App Home's "Undelivered messages": list failed deliveries and retry one or all of them."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.home import refresh_home
from handlers.permissions import check_permission, managers_hint
from handlers.services import services_of, storage_of, workspace_of
from views.delivery_subject import delivery_subject
from views.failed_deliveries import (
    MAX_ROWS,
    RETRY_ACTION,
    RETRY_ALL_ACTION,
    failed_delivery_blocks,
    retry_refusal_modal,
)

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.action(RETRY_ACTION)(on_retry)
    app.action(RETRY_ALL_ACTION)(on_retry_all)


async def failed_blocks(context: AsyncBoltContext, team_id: str, *, can_manage: bool) -> list[dict[str, Any]]:
    """Build the Home tab's list of the workspace's failed and dead deliveries."""
    storage = storage_of(context)
    latest = await storage.deliveries.list_unsent(team_id=team_id, limit=MAX_ROWS)
    total = await storage.deliveries.count_unsent(team_id=team_id)
    subjects: dict[str, str] = {}
    for delivery in latest:
        # One lookup per shown row (at most MAX_ROWS); an expired event reads as such in the view.
        stored = await storage.events.find(delivery.event_id)
        if stored is not None:
            subjects[delivery.event_id] = delivery_subject(stored.body)
    return failed_delivery_blocks(latest, total=total, can_manage=can_manage, subjects=subjects)


async def on_retry(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    team_id = await _managed_team(body, client, context)
    retrier = services_of(context).deliveries
    delivery_id = action.get("value")
    if team_id is not None and retrier is not None and delivery_id:
        # The team filter keeps a forged button value from retrying another workspace's delivery.
        await retrier.retry(delivery_id=str(delivery_id), user_id=body["user"]["id"], team_id=team_id)
    await refresh_home(body, client, context)


async def on_retry_all(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    await ack()
    team_id = await _managed_team(body, client, context)
    retrier = services_of(context).deliveries
    if team_id is not None and retrier is not None:
        await retrier.retry_all(user_id=body["user"]["id"], team_id=team_id)
    await refresh_home(body, client, context)


async def _managed_team(body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> str | None:
    """Return the workspace's team id when the acting user may manage it; otherwise show the refusal."""
    workspace = await workspace_of(context)
    if workspace is None:
        return None
    user_id = body["user"]["id"]
    permission = await check_permission(
        client=client, cache=services_of(context).admin_cache, workspace=workspace, user_id=user_id
    )
    if permission.can_manage:
        return workspace.team_id
    logger.info("Rejected a delivery retry (team %s, user %s)", workspace.team_id, user_id)
    if body.get("trigger_id"):
        await client.views_open(trigger_id=body["trigger_id"], view=retry_refusal_modal(managers_hint(workspace)))
    return None
