"""Sample content for test messages of rule types that no single event produces."""

from __future__ import annotations

from views.messages import SlackMessage

DIGEST_SAMPLE_HEADER = "Daily digest (sample)"
DIGEST_SAMPLE_TEXT = (
    "This channel is set to get the daily digest: notes by status, outliers of the last 24 hours by severity, "
    "and key metrics per marketing channel. Daily digests are not sent yet; this rule will start working "
    "when they are."
)


def digest_sample_message() -> SlackMessage:
    return SlackMessage(
        text=f"{DIGEST_SAMPLE_HEADER}: {DIGEST_SAMPLE_TEXT}",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": DIGEST_SAMPLE_HEADER}},
            {"type": "section", "text": {"type": "mrkdwn", "text": DIGEST_SAMPLE_TEXT, "verbatim": True}},
        ],
    )
