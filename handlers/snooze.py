"""Snooze from the message: the Snooze button opens a modal, its submission stores the snooze, Unsnooze ends it.

Who may snooze: anyone who can click the button may snooze the alert's own subject (its client and metric,
task or service) in that channel, since that quiets only what they are looking at. Snoozing a whole rule or
channel, and ending such a snooze early, is for the users who may manage rules. The server checks this on
every submission, whatever the modal offered.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.permissions import check_permission, managers_hint
from handlers.services import EXT_SHARED, clock_of, services_of, storage_of, team_key, workspace_of
from storage.events_schema import PlatformEvent, event_adapter
from storage.models import Workspace
from storage.snoozes import NewSnooze, Snooze, SnoozeScope, SnoozeSubject, alert_of, subject_of
from views.messages import SNOOZE_ACTION_ID
from views.notice import notice_modal, refusal_modal
from views.snooze import (
    DURATION_ACTION,
    DURATION_BLOCK,
    DURATION_FOUR_HOURS_VALUE,
    DURATION_HOUR_VALUE,
    DURATION_MORNING_VALUE,
    DURATION_RESOLVED_VALUE,
    MODAL_TITLE,
    SCOPE_ACTION,
    SCOPE_BLOCK,
    SNOOZE_ALERT_GONE,
    SNOOZE_MODAL_CALLBACK,
    SNOOZE_OTHER_ORGANISATION,
    SNOOZE_REFUSED,
    UNSNOOZE_ACTION,
    SnoozeModalModel,
    build_snooze_modal,
    confirmation_text,
    read_modal_choice,
    read_modal_metadata,
    scope_text,
    snooze_home_blocks,
    subject_text,
)

logger = logging.getLogger(__name__)

MORNING = time(9, 0)
DEFAULT_TIMEZONE = "UTC"
SCOPE_MISSING_ERROR = "Choose what to snooze."
DURATION_MISSING_ERROR = "Choose for how long."
NOT_RESOLVABLE_ERROR = "Only outliers and failed tasks resolve: choose a time instead."
ALREADY_RESOLVED_ERROR = "This alert has already resolved: choose a time instead."
RULE_GONE_ERROR = "The notification rule that posted this alert no longer exists: snooze the channel instead."
DURATION_LABELS = {
    DURATION_HOUR_VALUE: "1 hour",
    DURATION_FOUR_HOURS_VALUE: "4 hours",
    DURATION_RESOLVED_VALUE: "until it resolved",
}


def register(app: AsyncApp) -> None:
    app.action(SNOOZE_ACTION_ID)(on_snooze_clicked)
    app.view(SNOOZE_MODAL_CALLBACK)(on_snooze_submitted)
    app.action(UNSNOOZE_ACTION)(on_unsnooze)


def next_morning(now: datetime, timezone: str) -> datetime:
    """Return the next 9:00 in `timezone` after `now` (tomorrow's when today's has passed), as an aware datetime.

    A 9:00 that a daylight-saving change skips is reached at the first valid instant after it.
    """
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), MORNING, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), MORNING, tzinfo=zone)
    # Round-tripping through UTC resolves a nonexistent local time to a real instant.
    return candidate.astimezone(now.tzinfo).astimezone(zone)


# --- Opening the modal ------------------------------------------------------------------------------


async def on_snooze_clicked(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    user_id, trigger_id = body["user"]["id"], body.get("trigger_id")
    container = body.get("container") or {}
    channel_id = str((body.get("channel") or {}).get("id") or container.get("channel_id") or "")
    message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts")
    workspace = await workspace_of(context)
    if workspace is None or not trigger_id or not channel_id:
        return
    if _from_other_organisation(body, context):
        await client.views_open(trigger_id=trigger_id, view=notice_modal(MODAL_TITLE, SNOOZE_OTHER_ORGANISATION))
        return
    event = await _own_event(context, workspace, str(action.get("value") or ""))
    subject = subject_of(event) if event is not None else None
    if event is None or subject is None:
        await client.views_open(trigger_id=trigger_id, view=notice_modal(MODAL_TITLE, SNOOZE_ALERT_GONE))
        return
    permission = await check_permission(
        client=client, cache=services_of(context).admin_cache, workspace=workspace, user_id=user_id
    )
    timezone = await _user_timezone(client, user_id)
    model = SnoozeModalModel(
        subject=subject,
        subject_text=await _describe(context, subject),
        can_manage=permission.can_manage,
        admins_hint=managers_hint(workspace),
        timezone=timezone,
        resolvable=await _resolvable(context, event),
        metadata={
            "event_id": event.id,
            "channel": channel_id,
            "ts": message_ts,
            "rule_id": await _rule_of(context, workspace, event.id, channel_id),
            "tz": timezone,
        },
    )
    await client.views_open(trigger_id=trigger_id, view=build_snooze_modal(model))


def _from_other_organisation(body: dict[str, Any], context: AsyncBoltContext) -> bool:
    """Tell whether the user belongs to another organisation of a shared channel, who never snoozes our alerts."""
    user_team = (body.get("user") or {}).get("team_id")
    return bool(context.get(EXT_SHARED)) and user_team not in (None, context.team_id)


async def _own_event(context: AsyncBoltContext, workspace: Workspace, event_id: str) -> PlatformEvent | None:
    """Return the stored event only when the workspace may see it, whatever id the payload carried."""
    stored = await storage_of(context).events.find(event_id) if event_id else None
    if stored is None or workspace.agency_id is None or stored.agency_id != workspace.agency_id:
        return None
    if workspace.client_id is not None and stored.client_id != workspace.client_id:
        return None
    try:
        return event_adapter.validate_python(stored.body)
    except ValidationError:
        logger.warning("Stored event no longer validates (event %s)", event_id)
        return None


async def _rule_of(context: AsyncBoltContext, workspace: Workspace, event_id: str, channel_id: str) -> str | None:
    """Find the rule that posted this event to this channel, from the event's deliveries."""
    for delivery in await storage_of(context).deliveries.for_event(event_id):
        if delivery.team_id == workspace.team_id and delivery.channel == channel_id:
            return delivery.rule_id
    return None


async def _user_timezone(client: AsyncWebClient, user_id: str) -> str:
    try:
        response = await client.users_info(user=user_id)
    except SlackApiError as error:
        logger.warning("users.info failed (user %s, error %s)", user_id, error.response.get("error"))
        return DEFAULT_TIMEZONE
    zone = (response.get("user") or {}).get("tz")
    return zone if isinstance(zone, str) and _valid_zone(zone) else DEFAULT_TIMEZONE


def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


async def _resolvable(context: AsyncBoltContext, event: PlatformEvent) -> bool:
    """Tell whether "until it resolves" makes sense: an outlier or a task that has not resolved yet."""
    alert = alert_of(event)
    if alert is None:
        return False
    control = services_of(context).snoozes
    return control is None or not await control.alert_resolved(alert, since=event.occurred_at)


async def _describe(context: AsyncBoltContext, subject: SnoozeSubject) -> str:
    name = None
    if subject.client_id is not None:
        found = await storage_of(context).clients.get(agency_id=subject.agency_id, client_id=subject.client_id)
        name = found.name if found else None
    return subject_text(subject, name)


# --- Submitting -------------------------------------------------------------------------------------


async def on_snooze_submitted(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    view, user_id = body["view"], body["user"]["id"]
    metadata = read_modal_metadata(view)
    workspace = await workspace_of(context)
    event = await _own_event(context, workspace, str(metadata.get("event_id") or "")) if workspace else None
    subject = subject_of(event) if event is not None else None
    if workspace is None or event is None or subject is None or _from_other_organisation(body, context):
        await ack(response_action="update", view=notice_modal(MODAL_TITLE, SNOOZE_ALERT_GONE))
        return
    scope_value = read_modal_choice(view, SCOPE_BLOCK, SCOPE_ACTION)
    duration = read_modal_choice(view, DURATION_BLOCK, DURATION_ACTION)
    errors = _choice_errors(scope_value, duration, event, metadata)
    if not errors and duration == DURATION_RESOLVED_VALUE and not await _resolvable(context, event):
        # The alert resolved while the modal was open: the snooze would end at once.
        errors[DURATION_BLOCK] = ALREADY_RESOLVED_ERROR
    if errors:
        await ack(response_action="errors", errors=errors)
        return
    scope = SnoozeScope(str(scope_value))
    if scope is not SnoozeScope.SUBJECT and not await _may_manage(client, context, workspace, user_id):
        await ack(
            response_action="errors", errors={SCOPE_BLOCK: SNOOZE_REFUSED.format(admins=managers_hint(workspace))}
        )
        return
    await ack()
    snooze = await _create(context, workspace, event, subject, scope, str(duration), metadata, user_id)
    description = await _describe(context, subject) if scope is SnoozeScope.SUBJECT else None
    await _record(context, snooze, user_id=user_id, action="snoozed", description=description)
    await _confirm(client, snooze, user_id=user_id, description=description)


def _choice_errors(
    scope: str | None, duration: str | None, event: PlatformEvent, metadata: dict[str, Any]
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if scope not in {item.value for item in SnoozeScope}:
        errors[SCOPE_BLOCK] = SCOPE_MISSING_ERROR
    elif scope == SnoozeScope.RULE.value and not metadata.get("rule_id"):
        errors[SCOPE_BLOCK] = RULE_GONE_ERROR
    if duration not in (*DURATION_LABELS, DURATION_MORNING_VALUE):
        errors[DURATION_BLOCK] = DURATION_MISSING_ERROR
    elif duration == DURATION_RESOLVED_VALUE and alert_of(event) is None:
        errors[DURATION_BLOCK] = NOT_RESOLVABLE_ERROR
    return errors


async def _may_manage(client: AsyncWebClient, context: AsyncBoltContext, workspace: Workspace, user_id: str) -> bool:
    permission = await check_permission(
        client=client, cache=services_of(context).admin_cache, workspace=workspace, user_id=user_id
    )
    if not permission.can_manage:
        logger.info("Rejected a snooze of a rule or channel (team %s, user %s)", workspace.team_id, user_id)
    return permission.can_manage


async def _create(
    context: AsyncBoltContext,
    workspace: Workspace,
    event: PlatformEvent,
    subject: SnoozeSubject,
    scope: SnoozeScope,
    duration: str,
    metadata: dict[str, Any],
    user_id: str,
) -> Snooze:
    now = clock_of(context).now()
    timezone = str(metadata.get("tz") or DEFAULT_TIMEZONE)
    if not _valid_zone(timezone):
        timezone = DEFAULT_TIMEZONE
    until: datetime | None
    if duration == DURATION_HOUR_VALUE:
        until = now + timedelta(hours=1)
    elif duration == DURATION_FOUR_HOURS_VALUE:
        until = now + timedelta(hours=4)
    elif duration == DURATION_MORNING_VALUE:
        until = next_morning(now, timezone)
    else:
        until = None
    label = DURATION_LABELS.get(duration) or f"until 9:00 {timezone}"
    channel_id = str(metadata["channel"])
    new = NewSnooze(
        team_id=workspace.team_id,
        scope=scope,
        channel=channel_id,
        rule_id=str(metadata["rule_id"]) if metadata.get("rule_id") else None,
        subject=subject if scope is SnoozeScope.SUBJECT else None,
        created_by=user_id,
        until=until,
        resolves=alert_of(event) if until is None else None,
        duration_label=label,
        source_channel=channel_id,
        source_ts=str(metadata["ts"]) if metadata.get("ts") else None,
    )
    snooze = await storage_of(context).snoozes.create(new, now=now)
    logger.info(
        "Snooze created (team %s, user %s, snooze %s, scope %s, channel %s)",
        workspace.team_id,
        user_id,
        snooze.id,
        scope.value,
        channel_id,
    )
    return snooze


async def _record(
    context: AsyncBoltContext, snooze: Snooze, *, user_id: str, action: str, description: str | None
) -> None:
    await storage_of(context).audit.record(
        team_id=snooze.team_id,
        user_id=user_id,
        action=action,
        target=f"{scope_text(snooze, description)} in <#{snooze.channel}> ({snooze.duration_label})",
        before=None,
        after={
            "snooze": snooze.id,
            "scope": snooze.scope.value,
            "until": snooze.until.isoformat() if snooze.until else None,
        },
        now=clock_of(context).now(),
    )


async def _confirm(client: AsyncWebClient, snooze: Snooze, *, user_id: str, description: str | None) -> None:
    text = confirmation_text(snooze, description)
    try:
        await client.chat_postEphemeral(channel=snooze.source_channel, user=user_id, text=text)
    except SlackApiError as error:
        logger.warning(
            "Snooze confirmation failed (snooze %s, channel %s, error %s)",
            snooze.id,
            snooze.source_channel,
            error.response.get("error"),
        )


# --- App Home ---------------------------------------------------------------------------------------


async def home_snooze_blocks(context: AsyncBoltContext, team_id: str) -> list[dict[str, Any]]:
    """Build App Home's list of the workspace's active snoozes."""
    now = clock_of(context).now()
    snoozes = await storage_of(context).snoozes.list_active(team_id, now=now)
    control = services_of(context).snoozes
    descriptions: dict[str, str] = {}
    for snooze in snoozes:
        described = await control.describe_subject(snooze) if control is not None else None
        if described:
            descriptions[snooze.id] = described
    return snooze_home_blocks(snoozes, subject_descriptions=descriptions)


async def on_unsnooze(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    from handlers.home import refresh_home

    user_id = body["user"]["id"]
    workspace = await workspace_of(context)
    control = services_of(context).snoozes
    snooze = await storage_of(context).snoozes.get(str(action.get("value") or ""))
    if workspace is None or control is None or snooze is None or snooze.team_id != await team_key(context):
        await refresh_home(body, client, context)
        return
    if snooze.scope is not SnoozeScope.SUBJECT and not await _may_manage(client, context, workspace, user_id):
        if body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"], view=refusal_modal(managers_hint(workspace)))
        return
    ended = await control.end(snooze.id, user_id=user_id)
    if ended is not None:
        await _record(
            context, ended, user_id=user_id, action="unsnoozed", description=await control.describe_subject(ended)
        )
    await refresh_home(body, client, context)
