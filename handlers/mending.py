"""Channels that mend themselves: the fix buttons of the failing-rule message, the join offer, and the release.

A failing rule's deliveries are held (see `bot/mending.py`). Four things make its channel work again: the
bot joins, the channel is unarchived, the rule is saved for a channel that works, or the Join button
succeeds. Each calls `release_channel` or `release_rule`, which set the rule active and requeue its held
deliveries.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.permissions import check_permission, managers_hint
from handlers.rule_form import RuleForm
from handlers.services import clock_of, services_of, storage_of, team_key, workspace_of
from storage.events_schema import Severity
from storage.models import Channel, NotificationType, Rule, RuleState, Workspace
from storage.store import Storage
from views.help import refusal_message
from views.mending import (
    ARCHIVED_CHANNEL_ERROR,
    JOIN_OFFER_CALLBACK,
    MEND_JOIN_ACTION,
    MEND_PICK_ACTION,
    PRIVATE_CHANNEL_ERROR,
    RULE_ALREADY_FIXED,
    build_join_offer,
    join_failed_text,
    joined_text,
)
from views.notice import RULE_GONE_TEXT, RULE_GONE_TITLE, notice_modal

logger = logging.getLogger(__name__)

JOIN_FAILED_TITLE = "Could not join"
# The picker lists public channels the bot could join from a cache this old at most. conversations.list is
# a Tier 2 method (about 20 calls a minute), too slow to call on every keystroke.
PUBLIC_CACHE_MAX_AGE = timedelta(minutes=10)
# conversations.list takes a limit under 1,000 per page (Slack's method reference).
PUBLIC_PAGE_SIZE = 999
# NOTE: a workspace with more public channels than this many pages lists only the first ones, which keeps
# the options request within Slack's 3 seconds.
PUBLIC_MAX_PAGES = 3


def register(app: AsyncApp) -> None:
    app.action(MEND_JOIN_ACTION)(on_join_clicked)
    app.action(MEND_PICK_ACTION)(on_pick_clicked)
    app.view(JOIN_OFFER_CALLBACK)(on_join_offer_submitted)


# --- Releasing held deliveries ---------------------------------------------------------------------


async def release_channel(storage: Storage, team_id: str, channel_id: str, *, now: datetime) -> int:
    """Set the failing rules on a channel active and requeue their held deliveries; return how many rules."""
    rules = await storage.rules.list_failing(team_id, channel_id)
    resumed = await storage.rules.resume_channel(team_id, channel_id, now=now)
    released = 0
    for rule in rules:
        released += await storage.deliveries.release_held(rule.id, channel=rule.channel, now=now)
        await storage.alerts.resume_rule_edits(rule.id, now=now)
    if resumed or released:
        logger.info(
            "Channel works again (team %s, channel %s, rules resumed %d, deliveries released %d)",
            team_id,
            channel_id,
            resumed,
            released,
        )
    return resumed


async def release_rule(storage: Storage, rule: Rule, *, now: datetime) -> int:
    """Set a failing rule active and requeue its held deliveries to its current channel; return how many."""
    if rule.state is RuleState.FAILING:
        await storage.rules.set_state(rule.id, RuleState.ACTIVE, reason=None, now=now)
    released = await storage.deliveries.release_held(rule.id, channel=rule.channel, now=now)
    await storage.alerts.resume_rule_edits(rule.id, now=now)
    if released:
        logger.info("Held deliveries released (rule %s, channel %s, count %d)", rule.id, rule.channel, released)
    return released


async def notify_failing(context: AsyncBoltContext, team_id: str, channel_id: str, *, code: str) -> None:
    """Tell the creators of the rules now failing on a channel, once per rule and failure."""
    mending = services_of(context).mending
    if mending is None:
        return
    rules = await storage_of(context).rules.list_failing(team_id, channel_id)
    await mending.notify_failing([rule.id for rule in rules], code=code)


# --- The fix buttons of the direct message ---------------------------------------------------------


async def _managed_rule(
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> tuple[Workspace, Rule] | None:
    """Return the workspace and the clicked rule when the user may manage it, or respond and return None."""
    workspace = await workspace_of(context)
    if workspace is None:
        return None
    user_id = body["user"]["id"]
    permission = await check_permission(
        client=client, cache=services_of(context).admin_cache, workspace=workspace, user_id=user_id
    )
    if not permission.can_manage:
        logger.info("Rejected a channel fix (team %s, user %s)", workspace.team_id, user_id)
        await respond(replace_original=False, **refusal_message(managers_hint(workspace)))
        return None
    rule = await storage_of(context).rules.get(str(action.get("value") or ""))
    if rule is None or rule.team_id != await team_key(context):
        await respond(replace_original=True, text=RULE_GONE_TEXT)
        return None
    return workspace, rule


async def on_join_clicked(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> None:
    await ack()
    found = await _managed_rule(body, action, client, context, respond)
    if found is None:
        return
    workspace, rule = found
    if rule.state is not RuleState.FAILING:
        await respond(replace_original=True, text=RULE_ALREADY_FIXED)
        return
    error = await join_channel(client, context, workspace.team_id, rule.channel)
    if error is not None:
        await respond(replace_original=False, text=join_failed_text(rule.channel, error))
        return
    storage, now = storage_of(context), clock_of(context).now()
    held = await storage.deliveries.count_held(rule.id)
    await release_channel(storage, workspace.team_id, rule.channel, now=now)
    services_of(context).rules_changed()
    await storage.audit.record(
        team_id=workspace.team_id,
        user_id=body["user"]["id"],
        action="joined channel",
        target=f"<#{rule.channel}>",
        before={"state": rule.state.value},
        after={"state": RuleState.ACTIVE.value},
        now=now,
    )
    await respond(replace_original=True, text=joined_text(rule.channel, held))


async def join_channel(client: AsyncWebClient, context: AsyncBoltContext, team_id: str, channel_id: str) -> str | None:
    """Join a public channel with `conversations.join` and note it in the cache; return Slack's error or None."""
    try:
        await client.conversations_join(channel=channel_id)
    except SlackApiError as error:
        code = str(error.response.get("error") or "unknown_error")
        logger.warning("conversations.join failed (team %s, channel %s, error %s)", team_id, channel_id, code)
        return code
    await storage_of(context).channels.update(
        team_id, channel_id, now=clock_of(context).now(), is_member=True, is_archived=False
    )
    logger.info("Bot joined a channel on request (team %s, channel %s)", team_id, channel_id)
    return None


async def on_pick_clicked(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    respond: AsyncRespond,
) -> None:
    await ack()
    # Imported here because handlers.rules imports this module for the join offer and the release.
    from handlers.rules import open_edit_modal

    found = await _managed_rule(body, action, client, context, respond)
    if found is None or not body.get("trigger_id"):
        return
    workspace, rule = found
    await open_edit_modal(client=client, context=context, workspace=workspace, rule=rule, trigger_id=body["trigger_id"])


# --- Public channels the bot could join, for the channel picker -------------------------------------


async def joinable_channels(client: AsyncWebClient, storage: Storage, *, team_id: str, now: datetime) -> list[Channel]:
    """Return the cached public channels the bot is not in, listing them with `conversations.list` when old."""
    refreshed = await storage.channels.public_refreshed_at(team_id)
    if refreshed is None or now - refreshed > PUBLIC_CACHE_MAX_AGE:
        try:
            await _refresh_public_channels(client, storage, team_id=team_id, now=now)
        except SlackApiError as error:
            logger.warning(
                "Public channel list refresh failed; using the cache (team %s, error %s)",
                team_id,
                error.response.get("error"),
            )
    channels = await storage.channels.list_for_team(team_id)
    return [channel for channel in channels if not channel.is_member and not channel.is_private]


async def _refresh_public_channels(client: AsyncWebClient, storage: Storage, *, team_id: str, now: datetime) -> None:
    channels: list[Channel] = []
    cursor: str | None = None
    for _ in range(PUBLIC_MAX_PAGES):
        response = await client.conversations_list(
            types="public_channel", exclude_archived=True, limit=PUBLIC_PAGE_SIZE, cursor=cursor
        )
        items: list[dict[str, Any]] = response.get("channels", [])
        for item in items:
            channels.append(
                Channel(
                    team_id=team_id,
                    channel_id=str(item["id"]),
                    name=str(item.get("name") or item["id"]),
                    is_private=False,
                    is_shared=bool(item.get("is_ext_shared") or item.get("is_shared")),
                    is_member=bool(item.get("is_member")),
                    is_archived=False,
                )
            )
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    else:
        logger.info("Public channel list cut short (team %s, channels %d)", team_id, len(channels))
    await storage.channels.merge_public_channels(team_id, channels, now=now)


# --- The join offer of the rule modal --------------------------------------------------------------


@dataclass(frozen=True)
class ChannelCheck:
    """The outcome of checking a chosen channel the bot is not in: the join offer to push, or an error."""

    offer: dict[str, Any] | None = None
    error: str | None = None


async def check_chosen_channel(client: AsyncWebClient, workspace: Workspace, form: RuleForm) -> ChannelCheck:
    """Offer to join a public channel, or explain a private or archived one, via `conversations.info`."""
    assert form.channel_id is not None
    try:
        response = await client.conversations_info(channel=form.channel_id)
    except SlackApiError as error:
        # Slack hides a private channel from a bot that is not in it: channel_not_found.
        logger.info(
            "conversations.info failed (team %s, channel %s, error %s)",
            workspace.team_id,
            form.channel_id,
            error.response.get("error"),
        )
        return ChannelCheck(error=PRIVATE_CHANNEL_ERROR)
    channel = response.get("channel") or {}
    if channel.get("is_archived"):
        return ChannelCheck(error=ARCHIVED_CHANNEL_ERROR)
    if channel.get("is_private"):
        return ChannelCheck(error=PRIVATE_CHANNEL_ERROR)
    return ChannelCheck(offer=build_join_offer(form.channel_id, _form_metadata(form)))


def _form_metadata(form: RuleForm) -> dict[str, Any]:
    return {
        "rule_id": form.rule_id,
        "channel_id": form.channel_id,
        "type": form.type.value if form.type else None,
        "client_id": form.client_id,
        "min_severity": form.min_severity.value if form.min_severity else None,
    }


def form_from_offer(view: dict[str, Any]) -> RuleForm | None:
    """Read back the rule form that the join offer carries; None when it is damaged."""
    try:
        data = json.loads(view.get("private_metadata") or "{}")
        return RuleForm(
            rule_id=data.get("rule_id") or None,
            channel_id=str(data["channel_id"]),
            type=NotificationType(data["type"]),
            client_id=data.get("client_id") or None,
            min_severity=Severity(data["min_severity"]) if data.get("min_severity") else None,
        )
    except (ValueError, KeyError, TypeError):
        return None


async def on_join_offer_submitted(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    from handlers.rules import save_rule_form, submitting_manager

    workspace = await submitting_manager(ack, body, client, context)
    if workspace is None:
        return
    form = form_from_offer(body["view"])
    if form is None or form.channel_id is None:
        await ack(response_action="update", view=notice_modal(RULE_GONE_TITLE, RULE_GONE_TEXT))
        return
    error = await join_channel(client, context, workspace.team_id, form.channel_id)
    if error is not None:
        await ack(
            response_action="update", view=notice_modal(JOIN_FAILED_TITLE, join_failed_text(form.channel_id, error))
        )
        return
    await save_rule_form(ack, body, client, context, workspace, form, close_all=True)
