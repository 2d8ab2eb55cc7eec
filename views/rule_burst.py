"""The rule modal's burst settings: when a flood of new alerts is gathered into one summary message."""

from __future__ import annotations

from typing import Any

from storage.models import NotificationType

# --- User-facing copy -------------------------------------------------------------------------------

THRESHOLD_LABEL = "Gather a flood into one summary"
THRESHOLD_HINT = (
    "New alerts for one client that arrive close together are posted one by one up to this number, "
    "then gathered into one summary message that is updated as more arrive."
)
WINDOW_LABEL = "Close together means within"
WINDOW_HINT = "A flood ends when no new alert for that client arrives for this long."
THRESHOLD_CHOICES = {1: "After the first alert", 3: "After 3 alerts", 5: "After 5 alerts", 10: "After 10 alerts"}
WINDOW_CHOICES = {30: "30 seconds", 60: "1 minute", 300: "5 minutes", 900: "15 minutes"}
OTHER_THRESHOLD = "After {count} alerts"
OTHER_WINDOW = "{seconds} seconds"
THRESHOLD_RANGE_ERROR = "Choose one of the listed numbers of alerts."
WINDOW_RANGE_ERROR = "Choose one of the listed time windows."

BURST_THRESHOLD_BLOCK = "burst_threshold"
BURST_THRESHOLD_ACTION = "burst_threshold_select"
BURST_WINDOW_BLOCK = "burst_window"
BURST_WINDOW_ACTION = "burst_window_select"

# Notes are never gathered, and the digest is one message a day.
BURST_TYPES = frozenset(
    {NotificationType.OUTLIER_ALERTS, NotificationType.TASK_FAILURES, NotificationType.SYSTEM_ERRORS}
)
# Values a rule may store: what the menus offer, and what an operator may set outside Slack.
MAX_THRESHOLD = 10_000
MAX_WINDOW_SECONDS = 86_400


def burst_inputs(
    notification_type: NotificationType | None, *, threshold: int | None, window_seconds: int | None
) -> list[dict[str, Any]]:
    """Build the two optional burst inputs for the rule modal, or nothing for types that are never gathered."""
    if notification_type not in BURST_TYPES:
        return []
    threshold_options = _options(THRESHOLD_CHOICES, threshold, OTHER_THRESHOLD.format(count=threshold))
    window_options = _options(WINDOW_CHOICES, window_seconds, OTHER_WINDOW.format(seconds=window_seconds))
    return [
        _select(
            BURST_THRESHOLD_BLOCK, BURST_THRESHOLD_ACTION, THRESHOLD_LABEL, THRESHOLD_HINT, threshold_options, threshold
        ),
        _select(BURST_WINDOW_BLOCK, BURST_WINDOW_ACTION, WINDOW_LABEL, WINDOW_HINT, window_options, window_seconds),
    ]


def burst_errors(*, threshold: int | None, window_seconds: int | None) -> dict[str, str]:
    """Return errors by block id for burst values out of range (only a forged request can send them)."""
    errors = {}
    if threshold is not None and not 1 <= threshold <= MAX_THRESHOLD:
        errors[BURST_THRESHOLD_BLOCK] = THRESHOLD_RANGE_ERROR
    if window_seconds is not None and not 1 <= window_seconds <= MAX_WINDOW_SECONDS:
        errors[BURST_WINDOW_BLOCK] = WINDOW_RANGE_ERROR
    return errors


def _options(choices: dict[int, str], current: int | None, other_label: str) -> dict[int, str]:
    # A value set outside Slack is listed too, so that editing the rule shows and keeps it.
    if current is None or current in choices:
        return choices
    return dict(sorted({**choices, current: other_label}.items()))


def _select(
    block_id: str, action_id: str, label: str, hint: str, options: dict[int, str], current: int | None
) -> dict[str, Any]:
    def option(value: int) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": options[value]}, "value": str(value)}

    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "options": [option(value) for value in options],
    }
    if current is not None and current in options:
        element["initial_option"] = option(current)
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": {"type": "plain_text", "text": label},
        "hint": {"type": "plain_text", "text": hint},
        "element": element,
    }
