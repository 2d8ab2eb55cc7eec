"""Daily digest settings from App Home (selects plus Save, and a preview button) and from the slash command
(`/missioncontrol digest on|off|time HH:MM|tz Area/City|now`)."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.home import refresh_home
from handlers.permissions import check_permission, managers_hint
from handlers.services import clock_of, services_of, storage_of, workspace_of
from storage.models import DigestSettings, NotificationType, RuleState, Workspace
from views.digest_settings import (
    DIGEST_BLOCK,
    DIGEST_ENABLED_ACTION,
    DIGEST_SAVE_ACTION,
    DIGEST_SEND_NOW_ACTION,
    DIGEST_TIME_ACTION,
    DIGEST_TIMEZONE_ACTION,
    digest_settings_blocks,
    timezone_options,
)
from views.notice import notice_modal, refusal_modal
from views.text import slack_date

logger = logging.getLogger(__name__)

PREVIEW_TITLE = "Digest preview"
PREVIEW_SENT = "A preview of today's digest is in your messages with Mission Control."
DIGEST_USAGE = (
    "Usage: `/missioncontrol digest on`, `off`, `time 09:30`, `tz Europe/Berlin` or `now` (a preview for you)."
)
SAVED = "Daily digest is {state}."
NEXT = " Next digest: {when}."


def register(app: AsyncApp) -> None:
    for action_id in (DIGEST_ENABLED_ACTION, DIGEST_TIME_ACTION, DIGEST_TIMEZONE_ACTION):
        # Choosing a value only changes the form; Save applies it. Each select still needs a listener.
        app.action(action_id)(_acknowledge)
    app.options(DIGEST_TIMEZONE_ACTION)(on_timezone_options)
    app.action(DIGEST_SAVE_ACTION)(on_save)
    app.action(DIGEST_SEND_NOW_ACTION)(on_send_now)


async def _acknowledge(ack: AsyncAck) -> None:
    await ack()


async def on_timezone_options(ack: AsyncAck, body: dict[str, Any]) -> None:
    await ack(options=timezone_options(str(body.get("value") or "")))


async def settings_blocks(
    client: AsyncWebClient, context: AsyncBoltContext, workspace: Workspace, *, user_id: str, can_manage: bool
) -> list[dict[str, Any]]:
    """Build the Connection section's digest blocks for one viewer."""
    settings = workspace.digest
    if not workspace.digest_configured:
        settings = replace(settings, timezone=await user_timezone(client, user_id) or settings.timezone)
    next_send_at = None
    control = services_of(context).digest
    if control is not None and settings.enabled and workspace.digest_configured:
        slot = await control.next_slot_for(workspace)
        next_send_at = slot.send_at
    rules = await storage_of(context).rules.list(team_id=workspace.team_id)
    has_channel = any(rule.type is NotificationType.DAILY_DIGEST and rule.state is RuleState.ACTIVE for rule in rules)
    return digest_settings_blocks(
        settings, can_manage=can_manage, next_send_at=next_send_at, has_digest_channel=has_channel
    )


async def user_timezone(client: AsyncWebClient, user_id: str) -> str | None:
    """Return the user's own Slack time zone, the default for a workspace that never saved one."""
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError:
        return None
    zone = (response.get("user") or {}).get("tz")
    return str(zone) if zone else None


async def _manager(body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> Workspace | None:
    workspace = await workspace_of(context)
    if workspace is None:
        return None
    cache = services_of(context).admin_cache
    permission = await check_permission(client=client, cache=cache, workspace=workspace, user_id=body["user"]["id"])
    if permission.can_manage:
        return workspace
    if body.get("trigger_id"):
        await client.views_open(trigger_id=body["trigger_id"], view=refusal_modal(managers_hint(workspace)))
    return None


def _selected(values: dict[str, Any], action_id: str) -> str | None:
    option = (values.get(DIGEST_BLOCK, {}).get(action_id) or {}).get("selected_option") or {}
    value = option.get("value")
    return str(value) if value else None


async def on_save(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    await ack()
    workspace = await _manager(body, client, context)
    if workspace is None:
        return
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    current = workspace.digest
    enabled = _selected(values, DIGEST_ENABLED_ACTION)
    settings = DigestSettings(
        enabled=current.enabled if enabled is None else enabled == "on",
        send_time=_selected(values, DIGEST_TIME_ACTION) or current.send_time,
        timezone=_selected(values, DIGEST_TIMEZONE_ACTION) or current.timezone,
    )
    error = await save_settings(context, workspace, settings, user_id=body["user"]["id"])
    if error and body.get("trigger_id"):
        await client.views_open(trigger_id=body["trigger_id"], view=notice_modal("Digest not saved", error))
    await refresh_home(body, client, context)


async def save_settings(
    context: AsyncBoltContext, workspace: Workspace, settings: DigestSettings, *, user_id: str
) -> str | None:
    """Validate, store, audit and reschedule; return an error sentence or None."""
    control = services_of(context).digest
    if control is not None:
        error = control.check_settings(settings)
        if error:
            return error
    storage, now = storage_of(context), clock_of(context).now()
    await storage.workspaces.set_digest(workspace.team_id, settings, now=now)
    await storage.audit.record(
        team_id=workspace.team_id,
        user_id=user_id,
        action="digest settings changed",
        target="Daily digest",
        before=asdict(workspace.digest) if workspace.digest_configured else None,
        after=asdict(settings),
        now=now,
    )
    if control is not None:
        await control.reschedule(workspace.team_id)
    logger.info("Digest settings saved (team %s, user %s, enabled %s)", workspace.team_id, user_id, settings.enabled)
    return None


async def on_send_now(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    await ack()
    workspace = await workspace_of(context)
    control = services_of(context).digest
    if workspace is None or control is None:
        return
    error = await control.send_preview(workspace.team_id, user_id=body["user"]["id"])
    if body.get("trigger_id"):
        await client.views_open(trigger_id=body["trigger_id"], view=notice_modal(PREVIEW_TITLE, error or PREVIEW_SENT))


def describe(settings: DigestSettings, slot: Any) -> str:
    when = f"at {settings.send_time} ({settings.timezone})"
    state = f"on, {when}" if settings.enabled else f"off; when turned on it goes out {when}"
    text = SAVED.format(state=state)
    if settings.enabled and slot is not None:
        text += NEXT.format(when=slack_date(slot.send_at))
    return text


__all__ = ["DIGEST_USAGE", "describe", "register", "save_settings", "settings_blocks"]
