"""Slack messages for the platform events that notification rules route to channels.

`build_event_message` turns one parsed event of a routed type (`system.error`, `outlier.detected`,
`task.failed`, `note.created`, `note.updated`) into a `SlackMessage`: Block Kit blocks plus the `text`
that Slack shows in notifications and in clients that cannot render blocks.

Links to Mission Control. An event's own `data.url` wins. Without it, and when the web app's base URL
is configured, the link is the base URL followed by one of these paths, with each id URL-quoted as a
single path segment:

    outlier      /clients/{client_id}/outliers/{outlier_id}
    task         /clients/{client_id}/tasks/{task_id}
    note         /clients/{client_id}/notes/{note_id}
    system error /system/errors

Without either, the message has no link.

Safety and size. Every string that came from the platform is escaped before it goes into `mrkdwn`, so
`<!channel>`, `<@U123>` or `<http://x|y>` in a note or an error message pings nobody and links nothing.
Every `mrkdwn` object also sets `verbatim`, which stops Slack from turning plain `@here`, channel names and
bare URLs into mentions and links (Slack's text object reference, docs.slack.dev). Each value is cut to
its slot with a visible ellipsis, so a message stays within Slack's limits whatever the event contains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple
from urllib.parse import quote

from storage.events_schema import (
    NoteCreatedEvent,
    NoteUpdatedEvent,
    OutlierDetectedEvent,
    Severity,
    SystemErrorEvent,
    TaskFailedEvent,
    TaskState,
)
from storage.models import ROUTED_EVENT_TYPES
from views.limits import (
    MAX_BUTTON_TEXT,
    MAX_FALLBACK_TEXT,
    MAX_HEADER_TEXT,
    MAX_SECTION_FIELD_TEXT,
    MAX_SECTION_TEXT,
)
from views.text import escape_and_truncate, safe_link, slack_date, truncate

# --- User-facing copy -------------------------------------------------------------------------------

LINK_LABEL = "Open in Mission Control"
EMPTY_VALUE = "(empty)"
PLATFORM_WIDE = "Platform-wide"
CLIENT_LABEL = "Client"

SYSTEM_ERROR_EMOJI = ":rotating_light:"
SYSTEM_ERROR_HEADER = "System error in {service}"
SYSTEM_ERROR_FALLBACK = "System error in {service}: {exception_type}: {message}"
SYSTEM_ERROR_TIME_LABEL = "Occurred"

OUTLIER_HEADER = "{severity} outlier: {metric} on {channel}"
OUTLIER_SUMMARY = "*{metric}* is *{observed}*, expected *{expected}* ({deviation})"
OUTLIER_FALLBACK = "{severity} outlier: {metric} on {channel} is {observed}, expected {expected} ({deviation})"
OUTLIER_TIME_LABEL = "Detected"
DEVIATION_UP_EMOJI = ":arrow_up:"
DEVIATION_DOWN_EMOJI = ":arrow_down:"
DEVIATION_FLAT_EMOJI = ":left_right_arrow:"
DEVIATION_UNDEFINED = "no deviation in percent, the expected value is 0"
ASK_HOUSTON_LABEL = "Ask Houston"
SNOOZE_LABEL = "Snooze"

TASK_FAILED_HEADER = "Task failed: {task_name}"
TASK_DEAD_LETTER_HEADER = "Task dead-lettered: {task_name}"
TASK_FAILED_SUMMARY = "*{task_name}* failed after {attempts}. The platform may retry it."
TASK_DEAD_LETTER_SUMMARY = (
    "*{task_name}* moved to the dead-letter queue after {attempts}. "
    "*It will not be retried automatically*: fix the cause, then rerun the task."
)
TASK_FALLBACK = "{state}: {task_name} after {attempts}"
TASK_RECOVERED_SUMMARY = "*{task_name}* recovered after {attempts}."
TASK_TIME_LABEL = "Failed"

NOTE_CREATED_EMOJI = ":memo:"
NOTE_UPDATED_EMOJI = ":pencil2:"
NOTE_CREATED_HEADER = "New note: {title}"
NOTE_UPDATED_HEADER = "Note updated: {title}"
NOTE_CREATED_FALLBACK = "New note by {author}: {title}"
NOTE_UPDATED_FALLBACK = "Note updated by {author}: {title}"
NOTE_CREATED_TIME_LABEL = "Created"
NOTE_UPDATED_TIME_LABEL = "Updated"
UNTITLED_NOTE = "Untitled note"
EMPTY_NOTE_BODY = "_This note has no text._"


class Badge(NamedTuple):
    """An emoji and a label that show a severity or a state at a glance."""

    emoji: str
    label: str


SEVERITY_BADGES: dict[Severity, Badge] = {
    Severity.LOW: Badge(":large_blue_circle:", "Low"),
    Severity.MEDIUM: Badge(":large_yellow_circle:", "Medium"),
    Severity.HIGH: Badge(":large_orange_circle:", "High"),
    Severity.CRITICAL: Badge(":red_circle:", "Critical"),
}

TASK_STATE_BADGES: dict[TaskState, Badge] = {
    TaskState.FAILED: Badge(":warning:", "Failed"),
    TaskState.DEAD_LETTER: Badge(":skull_and_crossbones:", "Dead letter"),
}
TASK_RECOVERED_BADGE = Badge(":white_check_mark:", "Recovered")

# --- Interaction ids and link paths -----------------------------------------------------------------

ASK_HOUSTON_ACTION_ID = "houston_ask_outlier"
OUTLIER_ACTIONS_BLOCK_ID = "outlier_actions"
# The Snooze button of every alert (outliers, task failures, system errors); its value is the event id.
SNOOZE_ACTION_ID = "snooze_open"
ALERT_ACTIONS_BLOCK_ID = "alert_actions"

OUTLIER_PATH = "/clients/{client_id}/outliers/{outlier_id}"
TASK_PATH = "/clients/{client_id}/tasks/{task_id}"
NOTE_PATH = "/clients/{client_id}/notes/{note_id}"
SYSTEM_ERRORS_PATH = "/system/errors"

# --- Size of each slot, below Slack's own limits ----------------------------------------------------

# Names and ids are at most 500 characters in the event schema. Escaping can make them longer, so each is
# cut to this size, which keeps a whole message under Slack's undocumented total of about 13,200.
MAX_VALUE = 500
MAX_CHANGED_FIELDS = 1_000
MAX_FALLBACK_EXCERPT = 200
# Numbers of this size or more are shown in scientific notation, so that no number fills a field.
SCIENTIFIC_FROM = 10**15
CODE_FENCE = "```"


@dataclass(frozen=True)
class SlackMessage:
    """A message ready for chat.postMessage or chat.update.

    `text` is the notification fallback: escaped `mrkdwn`, at most 4,000 characters, so chat.update
    accepts it too.
    """

    text: str
    blocks: list[dict[str, Any]]

    def to_payload(self) -> dict[str, Any]:
        """Return the `text` and `blocks` arguments of chat.postMessage as one dict."""
        return {"text": self.text, "blocks": self.blocks}


RoutedEvent = SystemErrorEvent | OutlierDetectedEvent | TaskFailedEvent | NoteCreatedEvent | NoteUpdatedEvent


def build_event_message(event: object, *, web_url: str | None, client_workspace: bool) -> SlackMessage:
    """Build the message for one event of a routed type.

    `web_url` is the base URL of the Mission Control web app, or None. `client_workspace` is True when the
    message goes to a client's own workspace, which must never receive a traceback or a request id.

    Raises:
        ValueError: the event is not of one of the five routed types, or is a private note.
    """
    if isinstance(event, SystemErrorEvent):
        return build_system_error_message(event, web_url=web_url, client_workspace=client_workspace)
    if isinstance(event, OutlierDetectedEvent):
        return build_outlier_message(event, web_url=web_url)
    if isinstance(event, TaskFailedEvent):
        return build_task_failure_message(event, web_url=web_url)
    if isinstance(event, NoteCreatedEvent):
        return build_note_created_message(event, web_url=web_url)
    if isinstance(event, NoteUpdatedEvent):
        return build_note_updated_message(event, web_url=web_url)
    event_type = getattr(event, "type", type(event).__name__)
    routed = ", ".join(ROUTED_EVENT_TYPES)
    raise ValueError(f"No Slack message for event type {event_type!r}. Routed types: {routed}")


# --- System errors ----------------------------------------------------------------------------------


def build_system_error_message(event: SystemErrorEvent, *, web_url: str | None, client_workspace: bool) -> SlackMessage:
    """Build the alert for an unhandled platform exception.

    In a client workspace the traceback, the request id and the link are left out.

    NOTE: Leaving out the link assumes that system error pages, and any `data.url` of a system error, are
    internal to the agency's platform.
    """
    data = event.data
    fields = [
        _field("Service", _value(data.service)),
        _field("Exception", _code(data.exception_type)),
        _field(SYSTEM_ERROR_TIME_LABEL, slack_date(event.occurred_at)),
    ]
    if data.request_id is not None and not client_workspace:
        fields.append(_field("Request ID", _code(data.request_id)))

    blocks = [
        _header(SYSTEM_ERROR_EMOJI, SYSTEM_ERROR_HEADER.format(service=data.service)),
        _section_fields(fields),
        _code_section("Message", data.message, keep_end=False),
    ]
    if data.traceback and not client_workspace:
        blocks.append(_code_section("Traceback", data.traceback, keep_end=True))

    link = None if client_workspace else _link(data.url, web_url, SYSTEM_ERRORS_PATH)
    blocks.append(_context(_client_label(event.client_id), link))
    blocks.append(_snooze_actions(event.id))
    fallback = SYSTEM_ERROR_FALLBACK.format(
        service=data.service,
        exception_type=data.exception_type,
        message=truncate(data.message, MAX_FALLBACK_EXCERPT),
    )
    return SlackMessage(text=_fallback(fallback), blocks=blocks)


# --- Outlier alerts ---------------------------------------------------------------------------------


def build_outlier_message(event: OutlierDetectedEvent, *, web_url: str | None) -> SlackMessage:
    """Build the alert for a detected metric outlier, with the Ask Houston button.

    The button's `value` is the event id (at most 128 characters, within the 2,000 of a button value).
    """
    data = event.data
    badge = SEVERITY_BADGES[data.severity]
    observed, expected = _format_number(data.observed), _format_number(data.expected)
    deviation = _format_deviation(data.observed, data.expected)

    summary = OUTLIER_SUMMARY.format(
        metric=_value(data.metric), observed=observed, expected=expected, deviation=deviation
    )
    fields = [
        _field("Severity", f"{badge.emoji} {badge.label}"),
        _field("Definition", _value(data.definition)),
        _field("Metric", _value(data.metric)),
        _field("Marketing channel", _value(data.channel)),
    ]
    path = OUTLIER_PATH.format(client_id=_segment(event.client_id), outlier_id=_segment(data.outlier_id))
    blocks = [
        _header(badge.emoji, OUTLIER_HEADER.format(severity=badge.label, metric=data.metric, channel=data.channel)),
        _section(summary),
        _section_fields(fields),
        _context(
            _client_label(event.client_id),
            _time_label(OUTLIER_TIME_LABEL, event),
            _link(data.url, web_url, path),
        ),
        _ask_houston_actions(event.id),
    ]
    return SlackMessage(text=_outlier_fallback(event), blocks=blocks)


def _outlier_fallback(event: OutlierDetectedEvent) -> str:
    data = event.data
    fallback = OUTLIER_FALLBACK.format(
        severity=SEVERITY_BADGES[data.severity].label,
        metric=data.metric,
        channel=data.channel,
        observed=_format_number(data.observed),
        expected=_format_number(data.expected),
        deviation=_deviation_percent_text(data.observed, data.expected),
    )
    return _fallback(fallback)


def _ask_houston_actions(event_id: str) -> dict[str, Any]:
    button = {
        "type": "button",
        "action_id": ASK_HOUSTON_ACTION_ID,
        "text": _plain(truncate(ASK_HOUSTON_LABEL, MAX_BUTTON_TEXT)),
        "style": "primary",
        "value": event_id,
    }
    return {"type": "actions", "block_id": OUTLIER_ACTIONS_BLOCK_ID, "elements": [button, _snooze_button(event_id)]}


def _snooze_button(event_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": SNOOZE_ACTION_ID,
        "text": _plain(truncate(SNOOZE_LABEL, MAX_BUTTON_TEXT)),
        "value": event_id,
    }


def _snooze_actions(event_id: str) -> dict[str, Any]:
    return {"type": "actions", "block_id": ALERT_ACTIONS_BLOCK_ID, "elements": [_snooze_button(event_id)]}


def _format_deviation(observed: float, expected: float) -> str:
    percent = _deviation_percent(observed, expected)
    if percent is None:
        return DEVIATION_UNDEFINED
    if percent > 0:
        emoji = DEVIATION_UP_EMOJI
    elif percent < 0:
        emoji = DEVIATION_DOWN_EMOJI
    else:
        emoji = DEVIATION_FLAT_EMOJI
    return f"{emoji} *{_format_percent(percent)}*"


def _deviation_percent_text(observed: float, expected: float) -> str:
    percent = _deviation_percent(observed, expected)
    return DEVIATION_UNDEFINED if percent is None else _format_percent(percent)


def _deviation_percent(observed: float, expected: float) -> float | None:
    """Return how far `observed` is from `expected` in percent of `expected`, or None when undefined."""
    if expected == 0:
        return 0.0 if observed == 0 else None
    try:
        percent = (observed - expected) / abs(expected) * 100
    except OverflowError:
        return None
    return percent if math.isfinite(percent) else None


def _format_percent(percent: float) -> str:
    if abs(percent) >= 1_000_000:
        return f"{percent:+.2e}%"
    return f"{percent:+,.1f}%"


def _format_number(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if abs(value) >= SCIENTIFIC_FROM:
        return f"{Decimal(value):.4e}"
    if isinstance(value, int) or value.is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


# --- Task failures ----------------------------------------------------------------------------------


def build_task_failure_message(event: TaskFailedEvent, *, web_url: str | None, recovered: bool = False) -> SlackMessage:
    """Build the alert for a failed pipeline task.

    A dead-lettered task looks different from a failed one (emoji, header and wording), and its message
    states that it will not be retried automatically. With `recovered` (a `task.recovered` followed), the
    state and the sentence say that it recovered.
    """
    data = event.data
    badge = TASK_STATE_BADGES[data.state]
    dead = data.state is TaskState.DEAD_LETTER
    header = (TASK_DEAD_LETTER_HEADER if dead else TASK_FAILED_HEADER).format(task_name=data.task_name)
    summary = (TASK_DEAD_LETTER_SUMMARY if dead else TASK_FAILED_SUMMARY).format(
        task_name=_value(data.task_name), attempts=_attempts(data.attempts)
    )
    state = TASK_RECOVERED_BADGE if recovered else badge
    if recovered:
        summary = TASK_RECOVERED_SUMMARY.format(task_name=_value(data.task_name), attempts=_attempts(data.attempts))
    fields = [
        _field("State", f"{state.emoji} {state.label}"),
        _field("Attempts", str(data.attempts)),
        _field("Task ID", _code(data.task_id)),
        _field(TASK_TIME_LABEL, slack_date(event.occurred_at)),
    ]
    path = TASK_PATH.format(client_id=_segment(event.client_id), task_id=_segment(data.task_id))
    blocks = [
        _header(badge.emoji, header),
        _section(summary),
        _section_fields(fields),
        _code_section("Error", data.error, keep_end=False),
        _context(_client_label(event.client_id), _link(data.url, web_url, path)),
        _snooze_actions(event.id),
    ]
    fallback = TASK_FALLBACK.format(state=badge.label, task_name=data.task_name, attempts=_attempts(data.attempts))
    return SlackMessage(text=_fallback(fallback), blocks=blocks)


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


# --- Notes ------------------------------------------------------------------------------------------


def build_note_created_message(event: NoteCreatedEvent, *, web_url: str | None) -> SlackMessage:
    """Build the announcement of a new note.

    Raises:
        ValueError: the note is private. Private notes are never posted.
    """
    return _note_message(
        event,
        web_url=web_url,
        header=(NOTE_CREATED_EMOJI, NOTE_CREATED_HEADER),
        fallback=NOTE_CREATED_FALLBACK,
        time_label=NOTE_CREATED_TIME_LABEL,
    )


def build_note_updated_message(event: NoteUpdatedEvent, *, web_url: str | None) -> SlackMessage:
    """Build the announcement of a changed note, listing the changed fields when the event names them.

    Raises:
        ValueError: the note is private. Private notes are never posted.
    """
    return _note_message(
        event,
        web_url=web_url,
        header=(NOTE_UPDATED_EMOJI, NOTE_UPDATED_HEADER),
        fallback=NOTE_UPDATED_FALLBACK,
        time_label=NOTE_UPDATED_TIME_LABEL,
    )


def _note_message(
    event: NoteCreatedEvent | NoteUpdatedEvent,
    *,
    web_url: str | None,
    header: tuple[str, str],
    fallback: str,
    time_label: str,
) -> SlackMessage:
    data = event.data
    if data.private:
        raise ValueError(f"Note {data.note_id!r} is private, and private notes are never posted")
    title = data.title.strip() or UNTITLED_NOTE
    emoji, header_template = header

    fields = [_field("Author", _value(data.author)), _field("Status", _value(data.status))]
    if data.changed_fields:
        changed = escape_and_truncate(", ".join(data.changed_fields), MAX_CHANGED_FIELDS)
        fields.append(_field("Changed", changed))
    body = escape_and_truncate(data.body, MAX_SECTION_TEXT) if data.body.strip() else EMPTY_NOTE_BODY
    path = NOTE_PATH.format(client_id=_segment(event.client_id), note_id=_segment(data.note_id))
    blocks = [
        _header(emoji, header_template.format(title=title)),
        _section_fields(fields),
        _section(body),
        _context(_client_label(event.client_id), _time_label(time_label, event), _link(data.url, web_url, path)),
    ]
    return SlackMessage(text=_fallback(fallback.format(author=data.author, title=title)), blocks=blocks)


# --- Block Kit pieces -------------------------------------------------------------------------------


def _plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _header(emoji: str, text: str) -> dict[str, Any]:
    """Build a header block. `plain_text` shows the text literally, so it is cut but not escaped."""
    one_line = " ".join(text.split())
    return {"type": "header", "text": _plain(truncate(f"{emoji} {one_line}", MAX_HEADER_TEXT))}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def _section_fields(fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "section", "fields": fields}


def _field(label: str, value: str) -> dict[str, Any]:
    """Build one section field from a label and a value that is already `mrkdwn`."""
    return _mrkdwn(truncate(f"*{label}*\n{value}", MAX_SECTION_FIELD_TEXT))


def _code_section(label: str, raw: str, *, keep_end: bool) -> dict[str, Any]:
    """Build a section with a label and `raw` in a code block, cut to fit the section."""
    prefix = f"*{label}*\n{CODE_FENCE}\n"
    suffix = f"\n{CODE_FENCE}"
    room = MAX_SECTION_TEXT - len(prefix) - len(suffix)
    content = _break_fences(raw.rstrip()) if raw.strip() else EMPTY_VALUE
    return _section(prefix + escape_and_truncate(content, room, keep_end=keep_end) + suffix)


def _break_fences(text: str) -> str:
    """Put a zero-width space between backticks that would otherwise end the code block early."""
    return text.replace(CODE_FENCE, "`\u200b`\u200b`")


def _context(*parts: str | None) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(part) for part in parts if part]}


def _value(raw: str) -> str:
    return escape_and_truncate(" ".join(raw.split()), MAX_VALUE) or EMPTY_VALUE


def _code(raw: str) -> str:
    return f"`{_value(raw)}`"


def _client_label(client_id: str | None) -> str:
    if client_id is None:
        return f"{CLIENT_LABEL}: {PLATFORM_WIDE}"
    return f"{CLIENT_LABEL}: {_code(client_id)}"


def _time_label(label: str, event: RoutedEvent) -> str:
    return f"{label} {slack_date(event.occurred_at)}"


def _link(event_url: str | None, web_url: str | None, path: str) -> str | None:
    """Return a `mrkdwn` link to the event's page, or None when there is no usable URL."""
    if event_url is not None:
        url = event_url
    elif web_url:
        url = web_url.rstrip("/") + path
    else:
        return None
    link = safe_link(url, LINK_LABEL)
    return link if link.startswith("<") else None


def _segment(value: str | None) -> str:
    return quote(value or "", safe="")


def _fallback(raw: str) -> str:
    return escape_and_truncate(" ".join(raw.split()), MAX_FALLBACK_TEXT)
