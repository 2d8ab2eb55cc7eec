"""Slack's size limits that the Block Kit builders enforce.

The block limits match Slack's text object reference (docs.slack.dev/reference/block-kit/composition-objects/
text-object) and the limits that slack_sdk 3.48 checks in `slack_sdk/models/blocks/`. The message `text`
limits are those of Slack's chat.postMessage and chat.update methods.

NOTE: Lengths are counted in Python code points, as slack_sdk counts them. Slack does not document whether
it counts code points or UTF-16 units, so text made mostly of characters outside the Basic Multilingual
Plane (most emoji) might count up to twice as long on Slack's side.
"""

from __future__ import annotations

# Blocks per surface.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100

# Text objects. Any `plain_text` or `mrkdwn` object contains at most 3,000 characters, and some blocks set
# a lower limit for their own fields.
MAX_TEXT_OBJECT = 3_000
MAX_SECTION_TEXT = 3_000
MAX_SECTION_FIELD_TEXT = 2_000
MAX_SECTION_FIELDS = 10
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_ELEMENT_TEXT = MAX_TEXT_OBJECT

# Interactive elements.
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2_000
MAX_BUTTON_URL = 3_000
MAX_ACTION_ID = 255
MAX_BLOCK_ID = 255

# Top-level message `text`. chat.postMessage truncates it past 40,000 characters (warning
# `message_truncated`), but chat.update rejects more than 4,000 with `msg_too_long`. Builders cap the
# notification fallback at the lower value so that a message can always be updated with the same text.
MAX_POST_MESSAGE_TEXT = 40_000
MAX_UPDATE_TEXT = 4_000
MAX_FALLBACK_TEXT = MAX_UPDATE_TEXT

# NOTE: Slack documents no limit on the total text over all blocks of one message, but users have reported
# `msg_blocks_too_long` near 13,200 characters. This budget is an estimate with a margin below that figure.
MAX_MESSAGE_TOTAL_TEXT = 12_000
