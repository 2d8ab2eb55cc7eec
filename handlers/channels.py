"""The bot's channels: the cached list behind the channel picker, and the channel lifecycle events.

When the bot leaves a channel, or the channel is archived or deleted, the rules on it turn failing with
the reason, and each rule's creator gets one direct message. When the bot is invited back or the channel
is unarchived, they resume and their held deliveries are sent. Private channels send `group_…` events
where public ones send `channel_…`; both are handled alike.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.mending import notify_failing, release_channel
from handlers.services import clock_of, services_of, storage_of, team_key
from storage.models import Channel
from storage.store import Storage

logger = logging.getLogger(__name__)

# The picker reads the cache; a listing older than this is fetched again before it is shown.
CHANNEL_CACHE_MAX_AGE = timedelta(minutes=10)
# users.conversations accepts up to 999 per page (Slack's method reference).
PAGE_SIZE = 999

# Shown in Slack (DM, App Home), which renders `<#C…>` as the channel's name; the same wording as
# bot.delivery_policy.CHANNEL_ERRORS.
REASON_LEFT = "Mission Control is not a member of {channel}: invite it there with /invite @Mission Control."
REASON_ARCHIVED = "{channel} is archived: unarchive it or move this rule to another channel."
REASON_DELETED = "{channel} was deleted: move this rule to another channel or delete it."


def register(app: AsyncApp) -> None:
    app.event("member_joined_channel")(on_member_joined)
    for name in ("channel_left", "group_left"):
        app.event(name)(on_bot_left)
    for name in ("channel_archive", "group_archive"):
        app.event(name)(on_archived)
    for name in ("channel_unarchive", "group_unarchive"):
        app.event(name)(on_unarchived)
    for name in ("channel_deleted", "group_deleted"):
        app.event(name)(on_deleted)
    for name in ("channel_rename", "group_rename"):
        app.event(name)(on_renamed)
    for name in ("channel_shared", "channel_unshared"):
        app.event(name)(on_shared_changed)


async def refresh_channels(client: AsyncWebClient, storage: Storage, *, team_id: str, now: datetime) -> list[Channel]:
    """Fetch the bot's channels with `users.conversations` (every page) and store them."""
    channels: list[Channel] = []
    cursor: str | None = None
    while True:
        response = await client.users_conversations(
            types="public_channel,private_channel", exclude_archived=True, limit=PAGE_SIZE, cursor=cursor
        )
        items: list[dict[str, Any]] = response.get("channels", [])
        channels.extend(_to_channel(team_id, item, is_member=True) for item in items)
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    await storage.channels.replace_member_channels(team_id, channels, now=now)
    logger.info("Channel list refreshed (team %s, channels %d)", team_id, len(channels))
    return channels


async def member_channels(client: AsyncWebClient, storage: Storage, *, team_id: str, now: datetime) -> list[Channel]:
    """Return the bot's channels from the cache, refreshing it first when it is old or empty."""
    refreshed = await storage.channels.refreshed_at(team_id)
    if refreshed is None or now - refreshed > CHANNEL_CACHE_MAX_AGE:
        try:
            await refresh_channels(client, storage, team_id=team_id, now=now)
        except SlackApiError as error:
            logger.warning(
                "Channel list refresh failed; using the cache (team %s, error %s)",
                team_id,
                error.response.get("error"),
            )
    return await storage.channels.list_for_team(team_id, members_only=True)


def _to_channel(team_id: str, item: dict[str, Any], *, is_member: bool) -> Channel:
    return Channel(
        team_id=team_id,
        channel_id=str(item["id"]),
        name=str(item.get("name") or item["id"]),
        is_private=bool(item.get("is_private")),
        is_shared=bool(item.get("is_ext_shared") or item.get("is_shared")),
        is_member=is_member,
        is_archived=bool(item.get("is_archived")),
    )


def _channel_id(event: dict[str, Any]) -> str | None:
    channel = event.get("channel")
    if isinstance(channel, dict):
        return str(channel.get("id")) if channel.get("id") else None
    return str(channel) if channel else None


async def on_member_joined(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
    channel_id = _channel_id(event)
    team_id = await team_key(context)
    if event.get("user") != context.bot_user_id or not channel_id or team_id is None:
        return
    storage, now = storage_of(context), clock_of(context).now()
    fields: dict[str, Any] = {"is_member": True, "is_archived": False}
    try:
        info = await client.conversations_info(channel=channel_id)
        channel = _to_channel(team_id, info["channel"], is_member=True)
        fields.update(name=channel.name, is_private=channel.is_private, is_shared=channel.is_shared)
    except SlackApiError as error:
        logger.warning("conversations.info failed (channel %s, error %s)", channel_id, error.response.get("error"))
    await storage.channels.update(team_id, channel_id, now=now, **fields)
    resumed = await release_channel(storage, team_id, channel_id, now=now)
    _rules_changed(context, resumed)
    logger.info("Bot joined channel (team %s, channel %s, rules resumed %d)", team_id, channel_id, resumed)


async def on_bot_left(event: dict[str, Any], context: AsyncBoltContext) -> None:
    await _fail_rules(event, context, REASON_LEFT, code="not_in_channel", is_member=False)


async def on_archived(event: dict[str, Any], context: AsyncBoltContext) -> None:
    await _fail_rules(event, context, REASON_ARCHIVED, code="is_archived", is_archived=True)


async def on_deleted(event: dict[str, Any], context: AsyncBoltContext) -> None:
    await _fail_rules(event, context, REASON_DELETED, code="channel_not_found", is_member=False, is_archived=True)


async def _fail_rules(
    event: dict[str, Any], context: AsyncBoltContext, reason: str, *, code: str, **fields: Any
) -> None:
    channel_id = _channel_id(event)
    team_id = await team_key(context)
    if not channel_id or team_id is None:
        return
    storage, now = storage_of(context), clock_of(context).now()
    await storage.channels.update(team_id, channel_id, now=now, **fields)
    failed = await storage.rules.fail_channel(
        team_id, channel_id, reason=reason.format(channel=f"<#{channel_id}>"), now=now
    )
    _rules_changed(context, failed)
    await notify_failing(context, team_id, channel_id, code=code)
    logger.info(
        "Channel can no longer receive messages (team %s, channel %s, event %s, rules failing %d)",
        team_id,
        channel_id,
        event.get("type"),
        failed,
    )


async def on_unarchived(event: dict[str, Any], context: AsyncBoltContext) -> None:
    channel_id = _channel_id(event)
    team_id = await team_key(context)
    if not channel_id or team_id is None:
        return
    storage, now = storage_of(context), clock_of(context).now()
    await storage.channels.update(team_id, channel_id, now=now, is_archived=False)
    resumed = await release_channel(storage, team_id, channel_id, now=now)
    _rules_changed(context, resumed)
    logger.info("Channel unarchived (team %s, channel %s, rules resumed %d)", team_id, channel_id, resumed)


async def on_renamed(event: dict[str, Any], context: AsyncBoltContext) -> None:
    channel = event.get("channel") or {}
    team_id = await team_key(context)
    if not isinstance(channel, dict) or not channel.get("id") or team_id is None:
        return
    await storage_of(context).channels.update(
        team_id, str(channel["id"]), now=clock_of(context).now(), name=str(channel.get("name") or channel["id"])
    )


async def on_shared_changed(event: dict[str, Any], context: AsyncBoltContext) -> None:
    channel_id = _channel_id(event)
    team_id = await team_key(context)
    if not channel_id or team_id is None:
        return
    shared = event.get("type") == "channel_shared"
    await storage_of(context).channels.update(team_id, channel_id, now=clock_of(context).now(), is_shared=shared)


def _rules_changed(context: AsyncBoltContext, count: int) -> None:
    if count:
        services_of(context).rules_changed()
