"""Bolt's global error handler: a short "try again" for the user when MongoDB is unavailable.

A listener that fails before it acknowledges still answers Slack: a slash command gets the sentence as its
reply and a modal submission pushes a notice. After the acknowledgement the user gets the notice through
the response URL, a modal opened with the trigger id, or, for App Home, a Home view that says so.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from pymongo.errors import PyMongoError
from slack_bolt.async_app import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from storage.database import StorageUnavailable
from views.notice import TRY_AGAIN_TEXT, TRY_AGAIN_TITLE, notice_modal

logger = logging.getLogger(__name__)


async def on_error(
    error: Exception,
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    response: BoltResponse | None,
) -> BoltResponse | None:
    """Tell the user to try again when storage failed; log anything else as Bolt's default handler does."""
    if not isinstance(error, StorageUnavailable | PyMongoError):
        logger.exception("Slack listener failed (team %s, type %s)", context.team_id, body.get("type"))
        return None
    user_id = context.user_id
    logger.warning(
        "Slack request failed because storage is unavailable (team %s, user %s, type %s, error %s)",
        context.team_id,
        user_id,
        body.get("type"),
        type(error).__name__,
    )
    if response is not None:
        return _unacknowledged_answer(body)
    try:
        await _tell_user(body, context, client)
    except SlackApiError as slack_error:
        logger.warning(
            "Could not show the try-again notice (user %s, error %s)", user_id, slack_error.response.get("error")
        )
    return None


def _unacknowledged_answer(body: dict[str, Any]) -> BoltResponse:
    if body.get("type") == "view_submission":
        answer = {"response_action": "push", "view": notice_modal(TRY_AGAIN_TITLE, TRY_AGAIN_TEXT)}
        return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})
    answer = {"response_type": "ephemeral", "text": TRY_AGAIN_TEXT}
    return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})


async def _tell_user(body: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
    if context.respond is not None and (body.get("response_url") or body.get("response_urls")):
        await context.respond(text=TRY_AGAIN_TEXT, response_type="ephemeral", replace_original=False)
    elif body.get("trigger_id"):
        await client.views_open(trigger_id=body["trigger_id"], view=notice_modal(TRY_AGAIN_TITLE, TRY_AGAIN_TEXT))
    elif (body.get("event") or {}).get("type") == "app_home_opened" and context.user_id:
        home = {"type": "home", "blocks": notice_modal(TRY_AGAIN_TITLE, TRY_AGAIN_TEXT)["blocks"]}
        await client.views_publish(user_id=context.user_id, view=home)
