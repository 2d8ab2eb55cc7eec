"""The rule modal's preview: how many messages the draft rule would have posted over the last seven days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from storage.events_schema import Severity
from views.limits import MAX_SECTION_TEXT
from views.rule_text import SEVERITY_LABELS
from views.text import escape_and_truncate, truncate

# --- User-facing copy -------------------------------------------------------------------------------

PREVIEW_BUTTON = "Preview the last 7 days"
PREVIEW_TOTAL = "*Preview:* {total} {messages} in the last 7 days{truncated}."
PREVIEW_TRUNCATED = " (counted over the first {events} events only)"
PREVIEW_BUSIEST = "Busiest day: *{day}* with {count}."
PREVIEW_NONE = "*Preview:* no messages in the last 7 days. Matching events will be posted as they arrive."
PREVIEW_SAMPLE = "*Sample:*\n>{sample}"
PREVIEW_SUGGEST = (
    ":bulb: That is more than {limit} a day. With minimum severity *{severity}* it would have posted at most "
    "{count} on its busiest day."
)
PREVIEW_NO_SUGGESTION = ":bulb: That is more than {limit} a day, even for critical outliers only. Consider one client."
PREVIEW_NEEDS_TYPE = "Choose a notification type, then press Preview."
PREVIEW_DIGEST = "The daily digest posts one message a day at the send time you set in App Home."
PREVIEW_DAY_FORMAT = "%a %d %b"

PREVIEW_ACTION_ID = "rule_preview"
PREVIEW_BLOCK_ID = "rule_preview_actions"
# Above this many messages on the busiest day, the preview suggests a minimum severity.
NOISY_PER_DAY = 20


@dataclass(frozen=True)
class RulePreview:
    """Result of a preview. `per_day` lists the seven days oldest first, and a `notice` replaces all counts."""

    total: int = 0
    per_day: tuple[tuple[date, int], ...] = ()
    sample: str | None = None
    suggested_severity: Severity | None = None
    suggested_busiest: int = 0
    no_suggestion: bool = False
    truncated_at: int | None = None
    notice: str | None = None

    @property
    def busiest(self) -> tuple[date, int] | None:
        if not self.per_day:
            return None
        return max(self.per_day, key=lambda day: (day[1], day[0]))


def preview_blocks(preview: RulePreview | None) -> list[dict[str, Any]]:
    """Build the Preview button and, once run, the preview's result, for the end of the rule modal."""
    button = {
        "type": "button",
        "action_id": PREVIEW_ACTION_ID,
        "text": {"type": "plain_text", "text": PREVIEW_BUTTON},
        "value": "preview",
    }
    blocks: list[dict[str, Any]] = [{"type": "actions", "block_id": PREVIEW_BLOCK_ID, "elements": [button]}]
    if preview is None:
        return blocks
    blocks.append(_section(_summary(preview)))
    if preview.notice is None and preview.sample:
        blocks.append(_section(PREVIEW_SAMPLE.format(sample=escape_and_truncate(preview.sample, 500))))
    return blocks


def _summary(preview: RulePreview) -> str:
    if preview.notice is not None:
        return preview.notice
    if preview.total == 0:
        return PREVIEW_NONE
    truncated = PREVIEW_TRUNCATED.format(events=preview.truncated_at) if preview.truncated_at else ""
    messages = "message" if preview.total == 1 else "messages"
    lines = [PREVIEW_TOTAL.format(total=preview.total, messages=messages, truncated=truncated)]
    lines.append(" · ".join(f"{day.strftime(PREVIEW_DAY_FORMAT)}: {count}" for day, count in preview.per_day))
    busiest = preview.busiest
    if busiest is not None:
        lines.append(PREVIEW_BUSIEST.format(day=busiest[0].strftime(PREVIEW_DAY_FORMAT), count=busiest[1]))
    if preview.suggested_severity is not None:
        label = SEVERITY_LABELS.get(preview.suggested_severity, preview.suggested_severity.value)
        lines.append(PREVIEW_SUGGEST.format(limit=NOISY_PER_DAY, severity=label, count=preview.suggested_busiest))
    elif preview.no_suggestion:
        lines.append(PREVIEW_NO_SUGGESTION.format(limit=NOISY_PER_DAY))
    return "\n".join(lines)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": truncate(text, MAX_SECTION_TEXT), "verbatim": True}}
