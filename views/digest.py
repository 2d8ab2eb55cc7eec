"""Slack messages of the daily digest, built from a `DigestData`.

Layouts, chosen by `build_digest_messages`:

- quiet day: one short message saying so, no replies;
- one client in scope: everything in the main message (outliers, notes, key metrics per marketing channel);
- several clients: the main message shows the totals, the most severe outliers, the key metrics summed per
  marketing channel and the ten most active clients. Each client with activity gets one reply with its
  details, for the sender to post in the main message's thread.

Every string that came from the platform (client names, note statuses, metric and channel names) is escaped
and cut to its slot, and each list section stops adding lines at a budget and says how many were left out,
so every message stays within Slack's limits whatever the number of clients or the length of their names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from storage.digest_models import ChannelMetrics, ClientDigest, DigestData, OutlierLine
from storage.events_schema import Severity
from views.limits import MAX_FALLBACK_TEXT, MAX_HEADER_TEXT, MAX_MESSAGE_TOTAL_TEXT, MAX_SECTION_TEXT
from views.messages import SEVERITY_BADGES, SlackMessage
from views.text import ELLIPSIS, escape_and_truncate, safe_link, slack_date, truncate

# --- User-facing copy -------------------------------------------------------------------------------

DIGEST_EMOJI = ":sunrise:"
CLIENT_EMOJI = ":office:"
HEADER = "Daily digest for {scope}, {day}"
CLIENT_HEADER = "{client}"
FALLBACK = "Daily digest for {scope}, {day}: {summary}"
CLIENT_FALLBACK = "{client}: {summary}"

QUIET_TEXT = "A quiet day: no outliers in the last 24 hours, no notes changed and no metrics for {day}."
QUIET_FALLBACK = "Daily digest for {scope}, {day}: a quiet day, nothing to report."

CLIENTS_SUMMARY = "*{active}* of {total} clients had outliers, note changes or metrics."
OUTLIERS_LABEL = "Outliers in the last 24 hours"
NOTES_LABEL = "Notes"
NOTES_CHANGED = "{count} changed in the last 24 hours"
NONE_VALUE = "none"
MORE_STATUSES = "{count} more statuses"

TOP_OUTLIERS_TITLE = "*Most severe outliers*"
OUTLIER_LINE = "{emoji} *{metric}* on {channel}: {observed}, expected {expected}{change}"
OUTLIER_CLIENT = " · {client}"
OUTLIER_DETECTED = " · detected {date}"
OUTLIER_RESOLVED = " · resolved"

METRICS_TITLE = "*Key metrics for {day}*, compared with {previous_day}"
METRICS_TOTAL_TITLE = "*Key metrics of all clients for {day}*, compared with {previous_day}"
METRIC_LINE = "*{channel}*: spend {spend} · conversions {conversions} · CPA {cpa} · ROAS {roas}"
NO_VALUE = "n/a"
FROM_ZERO = "from 0"

ACTIVE_CLIENTS_TITLE = "*Most active clients*"
ACTIVE_CLIENT_LINE = "{emoji} {client}: {activity}"
QUIET_CLIENT_EMOJI = ":white_circle:"
NO_ACTIVITY = "no activity"
THREAD_HINT = "Each client's details are in the replies to this message."
MORE_LINES = ELLIPSIS + "and {count} more"
LINK_LABEL = "Open in Mission Control"

UP_EMOJI = ":arrow_up:"
DOWN_EMOJI = ":arrow_down:"
FLAT_EMOJI = ":left_right_arrow:"

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

CLIENT_PATH = "/clients/{client_id}"

# --- Sizes ------------------------------------------------------------------------------------------

MAX_ACTIVE_CLIENTS = 10
MAX_STATUSES = 8
# Platform names are cut to these lengths before escaping, so one long name cannot crowd out a list.
MAX_NAME = 80
MAX_STATUS = 40
# A client link is left out when its URL is longer, so that one outlier or client line stays short.
MAX_CLIENT_URL = 500
# Each list section stops adding lines at this many characters. Three lists plus the summary, header and
# context stay below the estimated total of MAX_MESSAGE_TOTAL_TEXT for one message.
LIST_BUDGET = min(MAX_SECTION_TEXT, (MAX_MESSAGE_TOTAL_TEXT - 2_000) // 3)
# Numbers of this size or more are shown in scientific notation.
SCIENTIFIC_FROM = 1e15


@dataclass(frozen=True)
class DigestMessages:
    """The digest's main message, and the replies to post in its thread (one per client with activity)."""

    main: SlackMessage
    replies: list[SlackMessage]


def build_digest_messages(data: DigestData, *, web_url: str | None, scope_label: str) -> DigestMessages:
    """Build the digest's messages.

    `scope_label` names the scope in the header, such as the agency's or the client's name, and `web_url`
    is the Mission Control web app's base URL for client links, or None for no links.
    """
    if data.quiet:
        return DigestMessages(main=_quiet_message(data, scope_label=scope_label), replies=[])
    if len(data.clients) == 1:
        main = _single_client_message(data, data.clients[0], web_url=web_url, scope_label=scope_label)
        return DigestMessages(main=main, replies=[])
    active = _rank_active_clients(data.clients)
    main = _agency_message(data, active, web_url=web_url, scope_label=scope_label)
    replies = [_client_reply(data, client, web_url=web_url) for client in active]
    return DigestMessages(main=main, replies=replies)


def format_day(day: date) -> str:
    """Format a date as English text such as "Thursday 3 December", whatever the process locale."""
    return f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"


# --- Layouts ----------------------------------------------------------------------------------------


def _quiet_message(data: DigestData, *, scope_label: str) -> SlackMessage:
    day = format_day(data.local_date)
    blocks = [
        _digest_header(scope_label, day),
        _section(QUIET_TEXT.format(day=format_day(data.metrics_date))),
    ]
    return SlackMessage(text=_fallback(QUIET_FALLBACK.format(scope=scope_label, day=day)), blocks=blocks)


def _single_client_message(
    data: DigestData, client: ClientDigest, *, web_url: str | None, scope_label: str
) -> SlackMessage:
    day = format_day(data.local_date)
    blocks = [_digest_header(scope_label, day), *_client_detail_blocks(data, client, web_url=web_url)]
    fallback = FALLBACK.format(scope=scope_label, day=day, summary=_activity_text(client))
    return SlackMessage(text=_fallback(fallback), blocks=blocks)


def _agency_message(
    data: DigestData, active: list[ClientDigest], *, web_url: str | None, scope_label: str
) -> SlackMessage:
    day = format_day(data.local_date)
    totals = data.totals
    summary = "\n".join(
        [
            CLIENTS_SUMMARY.format(active=len(active), total=len(data.clients)),
            _outliers_summary(totals.outliers_by_severity),
            _notes_summary(totals.notes_by_status, totals.notes_updated),
        ]
    )
    blocks = [_digest_header(scope_label, day), _section(summary)]
    names = {client.client_id: client.name for client in data.clients}
    if totals.top_outliers:
        lines = [_outlier_line(outlier, client_name=names.get(outlier.client_id)) for outlier in totals.top_outliers]
        blocks.append(_list_section(TOP_OUTLIERS_TITLE, lines))
    if totals.metrics:
        blocks.append(_metrics_section(METRICS_TOTAL_TITLE, data, totals.metrics))
    blocks.append(_active_clients_section(active, web_url=web_url))
    if active:
        blocks.append(_context(THREAD_HINT))
    fallback = FALLBACK.format(scope=scope_label, day=day, summary=_totals_text(data))
    return SlackMessage(text=_fallback(fallback), blocks=blocks)


def _client_reply(data: DigestData, client: ClientDigest, *, web_url: str | None) -> SlackMessage:
    blocks = [
        _header(CLIENT_EMOJI, CLIENT_HEADER, scope=client.name),
        *_client_detail_blocks(data, client, web_url=web_url),
    ]
    fallback = CLIENT_FALLBACK.format(client=client.name, summary=_activity_text(client))
    return SlackMessage(text=_fallback(fallback), blocks=blocks)


def _client_detail_blocks(data: DigestData, client: ClientDigest, *, web_url: str | None) -> list[dict[str, Any]]:
    summary = "\n".join(
        [
            _outliers_summary(client.outliers_by_severity),
            _notes_summary(client.notes_by_status, client.notes_updated),
        ]
    )
    blocks = [_section(summary)]
    if client.top_outliers:
        blocks.append(_list_section(TOP_OUTLIERS_TITLE, [_outlier_line(line) for line in client.top_outliers]))
    if client.metrics:
        blocks.append(_metrics_section(METRICS_TITLE, data, client.metrics))
    link = _client_link(web_url, client.client_id, LINK_LABEL)
    if link is not None:
        blocks.append(_context(link))
    return blocks


def _rank_active_clients(clients: list[ClientDigest]) -> list[ClientDigest]:
    """Return the clients with activity, most outliers first, then most changed notes, then by name."""
    active = [client for client in clients if client.has_activity]
    return sorted(
        active,
        key=lambda client: (-client.outlier_count, -client.notes_updated, client.name.casefold(), client.client_id),
    )


# --- Summaries --------------------------------------------------------------------------------------


def _outliers_summary(by_severity: dict[str, int]) -> str:
    parts = [
        f"{_severity_emoji(severity)} {count} {_escape(severity, MAX_STATUS)}"
        for severity, count in sorted(by_severity.items(), key=lambda item: -_severity_rank(item[0]))
        if count
    ]
    return f"*{OUTLIERS_LABEL}:* " + (" · ".join(parts) if parts else NONE_VALUE)


def _notes_summary(by_status: dict[str, int], changed: int) -> str:
    ordered = sorted(by_status.items(), key=lambda item: (-item[1], item[0]))
    parts = [f"{count} {_escape(status, MAX_STATUS)}" for status, count in ordered[:MAX_STATUSES]]
    if len(ordered) > MAX_STATUSES:
        parts.append(MORE_STATUSES.format(count=len(ordered) - MAX_STATUSES))
    text = f"*{NOTES_LABEL}:* " + (" · ".join(parts) if parts else NONE_VALUE)
    if changed:
        text += f" ({NOTES_CHANGED.format(count=changed)})"
    return text


def _activity_text(client: ClientDigest) -> str:
    """Describe a client's day in plain words, such as "3 outliers, 2 notes changed, metrics for 2 channels".

    Zero counts are left out.
    """
    return _activity_words(
        outliers=client.outlier_count,
        notes_changed=client.notes_updated,
        channels=sum(1 for channel in client.metrics if not channel.current.is_empty),
    )


def _totals_text(data: DigestData) -> str:
    return _activity_words(
        outliers=data.totals.outlier_count,
        notes_changed=data.totals.notes_updated,
        channels=sum(1 for channel in data.totals.metrics if not channel.current.is_empty),
    )


def _activity_words(*, outliers: int, notes_changed: int, channels: int) -> str:
    parts = []
    if outliers:
        parts.append(_plural(outliers, "outlier", "outliers"))
    if notes_changed:
        parts.append(f"{_plural(notes_changed, 'note', 'notes')} changed")
    if channels:
        parts.append(f"metrics for {_plural(channels, 'channel', 'channels')}")
    return ", ".join(parts) or NO_ACTIVITY


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


# --- Outliers ---------------------------------------------------------------------------------------


def _outlier_line(outlier: OutlierLine, *, client_name: str | None = None) -> str:
    change = _change(outlier.observed, outlier.expected)
    line = OUTLIER_LINE.format(
        emoji=_severity_emoji(outlier.severity),
        metric=_escape(outlier.metric or NO_VALUE, MAX_NAME),
        channel=_escape(outlier.channel or NO_VALUE, MAX_NAME),
        observed=_format_number(outlier.observed),
        expected=_format_number(outlier.expected),
        change=f" ({change})" if change else "",
    )
    if client_name is not None:
        line += OUTLIER_CLIENT.format(client=_escape(client_name, MAX_NAME))
    line += OUTLIER_DETECTED.format(date=slack_date(outlier.detected_at))
    if outlier.status == "resolved":
        line += OUTLIER_RESOLVED
    return line


def _severity_emoji(severity: str | None) -> str:
    try:
        return SEVERITY_BADGES[Severity(severity)].emoji
    except ValueError:
        return QUIET_CLIENT_EMOJI


def _severity_rank(severity: str | None) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return -1


# --- Metrics ----------------------------------------------------------------------------------------


def _metrics_section(title: str, data: DigestData, channels: list[ChannelMetrics]) -> dict[str, Any]:
    heading = title.format(day=format_day(data.metrics_date), previous_day=format_day(data.previous_date))
    return _list_section(heading, [_metric_line(channel) for channel in channels])


def _metric_line(channel: ChannelMetrics) -> str:
    current, previous = channel.current, channel.previous
    return METRIC_LINE.format(
        channel=_escape(channel.channel, MAX_NAME),
        spend=_with_change(current.spend, previous.spend, decimals=2),
        conversions=_with_change(current.conversions, previous.conversions, decimals=None),
        cpa=_with_change(current.cpa, previous.cpa, decimals=2),
        roas=_with_change(current.roas, previous.roas, decimals=2),
    )


def _with_change(current: float | None, previous: float | None, *, decimals: int | None) -> str:
    value = _format_number(current, decimals=decimals)
    change = _change(current, previous)
    return f"{value} ({change})" if change else value


def _change(current: float | None, previous: float | None) -> str:
    """Describe the change from `previous` to `current` with an arrow and a percentage.

    Returns "" when either value is missing. From 0 the percentage is undefined, so the text is "from 0".
    """
    if current is None or previous is None:
        return ""
    if previous == 0:
        if current == 0:
            return f"{FLAT_EMOJI} 0%"
        return f"{UP_EMOJI if current > 0 else DOWN_EMOJI} {FROM_ZERO}"
    percent = (current - previous) / abs(previous) * 100
    if not math.isfinite(percent):
        return ""
    if abs(percent) < 0.05:
        return f"{FLAT_EMOJI} 0%"
    emoji = UP_EMOJI if percent > 0 else DOWN_EMOJI
    if abs(percent) >= 1_000_000:
        return f"{emoji} {percent:+.2e}%"
    return f"{emoji} {percent:+,.1f}%"


def _format_number(value: float | None, *, decimals: int | None = None) -> str:
    """Format a number with thousands separators.

    `decimals` None shows whole numbers without decimals and other numbers with two (four significant
    digits below 1).
    """
    if value is None:
        return NO_VALUE
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= SCIENTIFIC_FROM:
        return f"{value:.4e}"
    if decimals is not None:
        return f"{value:,.{decimals}f}"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 1:
        return f"{value:,.2f}"
    return f"{value:.4g}"


# --- Clients ----------------------------------------------------------------------------------------


def _active_clients_section(active: list[ClientDigest], *, web_url: str | None) -> dict[str, Any]:
    listed = active[:MAX_ACTIVE_CLIENTS]
    lines = [_active_client_line(client, web_url=web_url) for client in listed]
    if not lines:
        lines = [NONE_VALUE]
    return _list_section(ACTIVE_CLIENTS_TITLE, lines, hidden=len(active) - len(listed))


def _active_client_line(client: ClientDigest, *, web_url: str | None) -> str:
    worst = max(client.outliers_by_severity, key=_severity_rank, default=None)
    emoji = _severity_emoji(worst) if worst is not None else QUIET_CLIENT_EMOJI
    name = truncate(" ".join(client.name.split()) or client.client_id, MAX_NAME)
    label = _client_link(web_url, client.client_id, name) or f"*{_escape(name, MAX_NAME)}*"
    return ACTIVE_CLIENT_LINE.format(emoji=emoji, client=label, activity=_activity_text(client))


def _client_link(web_url: str | None, client_id: str, label: str) -> str | None:
    """Return a `mrkdwn` link to the client's page, or None without a usable URL or label.

    NOTE: Slack's link syntax ends the URL at the first `|`, and its documentation does not say how a `|`
    inside the label is read, so a label containing one is not linked.
    """
    if not web_url or "|" in label:
        return None
    url = web_url.rstrip("/") + CLIENT_PATH.format(client_id=quote(client_id, safe=""))
    if len(url) > MAX_CLIENT_URL:
        return None
    link = safe_link(url, label)
    return link if link.startswith("<") else None


# --- Block Kit pieces -------------------------------------------------------------------------------


def _digest_header(scope_label: str, day: str) -> dict[str, Any]:
    return _header(DIGEST_EMOJI, HEADER, scope=scope_label, day=day)


def _header(emoji: str, template: str, *, scope: str, day: str = "") -> dict[str, Any]:
    """Build a header block, cutting `scope` rather than the rest so that the date always shows.

    `plain_text` shows its text literally, so the text is cut but not escaped.
    """
    scope = " ".join(scope.split())
    text = f"{emoji} " + template.format(scope=scope, client=scope, day=day)
    if len(text) > MAX_HEADER_TEXT:
        room = max(len(ELLIPSIS), len(scope) - (len(text) - MAX_HEADER_TEXT))
        scope = truncate(scope, room)
        text = truncate(f"{emoji} " + template.format(scope=scope, client=scope, day=day), MAX_HEADER_TEXT)
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def _list_section(title: str, lines: list[str], *, hidden: int = 0) -> dict[str, Any]:
    """Build a section of a title and whole lines, ending with "…and N more" when lines are left out.

    `hidden` counts lines left out by the caller. Lines are never cut, so no link or entity is split.
    """
    text = title
    for index, line in enumerate(lines):
        left_after = len(lines) - index - 1 + hidden
        reserve = len("\n" + MORE_LINES.format(count=left_after + 1)) if left_after else 0
        if len(text) + 1 + len(line) + reserve > LIST_BUDGET:
            return _section(text + "\n" + MORE_LINES.format(count=len(lines) - index + hidden))
        text += "\n" + line
    if hidden:
        text += "\n" + MORE_LINES.format(count=hidden)
    return _section(text)


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _escape(raw: str, limit: int) -> str:
    return escape_and_truncate(" ".join(raw.split()), limit) or NO_VALUE


def _fallback(raw: str) -> str:
    return escape_and_truncate(" ".join(raw.split()), MAX_FALLBACK_TEXT)
