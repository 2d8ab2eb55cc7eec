"""The `/missioncontrol status` reply: account, rule counts by state, failing rules, event feed health."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.models import Channel, Rule, RuleState, Workspace
from views.rule_text import (
    account_text,
    context_block,
    feed_health_fields,
    field,
    fields_block,
    rule_state_text,
    rule_summary,
    section_block,
    sort_rules,
    workspace_status_text,
)

# --- User-facing copy -------------------------------------------------------------------------------

TITLE = "*Mission Control status*"
FALLBACK = "Mission Control status: {counts}"
ACCOUNT_LABEL = "Account"
STATUS_LABEL = "Workspace"
NOTIFICATIONS_LABEL = "Notifications"
COUNTS = "{active} active, {paused} paused, {failing} failing"
NO_RULES = "None yet"
FAILING_TITLE = "*Failing notifications*"
FAILING_LINE = "{summary}\n{state}"
MORE_FAILING = "and {count} more failing: open the Mission Control App Home to see all."

# One section per failing rule keeps each within Slack's 3,000 characters, and the message within 50 blocks.
MAX_FAILING_SHOWN = 10


@dataclass(frozen=True)
class StatusModel:
    """Content of the status message for one workspace. `client_names` maps client ids to names."""

    workspace: Workspace
    rules: list[Rule]
    channels: dict[str, Channel]
    client_names: dict[str, str]
    last_event_at: datetime | None
    failing_deliveries: int
    pending_deliveries: int
    now: datetime
    # Deliveries kept for failing rules, sent once their channel works again.
    held_deliveries: int = 0


def build_status_message(model: StatusModel) -> dict[str, Any]:
    """Build the ephemeral status message as `text` and `blocks`."""
    counts = _counts_text(model.rules)
    overview = fields_block(
        [
            field(ACCOUNT_LABEL, account_text(model.workspace)),
            field(STATUS_LABEL, workspace_status_text(model.workspace)),
            field(NOTIFICATIONS_LABEL, counts),
        ]
    )
    feed = fields_block(
        feed_health_fields(
            last_event_at=model.last_event_at,
            failing_deliveries=model.failing_deliveries,
            pending_deliveries=model.pending_deliveries,
            now=model.now,
            held_deliveries=model.held_deliveries,
        )
    )
    blocks = [section_block(TITLE), overview, feed, *_failing_blocks(model)]
    return {"text": FALLBACK.format(counts=counts), "blocks": blocks}


def _counts_text(rules: list[Rule]) -> str:
    if not rules:
        return NO_RULES
    counts = Counter(rule.state for rule in rules)
    return COUNTS.format(
        active=counts[RuleState.ACTIVE], paused=counts[RuleState.PAUSED], failing=counts[RuleState.FAILING]
    )


def _failing_blocks(model: StatusModel) -> list[dict[str, Any]]:
    failing = [rule for rule in model.rules if rule.state is RuleState.FAILING]
    if not failing:
        return []
    blocks = [section_block(FAILING_TITLE)]
    for rule in sort_rules(failing, model.channels, model.client_names)[:MAX_FAILING_SHOWN]:
        channel = model.channels.get(rule.channel)
        client_name = model.client_names.get(rule.client_id) if rule.client_id else None
        summary = rule_summary(rule, channel, client_name)
        blocks.append(section_block(FAILING_LINE.format(summary=summary, state=rule_state_text(rule, channel))))
    if len(failing) > MAX_FAILING_SHOWN:
        blocks.append(context_block(MORE_FAILING.format(count=len(failing) - MAX_FAILING_SHOWN)))
    return blocks
