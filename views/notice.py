"""Small modals that tell the user one thing: a refusal, a test message result, a missing rule."""

from __future__ import annotations

from typing import Any

from views.help import refusal_message
from views.text import truncate

NOT_ALLOWED_TITLE = "Not allowed"
TEST_TITLE = "Test message"
SENDING_TEXT = ":hourglass_flowing_sand: Sending a test message…"
RULE_GONE_TITLE = "Notification gone"
RULE_GONE_TEXT = "This notification no longer exists. Someone may have deleted it; the list is now up to date."
TRY_AGAIN_TITLE = "Try again"
TRY_AGAIN_TEXT = "Mission Control could not reach its database. Nothing was changed; please try again in a minute."
# Modal titles hold at most 24 characters (Slack's view reference).
MAX_TITLE = 24


def notice_modal(title: str, mrkdwn: str) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": truncate(title, MAX_TITLE)},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": truncate(mrkdwn, 3000)}}],
    }


def refusal_modal(admin_names_hint: str) -> dict[str, Any]:
    message = refusal_message(admin_names_hint)
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": NOT_ALLOWED_TITLE},
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": message["blocks"],
    }
