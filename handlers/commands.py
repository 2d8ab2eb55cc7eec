"""`/missioncontrol`: rules, rules add, status, help; anything else gets help and the closest subcommand."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from handlers.digest import DIGEST_USAGE, PREVIEW_SENT, describe, save_settings
from handlers.home import client_names
from handlers.permissions import check_permission, managers_hint
from handlers.rules import open_add_modal, rules_message
from handlers.services import clock_of, services_of, storage_of, workspace_of
from storage.models import DeliveryState, DigestSettings, Workspace
from views.help import closest_subcommand, help_message, refusal_message, unknown_command_message
from views.status import StatusModel, build_status_message

logger = logging.getLogger(__name__)

COMMAND = "/missioncontrol"
LINK_USAGE = "Usage: `/missioncontrol link <grant>`, with the grant from Mission Control's Slack settings."
LINK_SINGLE_WORKSPACE = (
    "This bot runs for one workspace, whose account is set by its operator (MISSIONCONTROL_AGENCY_ID), "
    "so it cannot be linked from Slack."
)
DIGEST_UNLINKED = "Daily digests need a workspace linked to a Mission Control account."
NO_WORKSPACE = "Mission Control does not know this workspace yet. Ask the person who installed it to check the bot."


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_command)


async def handle_command(
    ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    # Acknowledge first: everything below may take longer than Slack's 3 seconds.
    await ack()
    words = (command.get("text") or "").split()
    lowered = [word.lower() for word in words]
    subcommand = lowered[0] if lowered else ""
    if lowered[:2] == ["rules", "add"]:
        subcommand = "rules add"
    elif subcommand == "rules" and len(lowered) > 1:
        # "rules ad" or "rules remove" is a typo or an unknown action, not a request for the list.
        subcommand = " ".join(lowered[:2])
    logger.info(
        "Slash command (team %s, user %s, subcommand %s)", context.team_id, command.get("user_id"), subcommand or "-"
    )
    if subcommand in ("", "help"):
        await respond(response_type="ephemeral", **help_message())
        return
    if subcommand not in ("rules", "rules add", "status", "link", "digest"):
        text = " ".join(words)
        await respond(response_type="ephemeral", **unknown_command_message(text, closest_subcommand(text)))
        return
    workspace = await workspace_of(context)
    if workspace is None:
        await respond(response_type="ephemeral", text=NO_WORKSPACE)
    elif subcommand == "rules add":
        await open_add_modal(
            client=client,
            context=context,
            trigger_id=command["trigger_id"],
            user_id=command["user_id"],
            respond=respond,
        )
    elif subcommand == "digest":
        await _digest(respond, client, context, workspace, command, lowered[1:], words[1:])
    elif subcommand == "link":
        await _link(respond, client, context, workspace, command, words[1:])
    elif subcommand == "rules":
        can_manage = await _can_manage(client, context, workspace, command["user_id"])
        await respond(response_type="ephemeral", **await rules_message(context, workspace, can_manage))
    else:
        await respond(response_type="ephemeral", **await _status(context, workspace))


async def _digest(
    respond: AsyncRespond,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    workspace: Workspace,
    command: dict[str, Any],
    lowered: list[str],
    words: list[str],
) -> None:
    control = services_of(context).digest
    action = lowered[0] if lowered else ""
    if control is None or workspace.agency_id is None:
        await respond(response_type="ephemeral", text=DIGEST_UNLINKED)
        return
    if action == "now":
        error = await control.send_preview(workspace.team_id, user_id=command["user_id"])
        await respond(response_type="ephemeral", text=error or PREVIEW_SENT)
        return
    if action == "":
        slot = await control.next_slot_for(workspace) if workspace.digest.enabled else None
        await respond(response_type="ephemeral", text=describe(workspace.digest, slot) + " " + DIGEST_USAGE)
        return
    settings = _changed_digest(workspace, action, words[1:])
    if settings is None:
        await respond(response_type="ephemeral", text=DIGEST_USAGE)
        return
    if not await _can_manage(client, context, workspace, command["user_id"]):
        await respond(response_type="ephemeral", **refusal_message(managers_hint(workspace)))
        return
    error = await save_settings(context, workspace, settings, user_id=command["user_id"])
    if error:
        await respond(response_type="ephemeral", text=error)
        return
    saved = await workspace_of(context)
    slot = await control.next_slot_for(saved) if saved and settings.enabled else None
    await respond(response_type="ephemeral", text=describe(settings, slot))


def _changed_digest(workspace: Workspace, action: str, arguments: list[str]) -> DigestSettings | None:
    current = workspace.digest
    if action in ("on", "off") and not arguments:
        return replace(current, enabled=action == "on")
    if action == "time" and len(arguments) == 1:
        return replace(current, send_time=arguments[0])
    if action in ("tz", "timezone") and len(arguments) == 1:
        return replace(current, timezone=arguments[0])
    return None


async def _link(
    respond: AsyncRespond,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    workspace: Workspace,
    command: dict[str, Any],
    arguments: list[str],
) -> None:
    linker = services_of(context).linker
    if linker is None:
        await respond(response_type="ephemeral", text=LINK_SINGLE_WORKSPACE)
        return
    if not await _can_manage(client, context, workspace, command["user_id"]):
        await respond(response_type="ephemeral", **refusal_message(managers_hint(workspace)))
        return
    if len(arguments) != 1:
        await respond(response_type="ephemeral", text=LINK_USAGE)
        return
    outcome = await linker.link(team_id=workspace.team_id, user_id=command["user_id"], token=arguments[0])
    await respond(response_type="ephemeral", text=outcome.message)


async def _can_manage(client: AsyncWebClient, context: AsyncBoltContext, workspace: Workspace, user_id: str) -> bool:
    cache = services_of(context).admin_cache
    return (await check_permission(client=client, cache=cache, workspace=workspace, user_id=user_id)).can_manage


async def _status(context: AsyncBoltContext, workspace: Workspace) -> dict[str, Any]:
    storage = storage_of(context)
    team_id = workspace.team_id
    failed = await storage.deliveries.count_for_team(team_id, DeliveryState.FAILED)
    dead = await storage.deliveries.count_for_team(team_id, DeliveryState.DEAD)
    last_event_at = None
    if workspace.agency_id is not None:
        last_event_at = await storage.events.last_received(agency_id=workspace.agency_id, client_id=workspace.client_id)
    model = StatusModel(
        workspace=workspace,
        rules=await storage.rules.list(team_id=team_id),
        channels={channel.channel_id: channel for channel in await storage.channels.list_for_team(team_id)},
        client_names=await client_names(context, workspace),
        last_event_at=last_event_at,
        failing_deliveries=failed + dead,
        pending_deliveries=await storage.deliveries.count_for_team(team_id, DeliveryState.PENDING),
        held_deliveries=await storage.deliveries.count_for_team(team_id, DeliveryState.HELD),
        now=clock_of(context).now(),
    )
    return build_status_message(model)
