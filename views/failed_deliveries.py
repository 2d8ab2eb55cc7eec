"""The "Undelivered messages" part of App Home: failed and dead deliveries with Retry buttons.

Pure: the handler passes the deliveries (latest first) and their total. The part is at most
`MAX_ROWS` rows plus four blocks, so the Notifications section stays under Slack's 100 blocks per Home view.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from storage.models import Delivery, DeliveryState
from views.home import MAX_CONFIRM_BUTTON, MAX_CONFIRM_TEXT, MAX_CONFIRM_TITLE
from views.limits import MAX_BUTTON_VALUE
from views.rule_text import button, code_text, context_block, plain_text, section_block
from views.text import escape_and_truncate, slack_date

# --- User-facing copy -------------------------------------------------------------------------------

TITLE = "*Undelivered messages*"
EMPTY = (
    "Every message was delivered. A message Slack rejects, or one that still fails after every retry, shows up here."
)
INTRO = "These messages were not posted. Fix the reason, then retry: a retry sends the message once."
READ_ONLY = "Only people who can change notifications can retry messages."
STATE_LABELS = {DeliveryState.FAILED: "Not sent", DeliveryState.DEAD: "Gave up after retries"}
ROW = "{channel}  ·  {state}  ·  {when}\n{reason}"
UNKNOWN_REASON = "No reason was recorded."
MORE = "Showing the latest {shown} of {total}. *Retry all* retries every one of them."
RETRY_LABEL = "Retry"
RETRY_ALL_LABEL = "Retry all"
RETRY_ALL_CONFIRM_TITLE = "Retry all undelivered messages?"
RETRY_ALL_CONFIRM_TEXT = "Each of the {total} messages is queued again and posted once, as soon as Slack accepts it."
RETRY_ALL_CONFIRM_BUTTON = "Retry all"
RETRY_ALL_DENY_BUTTON = "Cancel"

# --- Ids and sizes ----------------------------------------------------------------------------------

RETRY_ACTION = "delivery_retry"
RETRY_ALL_ACTION = "delivery_retry_all"
RETRY_ALL_BLOCK = "delivery_retry_all"
MAX_ROWS = 10
MAX_REASON = 500
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def failed_delivery_blocks(deliveries: Sequence[Delivery], *, total: int, can_manage: bool) -> list[dict[str, Any]]:
    """Build the section: a title, one row per delivery with a Retry button for managers, and Retry all."""
    blocks: list[dict[str, Any]] = [{"type": "divider"}]
    if total == 0 or not deliveries:
        return [*blocks, section_block(f"{TITLE}\n{EMPTY}")]
    blocks.append(section_block(f"{TITLE}\n{INTRO}"))
    if not can_manage:
        blocks.append(context_block(READ_ONLY))
    shown = list(deliveries[:MAX_ROWS])
    blocks += [_row(delivery, can_manage=can_manage) for delivery in shown]
    if total > len(shown):
        blocks.append(context_block(MORE.format(shown=len(shown), total=total)))
    if can_manage:
        blocks.append({"type": "actions", "block_id": RETRY_ALL_BLOCK, "elements": [_retry_all_button(total)]})
    return blocks


def _row(delivery: Delivery, *, can_manage: bool) -> dict[str, Any]:
    channel = f"<#{delivery.channel}>" if _CHANNEL_ID.fullmatch(delivery.channel) else code_text(delivery.channel)
    text = ROW.format(
        channel=channel,
        state=STATE_LABELS.get(delivery.state, delivery.state.value),
        when=slack_date(delivery.updated_at or delivery.created_at),
        reason=escape_and_truncate(delivery.last_error or UNKNOWN_REASON, MAX_REASON),
    )
    row = section_block(text)
    if can_manage and len(delivery.id) <= MAX_BUTTON_VALUE:
        row["accessory"] = button(RETRY_LABEL, action_id=RETRY_ACTION, value=delivery.id)
    return row


def _retry_all_button(total: int) -> dict[str, Any]:
    element = button(RETRY_ALL_LABEL, action_id=RETRY_ALL_ACTION, value="all", style="primary")
    element["confirm"] = {
        "title": plain_text(RETRY_ALL_CONFIRM_TITLE, MAX_CONFIRM_TITLE),
        "text": plain_text(RETRY_ALL_CONFIRM_TEXT.format(total=total), MAX_CONFIRM_TEXT),
        "confirm": plain_text(RETRY_ALL_CONFIRM_BUTTON, MAX_CONFIRM_BUTTON),
        "deny": plain_text(RETRY_ALL_DENY_BUTTON, MAX_CONFIRM_BUTTON),
    }
    return element
