"""`/missioncontrol`: the slash command. Subcommands other than help arrive with the Slack surface."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from views.help import help_message

logger = logging.getLogger(__name__)

COMMAND = "/missioncontrol"


def register(app: AsyncApp) -> None:
    app.command(COMMAND)(handle_command)


async def handle_command(ack: AsyncAck, command: dict[str, Any]) -> None:
    subcommand = (command.get("text") or "").strip().split(" ")[0].lower()
    logger.info(
        "Slash command (team %s, user %s, subcommand %s)",
        command.get("team_id"),
        command.get("user_id"),
        subcommand or "help",
    )
    await ack(response_type="ephemeral", **help_message())
