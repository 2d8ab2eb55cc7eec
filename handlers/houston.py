"""The Ask Houston button on outlier alerts.

Every interactive element needs a listener: without one Bolt answers 404 and the user sees an error.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from views.messages import ASK_HOUSTON_ACTION_ID

logger = logging.getLogger(__name__)

# TODO: answer with Houston in the alert's thread once the copilot is built.
NOT_AVAILABLE = (
    "Houston is not available in Slack yet. Open the outlier in Mission Control to ask Houston about it there."
)


def register(app: AsyncApp) -> None:
    app.action(ASK_HOUSTON_ACTION_ID)(on_ask_houston)


async def on_ask_houston(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
    await ack()
    logger.info(
        "Ask Houston pressed (user %s, event %s)", body["user"]["id"], (body.get("actions") or [{}])[0].get("value")
    )
    await respond(response_type="ephemeral", replace_original=False, text=NOT_AVAILABLE)
