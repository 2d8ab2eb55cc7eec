"""Short descriptions of an undelivered message: the alert it carried, and what happened to it.

Pure: the caller passes the stored event's body (or None when it expired) and the delivery. App Home and
`missioncontrol deliveries list` both use these, so a row names the same alert in Slack and in a terminal.
The text returned is plain: the caller escapes it for `mrkdwn`.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Any

from storage.models import Delivery, DeliveryState
from views.text import truncate

# A subject is one short line; the parts taken from the platform are cut before they are joined.
MAX_PART = 80
MAX_SUBJECT = 150

EXPIRED = "The event is no longer stored"
NO_CLIENT = "no client"
STATE_NOT_SENT = "Not sent"
STATE_REJECTED = "Rejected by Slack"
STATE_GAVE_UP = "Gave up after {attempts} attempts"
# `bot.delivery_policy` words a refusal of Slack's this way; a delivery ended this way was never retried.
_REJECTION_PREFIX = "Slack rejected"
_GAVE_UP_MARK = "gave up after"


def delivery_subject(body: Mapping[str, Any] | None) -> str:
    """Name the event of a delivery, such as "system.error · reporting-api ValueError"."""
    if body is None:
        return EXPIRED
    event_type = _part(body.get("type")) or "event"
    raw_data = body.get("data")
    data: Mapping[str, Any] = raw_data if isinstance(raw_data, Mapping) else {}
    client = _part(body.get("client_id")) or NO_CLIENT
    title = _title(event_type, data, client)
    return _cut(f"{event_type} · {title}" if title else event_type)


def state_label(delivery: Delivery) -> str:
    """Say what happened: refused by Slack at once, given up after several attempts, or not sent at all.

    `bot.delivery` ends a delivery dead when Slack rejects it for good, with no retry. It also ends one dead
    when it used up its attempts, and the reason then ends "gave up after N attempts". Anything else is not sent.
    """
    reason = delivery.last_error or ""
    if delivery.state is DeliveryState.DEAD and reason.startswith(_REJECTION_PREFIX):
        return STATE_REJECTED
    if delivery.state is DeliveryState.DEAD and _GAVE_UP_MARK in reason:
        return STATE_GAVE_UP.format(attempts=delivery.attempts)
    if delivery.state in (DeliveryState.DEAD, DeliveryState.FAILED):
        # Ended before Slack could be blamed: a stored event that no longer validates, a rule deleted or
        # paused, or an inactive workspace. The reason line names which.
        return STATE_NOT_SENT
    return delivery.state.value


def _title(event_type: str, data: Mapping[str, Any], client: str) -> str:
    if event_type == "outlier.detected":
        metric = _part(data.get("metric"))
        channel = _part(data.get("channel"))
        return f"{metric} ({channel}) for {client}" if channel else f"{metric} for {client}"
    if event_type == "outlier.resolved":
        return f"outlier {_part(data.get('outlier_id'))} for {client}"
    if event_type == "task.failed":
        return f"{_part(data.get('task_name'))} for {client}"
    if event_type == "task.recovered":
        return f"task {_part(data.get('task_id'))} for {client}"
    if event_type == "system.error":
        return " ".join(part for part in (_part(data.get("service")), _part(data.get("exception_type"))) if part)
    if event_type in ("note.created", "note.updated"):
        # A private note's title stays out of Slack, as its message does.
        title = "a private note" if data.get("private") is True else _part(data.get("title"))
        return f"{title} for {client}"
    return f"for {client}"


def _part(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    # Control characters go too: the subject is also printed to a terminal by `deliveries list`.
    visible = "".join(" " if unicodedata.category(char) == "Cc" else char for char in str(value))
    text = " ".join(visible.split())
    return truncate(text, MAX_PART)


def _cut(text: str) -> str:
    return truncate(text, MAX_SUBJECT)
