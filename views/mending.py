"""Channels that mend themselves: the direct message about a rule that stopped posting, and the join offer.

When a rule's channel stops accepting messages (the bot was removed, the channel was archived or deleted),
the rule's creator gets one direct message with the reason. It has a Join button for a public channel, and
Pick another channel, which opens the rule modal.
"""

from __future__ import annotations

import json
from typing import Any

from storage.models import Rule
from views.rule_text import (
    NOTIFICATION_TYPE_LABELS,
    button,
    channel_mention,
    context_block,
    escape_keeping_mentions,
    plain_text,
    section_block,
)
from views.text import escape_and_truncate

# --- User-facing copy -------------------------------------------------------------------------------

FAILING_DM = ":warning: Your *{kind}* notification in {channel} stopped posting. {reason}"
HELD_LINE = "Alerts for it are kept, not dropped, and are sent as soon as the channel works again."
FIX_JOIN = "Add Mission Control to the channel, or send these notifications to another channel."
FIX_ARCHIVED = "Unarchive the channel, or send these notifications to another channel."
FIX_PRIVATE = "Invite Mission Control with `/invite @Mission Control` in that channel, or pick another channel."
FAILING_DM_FALLBACK = "Your {kind} notification stopped posting: {reason}"
JOIN_LABEL = "Join the channel"
PICK_LABEL = "Pick another channel"

JOINED_TEXT = ":white_check_mark: Mission Control joined {channel}. {held}"
JOINED_HELD_NONE = "No alerts were held back."
JOINED_HELD_ONE = "The 1 held alert is being sent now."
JOINED_HELD_MANY = "The {held} held alerts are being sent now."
JOIN_FAILED_TEXT = ":x: Mission Control could not join {channel} ({error}). {hint}"
JOIN_FAILED_ARCHIVED = "The channel is archived: unarchive it, or pick another channel."
JOIN_FAILED_OTHER = "Invite it with `/invite @Mission Control` in the channel, or pick another channel."
RULE_ALREADY_FIXED = "This notification is posting again: nothing to fix."

JOIN_OFFER_TITLE = "Join channel?"
JOIN_OFFER_SUBMIT = "Join and save"
JOIN_OFFER_CLOSE = "Back"
JOIN_OFFER_TEXT = (
    "Mission Control is not in {channel} yet, so it could not post there. "
    "Join this public channel now and save the notification?"
)
PRIVATE_CHANNEL_ERROR = (
    "Mission Control is not in this private channel: invite it with /invite @Mission Control there, then save again."
)
ARCHIVED_CHANNEL_ERROR = "This channel is archived: unarchive it or choose another."

# --- Interaction ids --------------------------------------------------------------------------------

MEND_JOIN_ACTION = "mend_join"
MEND_PICK_ACTION = "mend_pick"
JOIN_OFFER_CALLBACK = "rule_join_offer"

# Slack error codes of a failing channel, as `bot.delivery_policy.CHANNEL_ERRORS` names them.
CODE_NOT_IN_CHANNEL = "not_in_channel"
CODE_ARCHIVED = "is_archived"
CODE_NOT_FOUND = "channel_not_found"

MAX_REASON = 500


def build_failing_rule_dm(rule: Rule, *, code: str, is_private: bool) -> tuple[str, list[dict[str, Any]]]:
    """Build the direct message about a failing rule; return the fallback `text` and the `blocks`.

    `code` is the Slack error that stopped it. Join is offered only for a public channel the bot was not in:
    an archived channel cannot be joined, and a bot cannot join a private one by itself.
    """
    kind = NOTIFICATION_TYPE_LABELS[rule.type]
    reason = escape_keeping_mentions(rule.failure_reason or code, MAX_REASON)
    joinable = code == CODE_NOT_IN_CHANNEL and not is_private
    if joinable:
        fix = FIX_JOIN
    elif code == CODE_ARCHIVED:
        fix = FIX_ARCHIVED
    else:
        fix = FIX_PRIVATE
    buttons = [button(PICK_LABEL, action_id=MEND_PICK_ACTION, value=rule.id)]
    if joinable:
        buttons.insert(0, button(JOIN_LABEL, action_id=MEND_JOIN_ACTION, value=rule.id, style="primary"))
    blocks = [
        section_block(
            FAILING_DM.format(kind=escape_and_truncate(kind, 100), channel=channel_mention(rule.channel), reason=reason)
        ),
        # A stored reason already says what to do; the generic advice is only for a rule failing without one.
        context_block(HELD_LINE if rule.failure_reason else f"{fix} {HELD_LINE}"),
        {"type": "actions", "block_id": f"mend:{rule.id}", "elements": buttons},
    ]
    text = FAILING_DM_FALLBACK.format(kind=escape_and_truncate(kind, 100), reason=reason)
    return text, blocks


def joined_text(channel_id: str, held: int) -> str:
    if held == 0:
        held_text = JOINED_HELD_NONE
    elif held == 1:
        held_text = JOINED_HELD_ONE
    else:
        held_text = JOINED_HELD_MANY.format(held=f"{held:,}")
    return JOINED_TEXT.format(channel=channel_mention(channel_id), held=held_text)


def join_failed_text(channel_id: str, error: str) -> str:
    hint = JOIN_FAILED_ARCHIVED if error == CODE_ARCHIVED else JOIN_FAILED_OTHER
    return JOIN_FAILED_TEXT.format(
        channel=channel_mention(channel_id), error=escape_and_truncate(error, 100), hint=hint
    )


def build_join_offer(channel_id: str, form_metadata: dict[str, Any]) -> dict[str, Any]:
    """Build the modal pushed over the rule modal when its channel is public and the bot is not in it.

    `form_metadata` carries the rule form's choices, so submitting this modal joins and saves the rule.
    """
    return {
        "type": "modal",
        "callback_id": JOIN_OFFER_CALLBACK,
        "title": plain_text(JOIN_OFFER_TITLE, 24),
        "submit": plain_text(JOIN_OFFER_SUBMIT, 24),
        "close": plain_text(JOIN_OFFER_CLOSE, 24),
        "private_metadata": json.dumps(form_metadata),
        "blocks": [section_block(JOIN_OFFER_TEXT.format(channel=channel_mention(channel_id)))],
    }
