"""Plain-text rendering of a message for local mode, which prints messages instead of posting them."""

from __future__ import annotations

import json
import re
from typing import Any

from views.messages import SlackMessage
from views.text import unescape_mrkdwn

CONSOLE_TITLE = "=== Slack message to channel {channel} in team {team_id} ==="
CONSOLE_FALLBACK = "Notification text: {text}"
CONSOLE_JSON_TITLE = "--- Block Kit JSON ---"
DIVIDER_LINE = "-" * 40
CONTEXT_SEPARATOR = "  |  "

# Slack's angle-bracket tokens that builders emit: `<!date^...|fallback>`, `<url|label>` and `<url>`.
# Escaped content contains no `<` or `>`, so every match is a token that a builder put there.
_TOKEN = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def render_console(message: SlackMessage, *, channel: str, team_id: str) -> str:
    """Render a message as readable text followed by its Block Kit JSON.

    The readable part has one paragraph per block: headers, section text and fields, context lines and
    buttons shown as `[Ask Houston]`. Entities are decoded, dates show their fallback text and links show
    as "label (url)". The JSON part is exactly what would be sent as `text` and `blocks`.
    """
    lines = [
        CONSOLE_TITLE.format(channel=channel, team_id=team_id),
        CONSOLE_FALLBACK.format(text=readable_mrkdwn(message.text)),
    ]
    for block in message.blocks:
        lines.append("")
        lines.extend(_render_block(block))
    lines.append("")
    lines.append(CONSOLE_JSON_TITLE)
    lines.append(json.dumps(message.to_payload(), indent=2, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def readable_mrkdwn(text: str) -> str:
    """Replace date tokens by their fallback and links by "label (url)", then decode entities."""
    return unescape_mrkdwn(_TOKEN.sub(_readable_token, text))


def _readable_token(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("!date^"):
        return label if label is not None else target
    if label:
        return f"{label} ({target})"
    return target


def _render_block(block: dict[str, Any]) -> list[str]:
    block_type = block.get("type")
    if block_type == "header":
        return [_text_of(block.get("text"))]
    if block_type == "section":
        return _render_section(block)
    if block_type == "context":
        return [CONTEXT_SEPARATOR.join(_element_text(element) for element in block.get("elements", []))]
    if block_type == "actions":
        return [" ".join(_element_text(element) for element in block.get("elements", []))]
    if block_type == "divider":
        return [DIVIDER_LINE]
    return [f"[{block_type} block]"]


def _render_section(block: dict[str, Any]) -> list[str]:
    lines = []
    if "text" in block:
        lines.append(_text_of(block["text"]))
    for field in block.get("fields", []):
        lines.append("  " + _text_of(field).replace("\n", " "))
    return lines


def _element_text(element: dict[str, Any]) -> str:
    element_type = element.get("type")
    if element_type in ("plain_text", "mrkdwn"):
        return _text_of(element)
    if element_type == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if element_type == "button":
        return f"[{_text_of(element.get('text'))}]"
    return f"[{element_type}]"


def _text_of(text_object: dict[str, Any] | None) -> str:
    if not text_object:
        return ""
    text = str(text_object.get("text", ""))
    if text_object.get("type") == "mrkdwn":
        return readable_mrkdwn(text)
    return text
