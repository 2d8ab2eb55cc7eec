"""Sample content for test messages of rule types that no single event produces."""

from __future__ import annotations

from views.messages import SlackMessage

DIGEST_SAMPLE_HEADER = "Daily digest (sample)"
DIGEST_SAMPLE_TEXT = (
    "Once a day, at the send time set in the Mission Control App Home, this channel gets a summary: "
    "notes by status, outliers of the last 24 hours by severity, and key metrics per marketing channel."
)


def digest_sample_message() -> SlackMessage:
    return SlackMessage(
        text=f"{DIGEST_SAMPLE_HEADER}: {DIGEST_SAMPLE_TEXT}",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": DIGEST_SAMPLE_HEADER}},
            {"type": "section", "text": {"type": "mrkdwn", "text": DIGEST_SAMPLE_TEXT, "verbatim": True}},
        ],
    )
