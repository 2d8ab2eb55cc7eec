"""Test messages: the label on a sample alert sent from a rule's menu, and the report to the sender."""

from __future__ import annotations

from views.limits import MAX_FALLBACK_TEXT, MAX_MESSAGE_BLOCKS
from views.messages import SlackMessage
from views.rule_text import channel_mention, context_block, user_mention
from views.text import escape_and_truncate, truncate

# --- User-facing copy -------------------------------------------------------------------------------

TEST_LABEL = (
    ":test_tube: *Test message* from Mission Control, sent by {user} to check this notification. "
    "It is not a real alert."
)
TEST_FALLBACK_PREFIX = "[Test] "

TEST_POSTED = "Test message posted to {channel}."
TEST_FAILED = "Could not post to {channel}: {reason}"
# Plain words for the Slack errors that chat.postMessage returns most often for a rule's channel.
TEST_ERRORS = {
    "not_in_channel": "Mission Control is not in that channel. Type /invite @Mission Control there, then try again.",
    "channel_not_found": (
        "the channel was not found. It may have been deleted, or it is private and Mission Control is not in it."
    ),
    "is_archived": "the channel is archived. Unarchive it or choose another channel for this notification.",
    "ratelimited": "Slack is limiting how fast messages can be posted. Try again in a minute.",
}
TEST_ERROR_GENERIC = "Slack returned the error `{error}`."
TEST_ERROR_UNKNOWN = "Slack did not say why."

MAX_ERROR_CODE = 100


def label_as_test(message: SlackMessage, user_id: str) -> SlackMessage:
    """Mark a sample alert as a test sent by `user_id`: a context block first, "[Test] " before the text.

    The result stays within Slack's 50 blocks: when the alert already has 50, its last block is dropped.
    """
    label = context_block(TEST_LABEL.format(user=user_mention(user_id)))
    blocks = [label, *message.blocks[: MAX_MESSAGE_BLOCKS - 1]]
    text = truncate(TEST_FALLBACK_PREFIX + message.text, MAX_FALLBACK_TEXT)
    return SlackMessage(text=text, blocks=blocks)


def test_result_text(ok: bool, channel_id: str, error: str | None) -> str:
    """Report in `mrkdwn` whether the test message was posted, in plain words for Slack's error codes."""
    channel = channel_mention(channel_id)
    if ok:
        return TEST_POSTED.format(channel=channel)
    return TEST_FAILED.format(channel=channel, reason=_error_words(error))


# NOTE: pytest collects every function named test_* in a test module, imported ones too, so this opts out.
test_result_text.__test__ = False  # type: ignore[attr-defined]


def _error_words(error: str | None) -> str:
    if not error:
        return TEST_ERROR_UNKNOWN
    if error in TEST_ERRORS:
        return TEST_ERRORS[error]
    code = escape_and_truncate(error.replace("`", "'"), MAX_ERROR_CODE)
    return TEST_ERROR_GENERIC.format(error=code)
