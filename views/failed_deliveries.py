"""The "Undelivered messages" part of App Home: failed and dead deliveries with Retry buttons.

Pure: the handler passes the deliveries (latest first), their total, and what each one's event was about
(`views.delivery_subject`, keyed by event id). The part is at most two blocks per row for `MAX_ROWS` rows
plus four, so 20 blocks. With a page of rules (at most 60) and the snoozes (at most 12), the Notifications
section stays under Slack's 100 blocks per Home view.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from storage.models import Delivery
from views.delivery_subject import EXPIRED, state_label
from views.home import MAX_CONFIRM_BUTTON, MAX_CONFIRM_TEXT, MAX_CONFIRM_TITLE
from views.limits import MAX_BUTTON_VALUE
from views.notice import NOT_ALLOWED_TITLE, notice_modal
from views.rule_text import admin_names_text, button, code_text, context_block, plain_text, section_block
from views.text import escape_and_truncate, slack_date

# --- User-facing copy -------------------------------------------------------------------------------

TITLE = "*Undelivered messages*"
EMPTY = (
    "Every message was posted or is still queued. A message Slack rejects, or one that still fails after every "
    "retry, shows up here."
)
INTRO = "These messages were not posted. Fix the reason, then retry: a retry sends the message once."
READ_ONLY = "Only people who can change notifications can retry messages."
ROW = "*{subject}*\n{channel}  ·  {state}  ·  {when}\n{reason}"
EVENT_CONTEXT = "Event {event_id}"
UNKNOWN_REASON = "No reason was recorded."
MORE = "Showing the latest {shown} of {total}. *Retry all* retries every one of them."
RETRY_LABEL = "Retry"
RETRY_ALL_LABEL = "Retry all"
RETRY_ALL_CONFIRM_TITLE = "Retry all undelivered messages?"
RETRY_ALL_CONFIRM_TEXT = "Each of the {total} messages is queued again and posted once, as soon as Slack accepts it."
RETRY_ALL_CONFIRM_BUTTON = "Retry all"
RETRY_ALL_DENY_BUTTON = "Cancel"
RETRY_REFUSAL = (
    "Only {names} can retry undelivered messages. Ask one of them to retry it from this list, or ask an admin "
    "to add you as a manager in the Mission Control App Home."
)

# --- Ids and sizes ----------------------------------------------------------------------------------

RETRY_ACTION = "delivery_retry"
RETRY_ALL_ACTION = "delivery_retry_all"
RETRY_ALL_BLOCK = "delivery_retry_all"
MAX_ROWS = 8
MAX_REASON = 500
MAX_EVENT_ID = 200
# An escaped subject can be longer than the plain one (`&amp;`); this bounds it well under a section's 3,000.
MAX_SUBJECT = 300
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


def failed_delivery_blocks(
    deliveries: Sequence[Delivery],
    *,
    total: int,
    can_manage: bool,
    subjects: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Build the section: a title, one row per delivery with a Retry button for managers, and Retry all.

    `subjects` maps an event id to what the event was about, in plain text; a missing one reads as expired.
    """
    blocks: list[dict[str, Any]] = [{"type": "divider"}]
    if total == 0 or not deliveries:
        return [*blocks, section_block(f"{TITLE}\n{EMPTY}")]
    blocks.append(section_block(f"{TITLE}\n{INTRO}"))
    if not can_manage:
        blocks.append(context_block(READ_ONLY))
    shown = list(deliveries[:MAX_ROWS])
    for delivery in shown:
        subject = (subjects or {}).get(delivery.event_id, EXPIRED)
        blocks += [
            _row(delivery, subject=subject, can_manage=can_manage),
            context_block(EVENT_CONTEXT.format(event_id=code_text(delivery.event_id[:MAX_EVENT_ID]))),
        ]
    if total > len(shown):
        blocks.append(context_block(MORE.format(shown=len(shown), total=total)))
    if can_manage:
        blocks.append({"type": "actions", "block_id": RETRY_ALL_BLOCK, "elements": [_retry_all_button(total)]})
    return blocks


def _row(delivery: Delivery, *, subject: str, can_manage: bool) -> dict[str, Any]:
    channel = f"<#{delivery.channel}>" if _CHANNEL_ID.fullmatch(delivery.channel) else code_text(delivery.channel)
    text = ROW.format(
        subject=escape_and_truncate(subject, MAX_SUBJECT),
        channel=channel,
        state=state_label(delivery),
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


def retry_refusal_modal(admin_names_hint: str) -> dict[str, Any]:
    """Tell someone who may not retry messages who can; `admin_names_hint` keeps only user mentions."""
    return notice_modal(NOT_ALLOWED_TITLE, RETRY_REFUSAL.format(names=admin_names_text(admin_names_hint)))
