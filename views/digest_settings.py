"""The daily digest settings in App Home's Connection section, and the time zone picker's options."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import available_timezones

from storage.models import DigestSettings
from views.text import escape_and_truncate, slack_date

DIGEST_BLOCK = "digest_settings"
DIGEST_ENABLED_ACTION = "digest_enabled"
DIGEST_TIME_ACTION = "digest_time"
DIGEST_TIMEZONE_ACTION = "digest_timezone"
DIGEST_SAVE_ACTION = "digest_save"
DIGEST_SEND_NOW_ACTION = "digest_send_now"

TITLE = "*Daily digest*"
STATE_ON = "On: sent every day at {time} ({zone}) to the channels with a Daily Digest notification."
STATE_OFF = "Off. Turn it on to get notes, outliers and key metrics once a day."
NEXT_SEND = "Next digest: {when}."
NO_CHANNEL = "No channel has a Daily Digest notification yet: add one in Notifications."
READ_ONLY = "Only people who can change notifications can change these settings."
SAVE_LABEL = "Save"
SEND_NOW_LABEL = "Send me a preview"
ON_LABEL = "On"
OFF_LABEL = "Off"
# Send times are offered in 30-minute steps; the command accepts any HH:MM.
SEND_TIMES = [f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in (0, 30)]
# Slack shows at most 100 options in a select (Block Kit select menu reference).
MAX_OPTIONS = 100


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text[:75]}, "value": value[:75]}


def digest_settings_blocks(
    settings: DigestSettings,
    *,
    can_manage: bool,
    next_send_at: datetime | None,
    has_digest_channel: bool,
) -> list[dict[str, Any]]:
    """Build the settings: their state in words, then (for managers) the controls with Save and a preview."""
    zone = escape_and_truncate(settings.timezone, 100)
    lines = [TITLE, STATE_ON.format(time=settings.send_time, zone=zone) if settings.enabled else STATE_OFF]
    if settings.enabled and next_send_at is not None:
        lines.append(NEXT_SEND.format(when=slack_date(next_send_at)))
    if settings.enabled and not has_digest_channel:
        lines.append(NO_CHANNEL)
    if not can_manage:
        lines.append(READ_ONLY)
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}]
    if can_manage:
        blocks.append(_controls(settings))
    blocks.append(
        {
            "type": "actions",
            "block_id": "digest_preview",
            "elements": [{"type": "button", "action_id": DIGEST_SEND_NOW_ACTION, "text": _plain(SEND_NOW_LABEL)}],
        }
    )
    return blocks


def _controls(settings: DigestSettings) -> dict[str, Any]:
    on, off = _option(ON_LABEL, "on"), _option(OFF_LABEL, "off")
    time_options = [_option(value, value) for value in SEND_TIMES]
    initial_time = _option(settings.send_time, settings.send_time)
    if settings.send_time not in SEND_TIMES:
        time_options = [initial_time, *time_options][:MAX_OPTIONS]
    return {
        "type": "actions",
        "block_id": DIGEST_BLOCK,
        "elements": [
            {
                "type": "static_select",
                "action_id": DIGEST_ENABLED_ACTION,
                "options": [on, off],
                "initial_option": on if settings.enabled else off,
            },
            {
                "type": "static_select",
                "action_id": DIGEST_TIME_ACTION,
                "options": time_options,
                "initial_option": initial_time,
            },
            {
                "type": "external_select",
                "action_id": DIGEST_TIMEZONE_ACTION,
                "placeholder": _plain("Time zone"),
                "min_query_length": 1,
                "initial_option": _option(settings.timezone, settings.timezone),
            },
            {"type": "button", "action_id": DIGEST_SAVE_ACTION, "style": "primary", "text": _plain(SAVE_LABEL)},
        ],
    }


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def timezone_options(query: str) -> list[dict[str, Any]]:
    """List IANA time zones whose name contains `query` (case-insensitive, spaces as underscores), at most 100."""
    needle = query.strip().lower().replace(" ", "_")
    # Area/City names only (plus UTC): the legacy aliases such as "EST5EDT" confuse more than they help.
    names = sorted(name for name in available_timezones() if "/" in name or name == "UTC")
    if needle:
        names = [name for name in names if needle in name.lower()]
    return [_option(name, name) for name in names[:MAX_OPTIONS]]
