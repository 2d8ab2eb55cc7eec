"""What to do after a failed post: a pure decision, so each case can be tested alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

# Slack errors that mean this channel cannot receive messages until someone acts in Slack. The reasons are shown
# in Slack (the failing-rule DM, App Home), which renders `{channel}` as a channel mention.
CHANNEL_ERRORS = {
    "not_in_channel": "Mission Control is not a member of {channel}: invite it there with /invite @Mission Control.",
    "channel_not_found": "{channel} was not found: it may be deleted, or private without Mission Control in it.",
    "is_archived": "{channel} is archived: unarchive it or move this rule to another channel.",
}
# Slack errors that mean the workspace's token no longer works.
WORKSPACE_ERRORS = {
    "invalid_auth": "Slack rejected the bot token (invalid_auth): reinstall the app.",
    "not_authed": "No bot token was sent (not_authed): check SLACK_BOT_TOKEN or reinstall the app.",
    "account_inactive": "The workspace or bot user is deactivated (account_inactive): reinstall the app.",
    "token_revoked": "The bot token was revoked (token_revoked): reinstall the app.",
    "app_uninstalled": "The app was uninstalled from the workspace (app_uninstalled).",
}

DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_RETRY_AFTER_SECONDS = 600.0


class Action(str, Enum):
    RETRY_AFTER = "retry after the time Slack asked for"
    RETRY_BACKOFF = "retry with backoff"
    RULE_FAILING = "stop: mark the rule failing"
    WORKSPACE_INACTIVE = "stop: mark the workspace inactive"
    GIVE_UP = "stop: the message cannot be sent"


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str
    delay_seconds: float = 0.0


def classify_slack_error(*, status: int | None, error: str | None, retry_after: str | None, channel: str) -> Verdict:
    """Decide what a Slack error means for this delivery, its rule and its workspace."""
    code = error or "unknown_error"
    if status == 429 or code in ("ratelimited", "rate_limited"):
        return Verdict(Action.RETRY_AFTER, f"Slack rate limit ({code})", _retry_after_seconds(retry_after))
    if status is not None and status >= 500:
        return Verdict(Action.RETRY_BACKOFF, f"Slack answered HTTP {status}")
    if code in CHANNEL_ERRORS:
        reason = CHANNEL_ERRORS[code].format(channel=_mention(channel))
        return Verdict(Action.RULE_FAILING, reason[:1].upper() + reason[1:])
    if code in WORKSPACE_ERRORS:
        return Verdict(Action.WORKSPACE_INACTIVE, WORKSPACE_ERRORS[code])
    if code in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
        return Verdict(Action.RETRY_BACKOFF, f"Slack error {code}")
    return Verdict(Action.GIVE_UP, f"Slack rejected the message ({code})")


def _mention(channel: str) -> str:
    # A channel id is [A-Z0-9]; anything else (or none) is not put inside a mention.
    if channel and channel.isalnum():
        return f"<#{channel}>"
    return "this channel"


def backoff_seconds(attempt: int, *, base: float, cap: float) -> float:
    """Exponential backoff: base, 2*base, 4*base, ... capped at `cap`."""
    return float(min(cap, base * (2 ** max(0, attempt - 1))))


def _retry_after_seconds(header: str | None) -> float:
    try:
        seconds = float(header) if header is not None else DEFAULT_RETRY_AFTER_SECONDS
    except ValueError:
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    if not math.isfinite(seconds):
        seconds = DEFAULT_RETRY_AFTER_SECONDS
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
