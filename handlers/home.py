"""App Home: publish the Connection and Notifications sections, switch between them, page, managers."""

from __future__ import annotations

import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.channels import member_channels
from handlers.permissions import check_permission, managers_hint
from handlers.services import clock_of, services_of, storage_of, team_key, workspace_of
from storage.models import DeliveryState, Workspace
from views.home import HomeModel, build_home_view
from views.houston_settings import houston_settings_blocks
from views.ids import (
    HOME_PAGE_ACTION_PATTERN,
    HOME_SECTION_ACTION_PATTERN,
    HOME_SECTIONS,
    MANAGER_ADD_ACTION,
    MANAGER_REMOVE_ACTION,
    SECTION_CONNECTION,
    SECTION_NOTIFICATIONS,
)
from views.notice import refusal_modal

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(on_home_opened)
    app.action(HOME_SECTION_ACTION_PATTERN)(on_section)
    app.action(HOME_PAGE_ACTION_PATTERN)(on_page)
    app.action(MANAGER_ADD_ACTION)(on_manager_add)
    app.action(MANAGER_REMOVE_ACTION)(on_manager_remove)


def home_state(view: dict[str, Any] | None) -> tuple[str, int]:
    """Read the section and page a published Home view was showing, with safe defaults."""
    try:
        metadata = json.loads((view or {}).get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    section = metadata.get("section") if metadata.get("section") in HOME_SECTIONS else SECTION_NOTIFICATIONS
    page = metadata.get("page") if isinstance(metadata.get("page"), int) else 0
    return str(section), max(0, int(page))


async def publish_home(
    *, client: AsyncWebClient, context: AsyncBoltContext, user_id: str, section: str, page: int
) -> None:
    """Build the user's App Home from storage and publish it."""
    storage, now = storage_of(context), clock_of(context).now()
    workspace = await workspace_of(context)
    if workspace is None:
        logger.warning("App Home opened in an unknown workspace (team %s, user %s)", context.team_id, user_id)
        return
    team_id = workspace.team_id
    permission = await check_permission(
        client=client, cache=services_of(context).admin_cache, workspace=workspace, user_id=user_id
    )
    await member_channels(client, storage, team_id=team_id, now=now)
    model = HomeModel(
        workspace=workspace,
        section=section,
        page=page,
        rules=await storage.rules.list(team_id=team_id),
        channels={channel.channel_id: channel for channel in await storage.channels.list_for_team(team_id)},
        client_names=await client_names(context, workspace),
        can_manage=permission.can_manage,
        admin_names_hint=managers_hint(workspace),
        last_event_at=await _last_event(context, workspace),
        failing_deliveries=await _failed_count(context, team_id),
        pending_deliveries=await storage.deliveries.count_for_team(team_id, DeliveryState.PENDING),
        held_deliveries=await storage.deliveries.count_for_team(team_id, DeliveryState.HELD),
        audit=await storage.audit.latest(team_id, limit=10),
        now=now,
        digest_blocks=tuple(await _digest_blocks(client, context, workspace, user_id, permission.can_manage, section)),
        houston_blocks=tuple(_houston_blocks(context, workspace, permission.can_manage, section)),
        snooze_blocks=tuple(await _snooze_blocks(context, team_id, section)),
        failed_blocks=tuple(await _failed_blocks(context, team_id, permission.can_manage, section)),
    )
    await client.views_publish(user_id=user_id, view=build_home_view(model))
    logger.debug("App Home published (team %s, user %s, section %s)", team_id, user_id, section)


async def _digest_blocks(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    workspace: Workspace,
    user_id: str,
    can_manage: bool,
    section: str,
) -> list[dict[str, Any]]:
    # Imported here because handlers.digest imports this module for refresh_home.
    from handlers.digest import settings_blocks

    if section != SECTION_CONNECTION or workspace.agency_id is None:
        return []
    return await settings_blocks(client, context, workspace, user_id=user_id, can_manage=can_manage)


async def _snooze_blocks(context: AsyncBoltContext, team_id: str, section: str) -> list[dict[str, Any]]:
    # Imported here because handlers.snooze imports this module for refresh_home.
    from handlers.snooze import home_snooze_blocks

    if section != SECTION_NOTIFICATIONS:
        return []
    return await home_snooze_blocks(context, team_id)


async def _failed_blocks(
    context: AsyncBoltContext, team_id: str, can_manage: bool, section: str
) -> list[dict[str, Any]]:
    # Imported here because handlers.deliveries imports this module for refresh_home.
    from handlers.deliveries import failed_blocks

    if section != SECTION_NOTIFICATIONS:
        return []
    return await failed_blocks(context, team_id, can_manage=can_manage)


def _houston_blocks(
    context: AsyncBoltContext, workspace: Workspace, can_manage: bool, section: str
) -> list[dict[str, Any]]:
    houston = services_of(context).houston
    if section != SECTION_CONNECTION or workspace.agency_id is None or houston is None:
        return []
    return houston_settings_blocks(
        enabled=workspace.houston_enabled,
        configured=houston.configured,
        endpoint=houston.endpoint,
        can_manage=can_manage,
    )


async def client_names(context: AsyncBoltContext, workspace: Workspace) -> dict[str, str]:
    """Name the clients the workspace may see: all of its agency's, or only its own in a client workspace."""
    if workspace.agency_id is None:
        return {}
    clients = storage_of(context).clients
    if workspace.client_id is not None:
        own = await clients.get(agency_id=workspace.agency_id, client_id=workspace.client_id)
        return {workspace.client_id: own.name if own else workspace.client_id}
    return {client.client_id: client.name for client in await clients.list_for_agency(workspace.agency_id)}


async def _last_event(context: AsyncBoltContext, workspace: Workspace) -> Any:
    if workspace.agency_id is None:
        return None
    return await storage_of(context).events.last_received(agency_id=workspace.agency_id, client_id=workspace.client_id)


async def _failed_count(context: AsyncBoltContext, team_id: str) -> int:
    deliveries = storage_of(context).deliveries
    failed = await deliveries.count_for_team(team_id, DeliveryState.FAILED)
    return failed + await deliveries.count_for_team(team_id, DeliveryState.DEAD)


async def refresh_home(body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    """Publish the Home view again for the user who acted, keeping the section and page they were on."""
    user_id = (body.get("user") or {}).get("id")
    if not user_id:
        return
    view = body.get("view") if (body.get("view") or {}).get("type") == "home" else None
    section, page = home_state(view)
    try:
        await publish_home(client=client, context=context, user_id=user_id, section=section, page=page)
    except SlackApiError as error:
        logger.warning("App Home refresh failed (user %s, error %s)", user_id, error.response.get("error"))


async def on_home_opened(event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    if event.get("tab") != "home":
        return
    section, page = home_state(event.get("view"))
    await publish_home(client=client, context=context, user_id=event["user"], section=section, page=page)


async def on_section(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    section = action.get("value") if action.get("value") in HOME_SECTIONS else SECTION_NOTIFICATIONS
    await publish_home(client=client, context=context, user_id=body["user"]["id"], section=str(section), page=0)


async def on_page(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    section, _ = home_state(body.get("view"))
    try:
        page = max(0, int(action.get("value") or 0))
    except ValueError:
        page = 0
    await publish_home(client=client, context=context, user_id=body["user"]["id"], section=section, page=page)


async def on_manager_add(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    new_manager = action.get("selected_user")
    if new_manager and await _allowed(body, client, context):
        await _change_managers(body, context, new_manager, add=True)
    await refresh_home(body, client, context)


async def on_manager_remove(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    manager = action.get("value")
    if manager and await _allowed(body, client, context):
        await _change_managers(body, context, manager, add=False)
    await refresh_home(body, client, context)


async def _allowed(body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> bool:
    """Check the acting user may change settings; show the refusal and return False when not."""
    workspace = await workspace_of(context)
    if workspace is None:
        return False
    user_id = body["user"]["id"]
    permission = await check_permission(
        client=client, cache=services_of(context).admin_cache, workspace=workspace, user_id=user_id
    )
    if permission.can_manage:
        return True
    logger.info("Rejected a settings change (team %s, user %s)", workspace.team_id, user_id)
    if body.get("trigger_id"):
        await client.views_open(trigger_id=body["trigger_id"], view=refusal_modal(managers_hint(workspace)))
    return False


async def _change_managers(body: dict[str, Any], context: AsyncBoltContext, manager: str, *, add: bool) -> None:
    storage, now = storage_of(context), clock_of(context).now()
    team_id = await team_key(context) or ""
    before = await storage.workspaces.get(team_id)
    if add:
        changed = await storage.workspaces.add_manager(team_id, manager, now=now)
    else:
        changed = await storage.workspaces.remove_manager(team_id, manager, now=now)
    if not changed or before is None:
        return
    after = await storage.workspaces.get(team_id)
    await storage.audit.record(
        team_id=team_id,
        user_id=body["user"]["id"],
        action="manager added" if add else "manager removed",
        target=f"<@{manager}>",
        before={"managers": list(before.managers)},
        after={"managers": list(after.managers) if after else []},
        now=now,
    )
    logger.info("Managers changed (team %s, user %s, manager %s, added %s)", team_id, body["user"]["id"], manager, add)
