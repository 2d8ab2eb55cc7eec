"""Snoozes: the Snooze button on alerts, its modal, the reply when a snooze ends, and App Home's list.

A snooze quiets one of three scopes: the alert's subject in the channel it was posted to, one notification
rule, or a whole channel. The subject is a client and metric for an outlier, a client and task for a task
failure, and a client and service for a system error. Held events are counted, never posted later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.snoozes import Snooze, SnoozeScope, SnoozeSubject
from views.rule_text import (
    button,
    channel_mention,
    context_block,
    plain_text,
    section_block,
    user_mention,
)
from views.text import escape_and_truncate, slack_date, truncate

# --- User-facing copy -------------------------------------------------------------------------------

MODAL_TITLE = "Snooze alerts"
MODAL_SUBMIT = "Snooze"
MODAL_CLOSE = "Cancel"
SCOPE_LABEL = "What to snooze"
DURATION_LABEL = "For how long"
SCOPE_SUBJECT = "This client and {what}"
SCOPE_RULE = "This notification rule"
SCOPE_CHANNEL = "Every alert in this channel"
SCOPE_HINT = "Only the alerts posted to this channel are snoozed."
MANAGERS_ONLY_HINT = "Only {admins} can snooze a whole rule or channel."
DURATION_HOUR = "1 hour"
DURATION_FOUR_HOURS = "4 hours"
DURATION_MORNING = "Until 9:00 ({timezone})"
DURATION_RESOLVED = "Until it resolves"
DURATION_RECOVERED = "Until the task recovers"
HELD_NOTE = "Snoozed alerts are counted, not posted. When the snooze ends, a reply in the alert's thread says how many."

CONFIRMATION = ":zzz: Snoozed {scope} {until}. Held alerts are counted, not posted."
UNTIL_TIME = "until {when}"
UNTIL_RESOLVED = "until the alert resolves"

ENDED_HEADER = ":alarm_clock: *Snooze over.* {who} snoozed {scope} ({duration})."
ENDED_EARLY = "{who} ended it early."
ENDED_RESOLVED = "The alert resolved, so the snooze ended."
HELD_NONE = "No alerts were held back."
HELD_ONE = "*1 alert* was held back: {worst}"
HELD_MANY = "*{count} alerts* were held back. The worst: {worst}"
HELD_WORST_GONE = "(its details have expired)"
ENDED_FALLBACK = "Snooze over: {held} held back."

HOME_TITLE = "*Snoozed alerts*"
HOME_EMPTY = "Nothing is snoozed. The Snooze button on an alert quiets it for a while."
HOME_ROW = "{scope}, {until}. Snoozed by {who}; {held} held back."
# A snooze of one alert names its channel here, because its scope text does not (a rule or channel scope does).
HOME_ROW_IN_CHANNEL = "{scope} in {channel}, {until}. Snoozed by {who}; {held} held back."
HOME_MORE = "{count} more {snoozes} not shown."
UNSNOOZE_LABEL = "Unsnooze"

SNOOZE_REFUSED = "Only {admins} can snooze a whole rule or channel. You can snooze this client's alerts instead."
SNOOZE_OTHER_ORGANISATION = "Only members of this workspace can snooze its alerts."
SNOOZE_ALERT_GONE = "This alert is no longer stored, so it cannot be snoozed. New alerts carry the button again."

# A system error without a client concerns the whole platform.
PLATFORM_WIDE = "the whole platform"
SUBJECT_WHAT = {"outlier": "metric", "task": "task", "error": "service"}

# --- Interaction ids --------------------------------------------------------------------------------

SNOOZE_MODAL_CALLBACK = "snooze_modal"
SCOPE_BLOCK = "snooze_scope"
SCOPE_ACTION = "snooze_scope_choice"
DURATION_BLOCK = "snooze_duration"
DURATION_ACTION = "snooze_duration_choice"
UNSNOOZE_ACTION = "snooze_end"

DURATION_HOUR_VALUE = "1h"
DURATION_FOUR_HOURS_VALUE = "4h"
DURATION_MORNING_VALUE = "morning"
DURATION_RESOLVED_VALUE = "resolved"

MAX_HOME_SNOOZES = 10
MAX_SUBJECT_TEXT = 200


@dataclass(frozen=True)
class SnoozeModalModel:
    """The choices of the Snooze modal for one alert message.

    `can_manage` adds the rule and channel scopes. `resolvable` offers "until resolved" (outliers and tasks).
    `metadata` travels in `private_metadata` (event id, channel, message ts, rule id).
    """

    subject: SnoozeSubject
    subject_text: str
    can_manage: bool
    admins_hint: str
    timezone: str
    resolvable: bool
    metadata: dict[str, Any]


def subject_text(subject: SnoozeSubject, client_name: str | None) -> str:
    """Describe a subject as escaped mrkdwn, such as "*CPC* of *Acme*"."""
    key = escape_and_truncate(subject.key, MAX_SUBJECT_TEXT)
    client = escape_and_truncate(client_name or subject.client_id or PLATFORM_WIDE, MAX_SUBJECT_TEXT)
    if subject.kind == "error":
        return f"errors of *{key}* for *{client}*"
    return f"{SUBJECT_WHAT.get(subject.kind, 'alert')} *{key}* of *{client}*"


def build_snooze_modal(model: SnoozeModalModel) -> dict[str, Any]:
    what = SUBJECT_WHAT.get(model.subject.kind, "alert")
    scopes = [_radio(SCOPE_SUBJECT.format(what=what), SnoozeScope.SUBJECT.value, description=None)]
    if model.can_manage:
        scopes += [_radio(SCOPE_RULE, SnoozeScope.RULE.value), _radio(SCOPE_CHANNEL, SnoozeScope.CHANNEL.value)]
    durations = [
        _radio(DURATION_HOUR, DURATION_HOUR_VALUE),
        _radio(DURATION_FOUR_HOURS, DURATION_FOUR_HOURS_VALUE),
        _radio(DURATION_MORNING.format(timezone=model.timezone), DURATION_MORNING_VALUE),
    ]
    if model.resolvable:
        label = DURATION_RECOVERED if model.subject.kind == "task" else DURATION_RESOLVED
        durations.append(_radio(label, DURATION_RESOLVED_VALUE))
    blocks: list[dict[str, Any]] = [
        section_block(model.subject_text),
        _radio_input(SCOPE_BLOCK, SCOPE_ACTION, SCOPE_LABEL, scopes),
        context_block(SCOPE_HINT),
        _radio_input(DURATION_BLOCK, DURATION_ACTION, DURATION_LABEL, durations),
        context_block(HELD_NOTE),
    ]
    if not model.can_manage:
        blocks.append(context_block(MANAGERS_ONLY_HINT.format(admins=model.admins_hint)))
    return {
        "type": "modal",
        "callback_id": SNOOZE_MODAL_CALLBACK,
        "title": plain_text(MODAL_TITLE, 24),
        "submit": plain_text(MODAL_SUBMIT, 24),
        "close": plain_text(MODAL_CLOSE, 24),
        "private_metadata": json.dumps(model.metadata),
        "blocks": blocks,
    }


def read_modal_metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return metadata if isinstance(metadata, dict) else {}


def read_modal_choice(view: dict[str, Any], block_id: str, action_id: str) -> str | None:
    state = ((view.get("state") or {}).get("values") or {}).get(block_id, {}).get(action_id, {})
    selected = state.get("selected_option") or {}
    value = selected.get("value")
    return str(value) if value else None


def scope_text(snooze: Snooze, subject_description: str | None) -> str:
    """Describe what a snooze covers, as escaped mrkdwn."""
    if snooze.scope is SnoozeScope.RULE:
        return f"the notification rule of {channel_mention(snooze.channel)}"
    if snooze.scope is SnoozeScope.CHANNEL:
        return f"every alert in {channel_mention(snooze.channel)}"
    return subject_description or "this alert"


def held_alerts_text(count: int) -> str:
    """Count held alerts for a sentence: "no alerts", "1 alert", "2,345 alerts"."""
    if count == 0:
        return "no alerts"
    return f"{count:,} alert" if count == 1 else f"{count:,} alerts"


def until_text(snooze: Snooze) -> str:
    if snooze.until is None:
        return UNTIL_RESOLVED
    return UNTIL_TIME.format(when=slack_date(snooze.until))


def confirmation_text(snooze: Snooze, subject_description: str | None) -> str:
    return CONFIRMATION.format(scope=scope_text(snooze, subject_description), until=until_text(snooze))


def build_snooze_ended_message(
    snooze: Snooze, *, subject_description: str | None, worst_text: str | None
) -> tuple[str, list[dict[str, Any]]]:
    """Build the thread reply when a snooze ends: who, what, for how long, how many were held and the worst.

    `worst_text` is the held event's message fallback (escaped mrkdwn), or None when it is no longer stored.
    Returns the fallback `text` and the `blocks`.
    """
    lines = [
        ENDED_HEADER.format(
            who=user_mention(snooze.created_by),
            scope=scope_text(snooze, subject_description),
            duration=escape_and_truncate(snooze.duration_label, 100),
        )
    ]
    if snooze.end_reason == "unsnoozed" and snooze.ended_by:
        lines.append(ENDED_EARLY.format(who=user_mention(snooze.ended_by)))
    elif snooze.end_reason == "resolved":
        lines.append(ENDED_RESOLVED)
    worst = truncate(worst_text, 1_500) if worst_text else HELD_WORST_GONE
    if snooze.held_count == 0:
        lines.append(HELD_NONE)
    elif snooze.held_count == 1:
        lines.append(HELD_ONE.format(worst=worst))
    else:
        lines.append(HELD_MANY.format(count=f"{snooze.held_count:,}", worst=worst))
    text = ENDED_FALLBACK.format(held=held_alerts_text(snooze.held_count))
    return text, [section_block("\n".join(lines))]


def snooze_home_blocks(snoozes: list[Snooze], *, subject_descriptions: dict[str, str]) -> list[dict[str, Any]]:
    """Build App Home's list of active snoozes, each with an Unsnooze button (at most 12 blocks)."""
    blocks: list[dict[str, Any]] = [section_block(HOME_TITLE)]
    if not snoozes:
        return [*blocks, context_block(HOME_EMPTY)]
    for snooze in snoozes[:MAX_HOME_SNOOZES]:
        template = HOME_ROW if snooze.scope in (SnoozeScope.RULE, SnoozeScope.CHANNEL) else HOME_ROW_IN_CHANNEL
        row = section_block(
            template.format(
                scope=scope_text(snooze, subject_descriptions.get(snooze.id)),
                channel=channel_mention(snooze.channel),
                until=until_text(snooze),
                who=user_mention(snooze.created_by),
                held=f"{snooze.held_count:,}",
            )
        )
        row["block_id"] = f"snooze:{snooze.id}"
        row["accessory"] = button(UNSNOOZE_LABEL, action_id=UNSNOOZE_ACTION, value=snooze.id)
        blocks.append(row)
    if len(snoozes) > MAX_HOME_SNOOZES:
        more = len(snoozes) - MAX_HOME_SNOOZES
        blocks.append(context_block(HOME_MORE.format(count=more, snoozes="snooze is" if more == 1 else "snoozes are")))
    return blocks


def _radio(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": plain_text(text), "value": value}
    if description:
        option["description"] = plain_text(description)
    return option


def _radio_input(block_id: str, action_id: str, label: str, options: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": block_id,
        "label": plain_text(label, 2_000),
        "element": {"type": "radio_buttons", "action_id": action_id, "options": options, "initial_option": options[0]},
    }
