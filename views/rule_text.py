"""Plain-word names, rule rows and small Block Kit pieces shared by the configuration views.

App Home (`views.home`), the `/missioncontrol rules` and `status` messages and the rule modal all show
rules the same way, with the text built here. Every string that came from storage (channel, client and
workspace names, failure reasons, audit targets) is escaped for `mrkdwn` and cut to a fixed size before it
is shown. Channel and user mentions (`<#C123>`, `<@U123>`) are emitted only for ids that look like Slack
ids, so a stored value can never turn into a broadcast or a link.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from storage.events_schema import Severity
from storage.models import Channel, NotificationType, Rule, RuleState, Workspace, WorkspaceStatus
from views.ids import (
    ADD_RULE_ACTION,
    ADD_RULE_BLOCK,
    MENU_DELETE,
    MENU_EDIT,
    MENU_PAUSE,
    MENU_RESUME,
    MENU_SEPARATOR,
    MENU_TEST,
    MENU_VERBS,
    RULE_MENU_ACTION,
    rule_menu_value,
)
from views.limits import MAX_BUTTON_TEXT, MAX_HEADER_TEXT, MAX_SECTION_FIELD_TEXT, MAX_SECTION_TEXT
from views.messages import SEVERITY_BADGES
from views.text import ELLIPSIS, escape_and_truncate, escape_mrkdwn, slack_date, truncate

# --- User-facing copy -------------------------------------------------------------------------------

ALL_CLIENTS_LABEL = "All Clients"

NOTIFICATION_TYPE_LABELS: dict[NotificationType, str] = {
    NotificationType.SYSTEM_ERRORS: "System errors",
    NotificationType.OUTLIER_ALERTS: "Outlier alerts",
    NotificationType.TASK_FAILURES: "Task failures",
    NotificationType.DAILY_DIGEST: "Daily digest",
    NotificationType.NOTE_CREATED: "New notes",
    NotificationType.NOTE_UPDATED: "Note updates",
}

# When each type fires, in one line. The rule modal cuts them to Slack's 75 characters for option
# descriptions.
NOTIFICATION_TYPE_DESCRIPTIONS: dict[NotificationType, str] = {
    NotificationType.SYSTEM_ERRORS: "When the platform reports an unhandled exception",
    NotificationType.OUTLIER_ALERTS: "When an outlier definition detects a metric deviation",
    NotificationType.TASK_FAILURES: "When a data pipeline job fails or enters the dead-letter state",
    NotificationType.DAILY_DIGEST: (
        "Once a day at the workspace's send time: notes by status, outliers by severity, key metrics"
    ),
    NotificationType.NOTE_CREATED: "When a note is created (never for private notes)",
    NotificationType.NOTE_UPDATED: "When a note is modified (never for private notes)",
}

SEVERITY_LABELS: dict[Severity, str] = {severity: badge.label for severity, badge in SEVERITY_BADGES.items()}
SEVERITY_FLOOR = "{severity} severity or higher"
ALL_SEVERITIES = "All severities"

STATE_ACTIVE = ":large_green_circle: Active"
STATE_PAUSED = ":double_vertical_bar: Paused"
STATE_FAILING = ":warning: Failing: {reason}"
STATE_FAILING_NO_REASON = ":warning: Failing, reason unknown"
STATE_FAILING_NOT_MEMBER = ":warning: Failing: invite @Mission Control to {channel}"

SHARED_CHANNEL_WARNING = (
    ":warning: #{channel} is shared with another organisation, so people outside your company can read "
    "the alerts posted there."
)
PRIVATE_CHANNEL_MARK = ":lock:"
RULE_SUMMARY = "{channel}  ·  *{type}*  ·  {client}"
RULE_SUMMARY_SEVERITY = "  ·  {severity}"

MENU_LABELS: dict[str, str] = {
    MENU_EDIT: "Edit",
    MENU_PAUSE: "Pause",
    MENU_RESUME: "Resume",
    MENU_TEST: "Send test message",
    MENU_DELETE: "Delete",
}

ADD_RULE_LABEL = "Add notification"
READ_ONLY = "Only {names} can change notifications."
DEFAULT_ADMIN_NAMES = "workspace admins and owners and Mission Control managers"

ACCOUNT_AGENCY = "Agency `{agency_id}`"
ACCOUNT_CLIENT = "Client `{client_id}` of agency `{agency_id}`"
ACCOUNT_NOT_LINKED = (
    "Not linked to a Mission Control account, so no alerts arrive. "
    "Ask a Mission Control admin for an install link, then install the app again from it."
)
WORKSPACE_ACTIVE = ":large_green_circle: Active"
WORKSPACE_INACTIVE = ":red_circle: Inactive: {reason}"
WORKSPACE_INACTIVE_NO_REASON = ":red_circle: Inactive"

LAST_EVENT_LABEL = "Last event received"
LAST_EVENT = "{date} ({age})"
NO_EVENTS_YET = "No events received yet"
FAILING_DELIVERIES_LABEL = "Failing deliveries"
FAILING_DELIVERIES_WARNING = ":warning: {count}"
PENDING_DELIVERIES_LABEL = "Pending deliveries"
PENDING_WITH_HELD = "{pending}, and {held} held until their channel works again"

JUST_NOW = "just now"
MINUTES_AGO = "{count} min ago"
HOURS_AGO = "{count} h ago"
DAYS_AGO = "{count} days ago"

# Part of the failure reason that bot.delivery_policy stores when Slack returns `not_in_channel`.
# Matches reasons stored before and after they named the channel with a mention.
NOT_MEMBER_MARKER = "not a member of "

# --- Sizes ------------------------------------------------------------------------------------------

# Slack channel names are at most 80 characters (conversations.create, docs.slack.dev).
MAX_CHANNEL_NAME = 80
# Our own caps, so that one long stored value cannot crowd out the rest of a row.
MAX_CLIENT_NAME = 100
MAX_REASON = 500
MAX_ID_TEXT = 100
MAX_ADMIN_NAMES = 1_000

# Limits that views.limits lacks, from Slack's Block Kit reference (docs.slack.dev/reference/block-kit).
# Option text and description are at most 75 characters, and a select menu has at most 100 options.
# For the option value, slack_sdk 3.48 allows 150 but older Slack pages and node-slack-sdk's types state 75,
# so the lower value is used.
MAX_OPTION_TEXT = 75
MAX_OPTION_VALUE = 75
MAX_SELECT_OPTIONS = 100
# Maximum rule id length for which every overflow value, such as "resume:" and the id, fits MAX_OPTION_VALUE.
MAX_MENU_RULE_ID = MAX_OPTION_VALUE - max(len(verb) for verb in MENU_VERBS) - len(MENU_SEPARATOR)

# Slack ids as they appear in mentions: channels start with C or G, users with U or W.
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{1,30}")
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,30}")
# Mentions of users and channels by Slack id; only text a handler built from Slack's ids carries them.
_USER_MENTION = re.compile(r"<(?:@[UW]|#[CG])[A-Z0-9]{1,30}>")
_TYPE_ORDER = {notification_type: index for index, notification_type in enumerate(NotificationType)}


# --- Mentions and names -----------------------------------------------------------------------------


def channel_mention(channel_id: str) -> str:
    """Build `<#C123>`, or the escaped id in code when it does not look like a Slack channel id."""
    if _CHANNEL_ID.fullmatch(channel_id):
        return f"<#{channel_id}>"
    return code_text(channel_id)


def user_mention(user_id: str) -> str:
    """Build `<@U123>`, or the escaped id in code when it does not look like a Slack user id."""
    if _USER_ID.fullmatch(user_id):
        return f"<@{user_id}>"
    return code_text(user_id)


def code_text(raw: str) -> str:
    """Escape an id and show it in code, without backticks that would end the code span early."""
    return f"`{_id_text(raw)}`"


def escape_keeping_mentions(text: str, limit: int) -> str:
    """Escape `text` for `mrkdwn` except user and channel mentions (`<@U123>`, `<#C123>`); cut to `limit`.

    Suits text that a handler built from Slack user ids, such as "workspace admins and owners, <@U1>".
    """
    parts: list[str] = []
    position = 0
    for match in _USER_MENTION.finditer(text):
        parts.append(escape_mrkdwn(text[position : match.start()]))
        parts.append(match.group())
        position = match.end()
    parts.append(escape_mrkdwn(text[position:]))
    return _truncate_keeping_mentions("".join(parts), limit)


def _truncate_keeping_mentions(text: str, limit: int) -> str:
    """Cut escaped text like `truncate`, dropping a mention that the cut would leave half open."""
    cut = truncate(text, limit)
    opening = max(cut.rfind("<@"), cut.rfind("<#"))
    if opening >= 0 and ">" not in cut[opening:]:
        return cut[:opening].rstrip() + ELLIPSIS
    return cut


def channel_name_text(channel: Channel | None, channel_id: str) -> str:
    """Show a channel as escaped "#name" when its name is known, otherwise as a mention of its id."""
    if channel is None or not channel.name:
        return channel_mention(channel_id)
    return "#" + escape_and_truncate(channel.name, MAX_CHANNEL_NAME)


def client_text(rule: Rule, client_name: str | None) -> str:
    """Name the rule's client in `mrkdwn`: "All Clients", the client's name, or its id when the name is unknown."""
    if rule.client_id is None:
        return ALL_CLIENTS_LABEL
    if client_name:
        return escape_and_truncate(" ".join(client_name.split()), MAX_CLIENT_NAME)
    return code_text(rule.client_id)


def shared_channel_warning(channel_name: str) -> str:
    """Warn that a channel is shared with another organisation. Plain text: escape it before `mrkdwn`."""
    return SHARED_CHANNEL_WARNING.format(channel=truncate(channel_name, MAX_CHANNEL_NAME))


# --- Rules ------------------------------------------------------------------------------------------


def rule_state_text(rule: Rule, channel: Channel | None) -> str:
    """Describe the rule's state in plain words, as `mrkdwn`.

    For a rule that fails because the bot is not in its channel, the text names the channel to invite it to.
    """
    if rule.state is RuleState.ACTIVE:
        return STATE_ACTIVE
    if rule.state is RuleState.PAUSED:
        return STATE_PAUSED
    reason = (rule.failure_reason or "").strip()
    if NOT_MEMBER_MARKER in reason.lower():
        return STATE_FAILING_NOT_MEMBER.format(channel=channel_name_text(channel, rule.channel))
    if not reason:
        return STATE_FAILING_NO_REASON
    # Reasons name the channel with a mention (bot.delivery_policy), which Slack renders as its name.
    return STATE_FAILING.format(reason=escape_keeping_mentions(" ".join(reason.split()), MAX_REASON))


def rule_summary(rule: Rule, channel: Channel | None, client_name: str | None) -> str:
    """Describe what the rule routes where, as one `mrkdwn` line.

    Channel, type and client always appear. Outlier rules add their minimum severity.
    """
    mention = channel_mention(rule.channel)
    if channel is not None and channel.is_private:
        mention = f"{PRIVATE_CHANNEL_MARK} {mention}"
    line = RULE_SUMMARY.format(
        channel=mention,
        type=NOTIFICATION_TYPE_LABELS[rule.type],
        client=client_text(rule, client_name),
    )
    if rule.type is NotificationType.OUTLIER_ALERTS:
        line += RULE_SUMMARY_SEVERITY.format(severity=severity_text(rule.min_severity))
    return line


def severity_text(severity: Severity | None) -> str:
    if severity is None:
        return ALL_SEVERITIES
    return SEVERITY_FLOOR.format(severity=SEVERITY_LABELS[severity])


def sort_rules(rules: Iterable[Rule], channels: dict[str, Channel], client_names: dict[str, str]) -> list[Rule]:
    """Order rules by channel name, then type, then client name, so pages stay stable between renders."""

    def key(rule: Rule) -> tuple[str, int, str, str]:
        channel = channels.get(rule.channel)
        channel_key = channel.name.lower() if channel is not None else rule.channel.lower()
        client_key = "" if rule.client_id is None else client_names.get(rule.client_id, rule.client_id).lower()
        return channel_key, _TYPE_ORDER[rule.type], client_key, rule.id

    return sorted(rules, key=key)


def rule_menu(rule: Rule) -> dict[str, Any] | None:
    """Build the overflow menu of a rule: Edit, Pause or Resume, Send test message, Delete.

    A failing rule offers Resume, which retries its channel. Returns None for a rule id too long for
    Slack's 75-character option value.
    """
    if len(rule.id) > MAX_MENU_RULE_ID:
        return None
    toggle = MENU_PAUSE if rule.state is RuleState.ACTIVE else MENU_RESUME
    verbs = (MENU_EDIT, toggle, MENU_TEST, MENU_DELETE)
    options = [option(MENU_LABELS[verb], rule_menu_value(verb, rule.id)) for verb in verbs]
    return {"type": "overflow", "action_id": RULE_MENU_ACTION, "options": options}


def rule_row_blocks(
    rule: Rule, *, channel: Channel | None, client_name: str | None, can_manage: bool
) -> list[dict[str, Any]]:
    """Build one rule's row: a section with its summary and state, and a warning for a shared channel.

    People who can manage rules get the overflow menu. A row is at most two blocks.
    """
    text = f"{rule_summary(rule, channel, client_name)}\n{rule_state_text(rule, channel)}"
    section = section_block(text)
    menu = rule_menu(rule) if can_manage else None
    if menu is not None:
        section["accessory"] = menu
    blocks = [section]
    if channel is not None and channel.is_shared:
        blocks.append(context_block(escape_mrkdwn(shared_channel_warning(channel.name))))
    return blocks


def add_rule_actions() -> dict[str, Any]:
    """Build the actions block with the Add notification button."""
    add = button(ADD_RULE_LABEL, action_id=ADD_RULE_ACTION, value=ADD_RULE_ACTION, style="primary")
    return {"type": "actions", "block_id": ADD_RULE_BLOCK, "elements": [add]}


def admin_names_text(admin_names_hint: str | None) -> str:
    """Name who can change notifications, as `mrkdwn` that keeps only user mentions from the hint."""
    return escape_keeping_mentions(admin_names_hint or DEFAULT_ADMIN_NAMES, MAX_ADMIN_NAMES)


def read_only_context(admin_names_hint: str | None) -> dict[str, Any]:
    """Build the line that names who can change notifications, for people who cannot."""
    return context_block(READ_ONLY.format(names=admin_names_text(admin_names_hint)))


# --- Account and event feed -------------------------------------------------------------------------


def account_text(workspace: Workspace) -> str:
    """Name the Mission Control account the workspace is linked to, or explain how to link it."""
    if workspace.agency_id is None:
        return ACCOUNT_NOT_LINKED
    agency = _id_text(workspace.agency_id)
    if workspace.client_id is None:
        return ACCOUNT_AGENCY.format(agency_id=agency)
    return ACCOUNT_CLIENT.format(client_id=_id_text(workspace.client_id), agency_id=agency)


def _id_text(raw: str) -> str:
    return escape_and_truncate(raw.replace("`", "'"), MAX_ID_TEXT)


def workspace_status_text(workspace: Workspace) -> str:
    if workspace.status is WorkspaceStatus.ACTIVE:
        return WORKSPACE_ACTIVE
    reason = " ".join((workspace.status_reason or "").split())
    if not reason:
        return WORKSPACE_INACTIVE_NO_REASON
    return WORKSPACE_INACTIVE.format(reason=escape_and_truncate(reason, MAX_REASON))


def feed_health_fields(
    *,
    last_event_at: datetime | None,
    failing_deliveries: int,
    pending_deliveries: int,
    now: datetime,
    held_deliveries: int = 0,
) -> list[dict[str, Any]]:
    """Build section fields for the event feed: last event received, failing and pending deliveries."""
    if last_event_at is None:
        last_event = NO_EVENTS_YET
    else:
        last_event = LAST_EVENT.format(date=slack_date(last_event_at), age=time_ago(last_event_at, now))
    pending = str(pending_deliveries)
    if held_deliveries > 0:
        pending = PENDING_WITH_HELD.format(pending=pending_deliveries, held=held_deliveries)
    failing = str(failing_deliveries)
    if failing_deliveries > 0:
        failing = FAILING_DELIVERIES_WARNING.format(count=failing_deliveries)
    return [
        field(LAST_EVENT_LABEL, last_event),
        field(FAILING_DELIVERIES_LABEL, failing),
        field(PENDING_DELIVERIES_LABEL, pending),
    ]


def time_ago(then: datetime, now: datetime) -> str:
    """Say how long ago `then` was, such as "5 min ago". A time in the future counts as just now."""
    seconds = (now - then).total_seconds()
    if seconds < 60:
        return JUST_NOW
    if seconds < 3600:
        return MINUTES_AGO.format(count=int(seconds // 60))
    if seconds < 48 * 3600:
        return HOURS_AGO.format(count=int(seconds // 3600))
    return DAYS_AGO.format(count=int(seconds // 86400))


# --- Block Kit pieces -------------------------------------------------------------------------------


def plain_text(text: str, limit: int = MAX_BUTTON_TEXT) -> dict[str, Any]:
    """Build a `plain_text` object cut to `limit`. Plain text is shown literally, so it is not escaped."""
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def mrkdwn_text(text: str) -> dict[str, Any]:
    """Build a `mrkdwn` object from text that is already escaped. `verbatim` stops Slack's auto-linking."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def header_block(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain_text(text, MAX_HEADER_TEXT)}


def section_block(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn_text(truncate(text, MAX_SECTION_TEXT))}


def fields_block(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "section", "fields": fields}


def field(label: str, value: str) -> dict[str, Any]:
    """Build one section field from a label and a value that is already `mrkdwn`."""
    return mrkdwn_text(truncate(f"*{label}*\n{value}", MAX_SECTION_FIELD_TEXT))


def context_block(*texts: str) -> dict[str, Any]:
    """Build a context block from `mrkdwn` texts that are already escaped, each cut to fit a section."""
    return {"type": "context", "elements": [mrkdwn_text(truncate(text, MAX_SECTION_TEXT)) for text in texts]}


def button(label: str, *, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": action_id, "text": plain_text(label), "value": value}
    if style is not None:
        element["style"] = style
    return element


def option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    """Build a select or overflow option, cutting the text and description to Slack's 75 characters."""
    built: dict[str, Any] = {"text": plain_text(text, MAX_OPTION_TEXT), "value": value}
    if description:
        built["description"] = plain_text(description, MAX_OPTION_TEXT)
    return built
