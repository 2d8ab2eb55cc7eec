"""Houston in Slack: the Ask Houston button, mentions, replies in Houston's threads, direct messages,
feedback and Retry.

Slack retries events it thinks failed, and people double-click: every question is claimed once by its
Slack event id (or, for the button, by the alert message) before Houston runs, so none is answered twice.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.home import refresh_home
from handlers.permissions import check_permission, managers_hint
from handlers.services import (
    HoustonAsker,
    HoustonRequest,
    clock_of,
    services_of,
    storage_of,
    team_key,
    workspace_of,
)
from storage.models import Workspace
from views.houston import NoticeKind, build_notice
from views.houston_settings import HOUSTON_TOGGLE_ACTION
from views.messages import ASK_HOUSTON_ACTION_ID, SlackMessage
from views.notice import refusal_modal

logger = logging.getLogger(__name__)

FEEDBACK_ACTIONS = {"houston_feedback_up": "up", "houston_feedback_down": "down"}
RETRY_ACTION = "houston_retry"
THINKING = "is thinking…"
LOADING_MESSAGES = ["Reading the metrics…", "Checking outliers and notes…"]
OUTLIER_QUESTION = (
    "Analyse outlier {outlier_id} of client {client_id}: what moved, by how much against the expected value, "
    "how the {channel} channel performed recently, and any related notes."
)
MENTION = re.compile(r"<@[UW][A-Z0-9]+>")


def register(app: AsyncApp) -> None:
    app.action(ASK_HOUSTON_ACTION_ID)(on_ask_houston)
    app.event("app_mention")(on_mention)
    app.event("message")(on_message)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id)(on_feedback)
    app.action(RETRY_ACTION)(on_retry)
    app.action(HOUSTON_TOGGLE_ACTION)(on_toggle)


# --- Shared steps ---------------------------------------------------------------------------------------


async def _claim(context: AsyncBoltContext, key: str) -> bool:
    return await storage_of(context).houston_requests.claim(key, now=clock_of(context).now())


async def _is_shared(context: AsyncBoltContext, team_id: str, channel_id: str) -> bool:
    if channel_id.startswith("D"):
        return False
    channel = await storage_of(context).channels.get(team_id, channel_id)
    return bool(channel and channel.is_shared)


async def _set_status(client: AsyncWebClient, channel_id: str, thread_ts: str) -> None:
    # The button gets nothing injected by Bolt, so every entry point sets the status itself; it clears when
    # the answer is posted (assistant.threads.setStatus works in channel threads with chat:write).
    try:
        await client.assistant_threads_setStatus(
            channel_id=channel_id, thread_ts=thread_ts, status=THINKING, loading_messages=LOADING_MESSAGES
        )
    except SlackApiError as error:
        logger.info("Houston status not shown (channel %s, error %s)", channel_id, error.response.get("error"))


async def _post(client: AsyncWebClient, channel_id: str, thread_ts: str, message: SlackMessage) -> None:
    await client.chat_postMessage(
        channel=channel_id,
        thread_ts=thread_ts,
        text=message.text,
        blocks=message.blocks,
        unfurl_links=False,
        unfurl_media=False,
    )


async def _answer(
    client: AsyncWebClient, context: AsyncBoltContext, houston: HoustonAsker, request: HoustonRequest
) -> None:
    if await _is_shared(context, request.team_id, request.channel_id):
        await _post(client, request.channel_id, request.thread_ts, build_notice(NoticeKind.SHARED_CHANNEL))
        return
    await _set_status(client, request.channel_id, request.thread_ts)
    message = await houston.ask(request)
    await _post(client, request.channel_id, request.thread_ts, message)


def _question(text: str) -> str:
    return MENTION.sub("", text or "").strip()


# --- The button on outlier alerts -----------------------------------------------------------------------


async def on_ask_houston(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext, respond: AsyncRespond
) -> None:
    await ack()
    houston = services_of(context).houston
    team_id = await team_key(context)
    message = body.get("message") or {}
    channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
    thread_ts = message.get("thread_ts") or message.get("ts") or (body.get("container") or {}).get("message_ts")
    if houston is None or team_id is None or not channel_id or not thread_ts:
        await respond(response_type="ephemeral", replace_original=False, **_payload(build_notice(NoticeKind.NO_MODEL)))
        return
    if not await _claim(context, f"ask:{team_id}:{channel_id}:{thread_ts}"):
        answered = await houston.has_thread(team_id=team_id, channel_id=channel_id, thread_ts=thread_ts)
        notice = build_notice(NoticeKind.ALREADY_ANSWERED if answered else NoticeKind.ALREADY_ANSWERING)
        await respond(response_type="ephemeral", replace_original=False, **_payload(notice))
        return
    event_id = ((body.get("actions") or [{}])[0]).get("value") or ""
    question, client_hint = await _outlier_question(context, team_id, event_id)
    request = HoustonRequest(
        team_id=team_id,
        channel_id=channel_id,
        thread_ts=thread_ts,
        user_id=body["user"]["id"],
        question=question,
        client_hint=client_hint,
    )
    logger.info("Ask Houston pressed (team %s, channel %s, event %s)", team_id, channel_id, event_id)
    await _answer(client, context, houston, request)


async def _outlier_question(context: AsyncBoltContext, team_id: str, event_id: str) -> tuple[str, str | None]:
    """Build the analysis question from the stored alert event, only when it belongs to this workspace."""
    storage = storage_of(context)
    workspace = await storage.workspaces.get(team_id)
    stored = await storage.events.find(event_id) if event_id else None
    if stored is None or workspace is None or not _may_see(workspace, stored.agency_id, stored.client_id):
        return "Summarise the most severe recent outliers.", None
    data = stored.body.get("data") or {}
    question = OUTLIER_QUESTION.format(
        outlier_id=data.get("outlier_id", "?"), client_id=stored.client_id, channel=data.get("channel", "its")
    )
    return question, stored.client_id


def _may_see(workspace: Workspace, agency_id: str, client_id: str | None) -> bool:
    if workspace.agency_id != agency_id:
        return False
    return workspace.client_id is None or workspace.client_id == client_id


def _payload(message: SlackMessage) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


# --- Mentions, thread replies, direct messages ----------------------------------------------------------


async def on_mention(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    houston = services_of(context).houston
    team_id = await team_key(context)
    if houston is None or team_id is None or not await _claim(context, f"event:{body.get('event_id')}"):
        return
    request = HoustonRequest(
        team_id=team_id,
        channel_id=event["channel"],
        thread_ts=event.get("thread_ts") or event["ts"],
        user_id=event.get("user", ""),
        question=_question(event.get("text", "")),
    )
    await _answer(client, context, houston, request)


async def on_message(body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    """Continue Houston's threads without a mention, and answer direct messages."""
    houston = services_of(context).houston
    team_id = await team_key(context)
    if houston is None or team_id is None or event.get("subtype") or event.get("bot_id"):
        return
    text = event.get("text", "")
    if context.bot_user_id and f"<@{context.bot_user_id}>" in text:
        return  # the app_mention listener answers this one
    direct = event.get("channel_type") == "im"
    thread_ts = event.get("thread_ts") or (event["ts"] if direct else None)
    if thread_ts is None:
        return
    if not direct and not await houston.has_thread(team_id=team_id, channel_id=event["channel"], thread_ts=thread_ts):
        return
    if not await _claim(context, f"event:{body.get('event_id')}"):
        return
    request = HoustonRequest(
        team_id=team_id,
        channel_id=event["channel"],
        thread_ts=thread_ts,
        user_id=event.get("user", ""),
        question=_question(text),
    )
    await _answer(client, context, houston, request)


# --- Feedback and Retry -----------------------------------------------------------------------------------


async def on_feedback(ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext) -> None:
    await ack()
    houston = services_of(context).houston
    team_id = await team_key(context)
    if houston is None or team_id is None:
        return
    value = FEEDBACK_ACTIONS.get(action.get("action_id", ""), "")
    stored = await houston.record_feedback(
        key=str(action.get("value")), team_id=team_id, user_id=body["user"]["id"], value=value
    )
    logger.info("Houston feedback (team %s, user %s, value %s, stored %s)", team_id, body["user"]["id"], value, stored)


async def on_retry(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    houston = services_of(context).houston
    team_id = await team_key(context)
    key = str(action.get("value") or "")
    parts = key.split(":")
    # The key is team:channel:thread; a key naming another team is ignored, whatever the button says.
    if houston is None or team_id is None or len(parts) != 3 or parts[0] != team_id:
        return
    if not await _claim(context, f"retry:{key}:{(body.get('message') or {}).get('ts')}"):
        return
    _, channel_id, thread_ts = parts
    await _set_status(client, channel_id, thread_ts)
    message = await houston.retry(
        team_id=team_id, channel_id=channel_id, thread_ts=thread_ts, user_id=body["user"]["id"]
    )
    if message is not None:
        await _post(client, channel_id, thread_ts, message)


# --- The switch in App Home -------------------------------------------------------------------------------


async def on_toggle(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    workspace = await workspace_of(context)
    houston = services_of(context).houston
    if workspace is None or houston is None or not houston.configured:
        return
    user_id = body["user"]["id"]
    cache = services_of(context).admin_cache
    permission = await check_permission(client=client, cache=cache, workspace=workspace, user_id=user_id)
    if not permission.can_manage:
        if body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"], view=refusal_modal(managers_hint(workspace)))
        return
    enabled = action.get("value") == "on"
    storage, now = storage_of(context), clock_of(context).now()
    await storage.workspaces.set_houston_enabled(workspace.team_id, enabled, now=now)
    await storage.audit.record(
        team_id=workspace.team_id,
        user_id=user_id,
        action="Houston turned on" if enabled else "Houston turned off",
        target=f"Houston (model endpoint {houston.endpoint})",
        before={"houston_enabled": workspace.houston_enabled},
        after={"houston_enabled": enabled},
        now=now,
    )
    logger.info("Houston switched (team %s, user %s, enabled %s)", workspace.team_id, user_id, enabled)
    await refresh_home(body, client, context)
