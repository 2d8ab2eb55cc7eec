"""Living alert messages: the status line added to an alert, its thread replies, burst summaries and their list.

Pure builders: the caller passes every instant. Text that came from the platform is escaped before it goes into
`mrkdwn`. Message `text` stays under chat.update's 4,000-character limit (`msg_too_long`), because these
messages are edited in place.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from views.limits import MAX_BUTTON_TEXT, MAX_HEADER_TEXT, MAX_MESSAGE_BLOCKS, MAX_SECTION_TEXT, MAX_UPDATE_TEXT
from views.messages import SlackMessage
from views.text import escape_and_truncate, slack_date, truncate

# --- User-facing copy -------------------------------------------------------------------------------

RESOLVED_EMOJI = ":white_check_mark:"
RESOLVED_PREFIX = "Resolved"
OPEN_STATUS = "*Open* · seen {occurrences} · first {first_seen} · last {last_seen}"
RESOLVED_STATUS = "{emoji} *Resolved* {resolved_at}, after {duration} · seen {occurrences} · first {first_seen}"
REPEAT_REPLY = "Seen again at {last_seen}: {label} (occurrence {occurrences})."
REPEAT_REPLY_FOLDED = "Seen {count} more times, latest at {last_seen}: {label} (occurrence {occurrences})."
RESOLUTION_REPLY = "{emoji} Resolved {resolved_at}, after {duration} and {occurrences}."
NOTE_DELETED_TEXT = ":wastebasket: This note was deleted {at}. Its content is no longer shown."
NOTE_PRIVATE_TEXT = ":lock: This note was made private {at}. Its content is no longer shown."
NOTE_GONE_FALLBACK = "A note that is no longer shown"

# The header is plain text, where Slack's date tokens do not render, so its span is in UTC.
SUMMARY_HEADER = ":rotating_light: {count} {noun} for {client}, {span}"
SUMMARY_TOP_SEVERE = "*Most severe:*"
SUMMARY_TOP_LATEST = "*Latest:*"
SUMMARY_MORE = "_…and {count} more._"
SUMMARY_FIRST_POSTED_ONE = "_The first was posted above._"
SUMMARY_FIRST_POSTED_MANY = "_The first {count} were posted above._"
SUMMARY_RESOLVED = "{resolved} of {count} resolved since."
SUMMARY_REPEATS_ONE = "1 repeat of these alerts since."
SUMMARY_REPEATS_MANY = "{repeats:,} repeats of these alerts since."
SUMMARY_FALLBACK = "{count} {noun} for {client}, {span}"
SUMMARY_BUTTON = "Show all {count}"
SPAN_AT = "at {time} UTC"
SPAN_BETWEEN = "{first}–{last} UTC"
LIST_TITLE = "Gathered alerts"
LIST_PAGE_SEVERE = "{first}–{last} of {total}, most severe first"
LIST_PAGE_LATEST = "{first}–{last} of {total}, latest first"
LIST_EMPTY = "These alerts have expired from the history."
LIST_PREVIOUS = "Previous"
LIST_NEXT = "Next"
RESOLVED_MARK = " · _resolved_"
POSTED_ABOVE_MARK = " · _posted on its own in the channel_"
ITEM_ONCE = "• {label} ({first_seen}){marks}"
ITEM_REPEATED = "• {label} · seen {occurrences} times, latest {last_seen}{marks}"

NOUNS = {
    "outlier_alerts": ("outlier alert", "outlier alerts"),
    "task_failures": ("task failure", "task failures"),
    "system_errors": ("system error", "system errors"),
}

# --- Interaction ids --------------------------------------------------------------------------------

SHOW_BURST_ACTION_ID = "alert_burst_show"
BURST_PAGE_ACTION_ID = "alert_burst_page"
BURST_LIST_CALLBACK_ID = "alert_burst_list"

SUMMARY_TOP_COUNT = 5
# A modal holds at most 100 blocks (Slack's Block Kit reference); one section per alert plus header,
# context and paging blocks stays well under it.
LIST_PAGE_SIZE = 40
MAX_LABEL = 300


@dataclass(frozen=True)
class LivingStatus:
    """Content of the status line of an alert message."""

    resolved: bool
    occurrences: int
    first_seen: datetime
    last_seen: datetime
    resolved_at: datetime | None = None


def format_duration(span: timedelta) -> str:
    """Format a duration for people: "45 s", "12 min", "2 h 5 min", "3 d 4 h"."""
    seconds = max(0, int(span.total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _times(count: int) -> str:
    return "1 occurrence" if count == 1 else f"{count} occurrences"


def build_living_message(base: SlackMessage, status: LivingStatus) -> SlackMessage:
    """Add the alert's status line under the header of its message; mark the header when resolved."""
    blocks = [dict(block) for block in base.blocks]
    if status.resolved and status.resolved_at is not None:
        line = RESOLVED_STATUS.format(
            emoji=RESOLVED_EMOJI,
            resolved_at=slack_date(status.resolved_at),
            duration=format_duration(status.resolved_at - status.first_seen),
            occurrences=_times(status.occurrences),
            first_seen=slack_date(status.first_seen),
        )
        text = f"{RESOLVED_PREFIX}: {base.text}"
        if blocks and blocks[0].get("type") == "header":
            header = blocks[0]["text"]
            blocks[0] = {
                **blocks[0],
                "text": {
                    **header,
                    "text": truncate(f"{RESOLVED_EMOJI} {RESOLVED_PREFIX}: {header['text']}", MAX_HEADER_TEXT),
                },
            }
    else:
        line = OPEN_STATUS.format(
            occurrences=_times(status.occurrences),
            first_seen=slack_date(status.first_seen),
            last_seen=slack_date(status.last_seen),
        )
        text = base.text
    status_block = {"type": "context", "elements": [{"type": "mrkdwn", "text": line, "verbatim": True}]}
    position = 1 if blocks and blocks[0].get("type") == "header" else 0
    blocks.insert(position, status_block)
    return replace(base, text=truncate(text, MAX_UPDATE_TEXT), blocks=blocks[:MAX_MESSAGE_BLOCKS])


def build_repeat_reply(*, count: int, occurrences: int, last_seen: datetime, label: str) -> SlackMessage:
    """Build the thread reply for `count` repeats sent together (folded when they came faster than the pace)."""
    template = REPEAT_REPLY if count <= 1 else REPEAT_REPLY_FOLDED
    text = template.format(
        count=count,
        occurrences=occurrences,
        last_seen=slack_date(last_seen),
        label=escape_and_truncate(label, MAX_LABEL),
    )
    return _text_message(text)


def build_resolution_reply(*, resolved_at: datetime, first_seen: datetime, occurrences: int) -> SlackMessage:
    text = RESOLUTION_REPLY.format(
        emoji=RESOLVED_EMOJI,
        resolved_at=slack_date(resolved_at),
        duration=format_duration(resolved_at - first_seen),
        occurrences=_times(occurrences),
    )
    return _text_message(text)


def build_note_gone_message(*, deleted: bool, at: datetime) -> SlackMessage:
    """Build the message that replaces a note's message when the note is deleted or made private."""
    template = NOTE_DELETED_TEXT if deleted else NOTE_PRIVATE_TEXT
    message = _text_message(template.format(at=slack_date(at)))
    return replace(message, text=NOTE_GONE_FALLBACK)


@dataclass(frozen=True)
class GatheredItem:
    label: str
    severity: int
    resolved: bool
    first_seen: datetime
    occurrences: int = 1
    last_seen: datetime | None = None
    # One of the alerts posted on their own before the burst was gathered.
    posted_above: bool = False


@dataclass(frozen=True)
class BurstSummary:
    """One burst summary: `top` lists a few gathered alerts, and `count` counts all the gathered ones.

    `posted_first` alerts of the same burst were posted on their own before it; the headline counts them too.
    `first_at` and `last_at` are when the burst's alerts occurred. `repeats` counts repeats of gathered alerts.
    """

    summary_id: str
    notification_type: str
    client: str
    count: int
    resolved: int
    first_at: datetime
    last_at: datetime
    top: list[GatheredItem]
    posted_first: int = 0
    repeats: int = 0


def ranks_by_severity(notification_type: str) -> bool:
    """Tell whether a burst lists its most severe alerts first; only outliers have a severity of their own."""
    return notification_type == "outlier_alerts"


def _noun(notification_type: str, count: int) -> str:
    singular, plural = NOUNS.get(notification_type, ("alert", "alerts"))
    return singular if count == 1 else plural


def burst_span(first_at: datetime, last_at: datetime) -> str:
    """Name when a burst happened, in UTC to the minute: "at 23:49 UTC", "23:49–23:51 UTC"."""
    first, last = first_at.astimezone(UTC), last_at.astimezone(UTC)
    time_format = "%H:%M" if first.date() == last.date() else "%d %b %H:%M"
    first_text, last_text = first.strftime(time_format), last.strftime(time_format)
    if first_text == last_text:
        return SPAN_AT.format(time=first_text)
    return SPAN_BETWEEN.format(first=first_text, last=last_text)


def build_burst_summary(summary: BurstSummary) -> SlackMessage:
    """Build the summary message of a burst: a count, a few of its alerts, and a button to list them all."""
    total = summary.count + summary.posted_first
    noun = _noun(summary.notification_type, total)
    client = escape_and_truncate(summary.client, 100)
    span = burst_span(summary.first_at, summary.last_at)
    header_text = SUMMARY_HEADER.format(count=f"{total:,}", noun=noun, client=summary.client, span=span)
    header = {"type": "header", "text": {"type": "plain_text", "text": truncate(header_text, MAX_HEADER_TEXT)}}
    top_title = SUMMARY_TOP_SEVERE if ranks_by_severity(summary.notification_type) else SUMMARY_TOP_LATEST
    lines = [top_title, *(_item_line(item) for item in summary.top)]
    rest = summary.count - len(summary.top)
    if rest > 0:
        lines.append(SUMMARY_MORE.format(count=f"{rest:,}"))
    if summary.posted_first == 1:
        lines.append(SUMMARY_FIRST_POSTED_ONE)
    elif summary.posted_first > 1:
        lines.append(SUMMARY_FIRST_POSTED_MANY.format(count=summary.posted_first))
    blocks: list[dict[str, Any]] = [header, _section("\n".join(lines))]
    first_date, last_date = slack_date(summary.first_at), slack_date(summary.last_at)
    context = [first_date if first_date == last_date else f"{first_date} – {last_date}"]
    if summary.resolved:
        context.append(SUMMARY_RESOLVED.format(resolved=f"{summary.resolved:,}", count=f"{summary.count:,}"))
    if summary.repeats == 1:
        context.append(SUMMARY_REPEATS_ONE)
    elif summary.repeats > 1:
        context.append(SUMMARY_REPEATS_MANY.format(repeats=summary.repeats))
    blocks.append({"type": "context", "elements": [_mrkdwn(" · ".join(context))]})
    button_text = truncate(SUMMARY_BUTTON.format(count=f"{total:,}"), MAX_BUTTON_TEXT)
    blocks.append(
        {
            "type": "actions",
            "block_id": "alert_burst_actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": SHOW_BURST_ACTION_ID,
                    "text": {"type": "plain_text", "text": button_text},
                    "value": summary.summary_id,
                }
            ],
        }
    )
    fallback = SUMMARY_FALLBACK.format(count=f"{total:,}", noun=noun, client=client, span=span)
    return SlackMessage(text=truncate(fallback, MAX_UPDATE_TEXT), blocks=blocks)


def burst_title(*, notification_type: str, count: int, client: str) -> str:
    """Name a burst in plain text, such as "12 task failures for Acme"."""
    return f"{count} {_noun(notification_type, count)} for {client}"


def build_burst_list_modal(
    *, summary_id: str, title: str, items: list[GatheredItem], page: int, total: int, latest_first: bool = False
) -> dict[str, Any]:
    """Build one page of a burst's full list as a modal (Slack allows 100 blocks in a modal)."""
    blocks: list[dict[str, Any]] = [_section(f"*{escape_and_truncate(title, 200)}*")]
    if not items:
        blocks.append(_section(LIST_EMPTY))
    else:
        first = page * LIST_PAGE_SIZE + 1
        blocks.append(
            {
                "type": "context",
                "elements": [
                    _mrkdwn(
                        (LIST_PAGE_LATEST if latest_first else LIST_PAGE_SEVERE).format(
                            first=first, last=first + len(items) - 1, total=total
                        )
                    )
                ],
            }
        )
        blocks.extend(_section(_item_line(item)) for item in items)
    paging = []
    if page > 0:
        paging.append(_page_button(LIST_PREVIOUS, summary_id, page - 1))
    if (page + 1) * LIST_PAGE_SIZE < total:
        paging.append(_page_button(LIST_NEXT, summary_id, page + 1))
    if paging:
        blocks.append({"type": "actions", "block_id": "alert_burst_paging", "elements": paging})
    return {
        "type": "modal",
        "callback_id": BURST_LIST_CALLBACK_ID,
        "title": {"type": "plain_text", "text": LIST_TITLE},
        "close": {"type": "plain_text", "text": "Close"},
        "private_metadata": summary_id,
        "blocks": blocks,
    }


def _page_button(label: str, summary_id: str, page: int) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": f"{BURST_PAGE_ACTION_ID}_{label.lower()}",
        "text": {"type": "plain_text", "text": label},
        "value": f"{page}|{summary_id}",
    }


def _item_line(item: GatheredItem) -> str:
    marks = ""
    if item.posted_above:
        marks += POSTED_ABOVE_MARK
    if item.resolved:
        marks += RESOLVED_MARK
    label = escape_and_truncate(item.label, MAX_LABEL)
    if item.occurrences > 1:
        return ITEM_REPEATED.format(
            label=label,
            occurrences=f"{item.occurrences:,}",
            last_seen=slack_date(item.last_seen or item.first_seen),
            marks=marks,
        )
    return ITEM_ONCE.format(label=label, first_seen=slack_date(item.first_seen), marks=marks)


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(truncate(text, MAX_SECTION_TEXT))}


def _text_message(text: str) -> SlackMessage:
    return SlackMessage(text=truncate(text, MAX_UPDATE_TEXT), blocks=[_section(text)])
