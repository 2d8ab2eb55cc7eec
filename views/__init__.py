"""Block Kit builders: pure functions from domain objects to Slack message JSON.

Views do no I/O, read no clock and create no clients. They import only `storage` models.
"""

from views.console import render_console
from views.messages import ASK_HOUSTON_ACTION_ID, SlackMessage, build_event_message
from views.text import escape_mrkdwn, safe_link, slack_date, truncate

__all__ = [
    "ASK_HOUSTON_ACTION_ID",
    "SlackMessage",
    "build_event_message",
    "escape_mrkdwn",
    "render_console",
    "safe_link",
    "slack_date",
    "truncate",
]
