"""Checks of built messages against Slack's limits, written independently of views.limits.

The numbers come from Slack's Block Kit reference and the chat.update method page. They are repeated here
on purpose, so that a wrong constant in views.limits makes these checks fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from views.messages import SlackMessage

MESSAGE_BLOCKS = 50
TEXT_OBJECT = 3000
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD_TEXT = 2000
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
IDENTIFIER = 255
FALLBACK_TEXT = 4000
# An estimate: Slack documents no total, but users have reported msg_blocks_too_long near 13,200 characters.
TOTAL_TEXT = 12_000

# The only angle-bracket tokens that builders may emit: dates and http(s) links with escaped parts.
_ALLOWED_TOKENS = re.compile(
    r"<!date\^-?\d+\^\{date_short_pretty\} at \{time\}\|[^<>|]*>"
    r"|<https?://[^\s|<>]+\|[^<>|]*>"
)
_ENTITY_OR_AMPERSAND = re.compile(r"&(?:amp;|lt;|gt;)?")


def limit_violations(message: SlackMessage) -> list[str]:
    """List every way the message breaks one of Slack's limits, as readable sentences."""
    problems = _check_text(message.text, FALLBACK_TEXT, "fallback text")
    if not 1 <= len(message.blocks) <= MESSAGE_BLOCKS:
        problems.append(f"message has {len(message.blocks)} blocks")
    for index, block in enumerate(message.blocks):
        problems.extend(f"block {index}: {problem}" for problem in _block_violations(block))
    total = sum(len(text) for text in all_texts(message))
    if total > TOTAL_TEXT:
        problems.append(f"blocks hold {total} characters of text in total")
    return problems


def all_texts(message: SlackMessage) -> Iterator[str]:
    """Yield the text of every text object in the blocks."""
    for text_object in _text_objects(message.blocks):
        yield text_object["text"]


def mrkdwn_texts(message: SlackMessage) -> Iterator[str]:
    """Yield the top-level fallback text and the text of every `mrkdwn` object."""
    yield message.text
    for text_object in _text_objects(message.blocks):
        if text_object["type"] == "mrkdwn":
            yield text_object["text"]


def mrkdwn_objects(message: SlackMessage) -> Iterator[dict[str, Any]]:
    """Yield every `mrkdwn` text object in the blocks."""
    return (obj for obj in _text_objects(message.blocks) if obj["type"] == "mrkdwn")


def unsafe_markup(text: str) -> list[str]:
    """List the `<`, `>` and bare or partial `&` entities that are not part of an allowed token."""
    outside_tokens = _ALLOWED_TOKENS.sub("", text)
    problems = [char for char in outside_tokens if char in "<>"]
    for match in _ENTITY_OR_AMPERSAND.finditer(text):
        if match.group() == "&":
            problems.append(text[match.start() : match.start() + 6])
    return problems


def _text_objects(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        if "text" in block:
            yield block["text"]
        yield from block.get("fields", [])
        for element in block.get("elements", []):
            if element.get("type") in ("mrkdwn", "plain_text"):
                yield element
            elif "text" in element:
                yield element["text"]


def _block_violations(block: dict[str, Any]) -> list[str]:
    problems = _check_text(block.get("block_id", "x"), IDENTIFIER, "block_id")
    kind = block["type"]
    if kind == "header":
        problems += _header_violations(block)
    elif kind == "section":
        problems += _section_violations(block)
    elif kind == "context":
        problems += _context_violations(block)
    elif kind == "actions":
        problems += _actions_violations(block)
    else:
        problems.append(f"unexpected block type {kind!r}")
    return problems


def _header_violations(block: dict[str, Any]) -> list[str]:
    problems = _check_text(block["text"]["text"], HEADER_TEXT, "header")
    if block["text"]["type"] != "plain_text":
        problems.append("header is not plain_text")
    return problems


def _section_violations(block: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if "text" in block:
        problems += _check_text(block["text"]["text"], SECTION_TEXT, "section text")
    fields = block.get("fields", [])
    if len(fields) > SECTION_FIELDS:
        problems.append(f"section has {len(fields)} fields")
    for field in fields:
        problems += _check_text(field["text"], SECTION_FIELD_TEXT, "section field")
    if "text" not in block and not fields:
        problems.append("section has neither text nor fields")
    return problems


def _context_violations(block: dict[str, Any]) -> list[str]:
    elements = block["elements"]
    problems = [] if 1 <= len(elements) <= CONTEXT_ELEMENTS else [f"context has {len(elements)} elements"]
    for element in elements:
        problems += _check_text(element["text"], TEXT_OBJECT, "context element")
    return problems


def _actions_violations(block: dict[str, Any]) -> list[str]:
    elements = block["elements"]
    problems = [] if 1 <= len(elements) <= ACTIONS_ELEMENTS else [f"actions has {len(elements)} elements"]
    for element in elements:
        problems += _check_text(element["text"]["text"], BUTTON_TEXT, "button text")
        problems += _check_text(element.get("value", "x"), BUTTON_VALUE, "button value")
        problems += _check_text(element["action_id"], IDENTIFIER, "action_id")
    return problems


def _check_text(text: str, limit: int, name: str) -> list[str]:
    if not text:
        return [f"{name} is empty"]
    if len(text) > limit:
        return [f"{name} has {len(text)} characters, limit {limit}"]
    return []
