"""Houston's switch in App Home's Connection section, naming where questions and data are sent."""

from __future__ import annotations

from typing import Any

from views.text import escape_and_truncate

HOUSTON_TOGGLE_ACTION = "houston_toggle"

TITLE = "*Houston*, the AI copilot"
STATE_ON = (
    "On. People can press *Ask Houston* on outlier alerts, mention @Mission Control, or send it a direct message."
)
STATE_OFF = "Off. Turn it on to let people ask Houston about this account's metrics, outliers and notes."
ENDPOINT = "Questions and the account data Houston reads are sent to the model endpoint `{endpoint}`."
NO_MODEL = (
    "No AI model is configured for this bot, so Houston cannot be turned on. The operator sets HOUSTON_MODEL "
    "and OPENAI_API_KEY, or OPENAI_BASE_URL for another OpenAI-compatible server."
)
READ_ONLY = "Only people who can change notifications can turn Houston on or off."
TURN_ON = "Turn Houston on"
TURN_OFF = "Turn Houston off"


def houston_settings_blocks(
    *, enabled: bool, configured: bool, endpoint: str, can_manage: bool
) -> list[dict[str, Any]]:
    lines = [TITLE, STATE_ON if enabled and configured else STATE_OFF]
    if configured:
        lines.append(ENDPOINT.format(endpoint=escape_and_truncate(endpoint, 300)))
    else:
        lines.append(NO_MODEL)
    if configured and not can_manage:
        lines.append(READ_ONLY)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if configured and can_manage:
        button: dict[str, Any] = {
            "type": "button",
            "action_id": HOUSTON_TOGGLE_ACTION,
            "text": {"type": "plain_text", "text": TURN_OFF if enabled else TURN_ON},
            "value": "off" if enabled else "on",
        }
        if not enabled:
            button["style"] = "primary"
        blocks.append({"type": "actions", "block_id": "houston_settings", "elements": [button]})
    return blocks
