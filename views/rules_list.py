"""The `/missioncontrol rules` reply: an ephemeral message with the workspace's rules.

The rows and their overflow menus are the same as in App Home (`views.rule_text.rule_row_blocks`), so the
same handlers serve both. A message holds at most 50 blocks, so it shows `MAX_RULES_SHOWN` rules and
points to App Home for the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from storage.models import Channel, Rule
from views.rule_text import (
    add_rule_actions,
    context_block,
    read_only_context,
    rule_row_blocks,
    section_block,
    sort_rules,
)

# --- User-facing copy -------------------------------------------------------------------------------

TITLE = "*Notifications in this workspace*"
FALLBACK_ONE = "1 notification in this workspace"
FALLBACK = "{count} notifications in this workspace"
FALLBACK_EMPTY = "No notifications in this workspace yet"
EMPTY_TEXT = (
    "*No notifications yet.*\n"
    "A notification sends one type of event to one channel, for one client or for all clients. "
    "Outlier alerts can be limited to a minimum severity."
)
MORE_RULES = "and {count} more: open the Mission Control App Home to see all."

# A row is at most two blocks: 15 rows, the title, the "more" line, the read-only line and the add button
# stay under 35 of Slack's 50 blocks per message.
MAX_RULES_SHOWN = 15


@dataclass(frozen=True)
class RulesListModel:
    """The rules of one workspace with the names to show them, and whether the user may change them.

    `admin_names_hint` names who may change notifications, as `mrkdwn` in which only user mentions such as
    `<@U1>` are kept.
    """

    rules: list[Rule]
    channels: dict[str, Channel]
    client_names: dict[str, str]
    can_manage: bool
    admin_names_hint: str | None = None


def build_rules_message(model: RulesListModel) -> dict[str, Any]:
    """Build the ephemeral message as `text` and `blocks`."""
    if not model.rules:
        return {"text": FALLBACK_EMPTY, "blocks": [section_block(EMPTY_TEXT), _manage_block(model)]}

    count = len(model.rules)
    blocks = [section_block(TITLE)]
    if not model.can_manage:
        blocks.append(read_only_context(model.admin_names_hint))
    for rule in sort_rules(model.rules, model.channels, model.client_names)[:MAX_RULES_SHOWN]:
        client_name = model.client_names.get(rule.client_id) if rule.client_id else None
        channel = model.channels.get(rule.channel)
        blocks += rule_row_blocks(rule, channel=channel, client_name=client_name, can_manage=model.can_manage)
    if count > MAX_RULES_SHOWN:
        blocks.append(context_block(MORE_RULES.format(count=count - MAX_RULES_SHOWN)))
    if model.can_manage:
        blocks.append(add_rule_actions())
    text = FALLBACK_ONE if count == 1 else FALLBACK.format(count=count)
    return {"text": text, "blocks": blocks}


def _manage_block(model: RulesListModel) -> dict[str, Any]:
    return add_rule_actions() if model.can_manage else read_only_context(model.admin_names_hint)
