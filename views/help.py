"""The `/missioncontrol help` answer."""

from __future__ import annotations

from typing import Any

HELP_TITLE = "Mission Control for Slack"
HELP_INTRO = (
    "Mission Control posts your platform's alerts, notes and daily digests into Slack channels, "
    "following notification rules."
)
HELP_COMMANDS = [
    ("/missioncontrol help", "shows this message"),
    ("/missioncontrol rules", "lists the notification rules of this workspace (coming soon in Slack)"),
    ("/missioncontrol status", "shows whether the event feed and deliveries are healthy (coming soon)"),
]
HELP_OPERATOR_NOTE = (
    "Operators can manage rules today with `missioncontrol rules add|list|remove` "
    "or a seed file given to `missioncontrol serve --seed FILE`."
)


def help_message() -> dict[str, Any]:
    """Build the ephemeral help message as `text` and `blocks`."""
    lines = "\n".join(f"• `{command}`: {meaning}" for command, meaning in HELP_COMMANDS)
    return {
        "text": f"{HELP_TITLE}: {HELP_INTRO}",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": HELP_TITLE}},
            {"type": "section", "text": {"type": "mrkdwn", "text": HELP_INTRO}},
            {"type": "section", "text": {"type": "mrkdwn", "text": lines}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": HELP_OPERATOR_NOTE}]},
        ],
    }
