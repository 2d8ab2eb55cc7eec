"""The App Home tab: a Connection section and a Notifications section, switched by buttons at the top.

Slack's Home tab has no sub-tabs, so the handler publishes the whole view again after each click, and the
view keeps the shown section and page in `private_metadata` as JSON: `{"section": ..., "page": ...}`.

A Home view holds at most 100 blocks. The Notifications section shows `RULES_PER_PAGE` rules of at most two
blocks each, and the Connection section at most `MAX_MANAGER_ROWS` managers and `MAX_AUDIT_ENTRIES` audit
entries, so both stay well under that limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from storage.models import AuditEntry, Channel, Rule, Workspace, WorkspaceStatus
from views.ids import (
    HOME_NAV_BLOCK,
    HOME_PAGER_BLOCK,
    HOME_SECTIONS,
    MANAGER_ADD_ACTION,
    MANAGER_ADD_BLOCK,
    MANAGER_BLOCK_PREFIX,
    MANAGER_REMOVE_ACTION,
    PAGE_NEXT,
    PAGE_PREVIOUS,
    SECTION_CONNECTION,
    SECTION_NOTIFICATIONS,
    page_action_id,
    section_action_id,
)
from views.limits import MAX_BLOCK_ID
from views.rule_text import (
    ACCOUNT_NOT_LINKED,
    account_text,
    add_rule_actions,
    button,
    context_block,
    escape_keeping_mentions,
    feed_health_fields,
    field,
    fields_block,
    header_block,
    mrkdwn_text,
    plain_text,
    read_only_context,
    rule_row_blocks,
    section_block,
    sort_rules,
    user_mention,
    workspace_status_text,
)
from views.text import escape_and_truncate, slack_date

# --- User-facing copy -------------------------------------------------------------------------------

TITLE = "Mission Control"
SECTION_LABELS = {SECTION_CONNECTION: "Connection", SECTION_NOTIFICATIONS: "Notifications"}

ACCOUNT_LABEL = "Account"
WORKSPACE_LABEL = "Workspace"
STATUS_LABEL = "Status"
EVENT_FEED_TITLE = "*Event feed*"

MANAGERS_TITLE = "*Managers*"
MANAGERS_INTRO = (
    "Workspace admins and owners, the person who installed the app and the managers listed here "
    "can change notifications."
)
INSTALLER_LINE = "Installed by {user}."
NO_MANAGERS = "No managers added yet."
MORE_MANAGERS = "and {count} more"
MANAGER_REMOVE_LABEL = "Remove"
MANAGER_REMOVE_CONFIRM_TITLE = "Remove this manager?"
MANAGER_REMOVE_CONFIRM_TEXT = (
    "They will no longer be able to change notifications, unless they are a workspace admin or owner."
)
MANAGER_REMOVE_CONFIRM_BUTTON = "Remove"
MANAGER_REMOVE_DENY_BUTTON = "Cancel"
MANAGER_ADD_PLACEHOLDER = "Add a manager"

AUDIT_TITLE = "*Recent changes*"
AUDIT_LINE = "{user} {action} {target}  ·  {when}"
NO_CHANGES = "No changes yet."

RULES_EMPTY_AGENCY = (
    "*No notifications yet.*\n"
    "A notification sends one type of event to one channel, for one client or for all your clients. "
    "Outlier alerts can be limited to a minimum severity."
)
RULES_EMPTY_CLIENT = (
    "*No notifications yet.*\n"
    "A notification sends one type of event to one channel. "
    "Outlier alerts can be limited to a minimum severity."
)
RULES_COUNT_ONE = "*1 notification* in this workspace."
RULES_COUNT = "*{count} notifications* in this workspace."
PAGE_TEXT = "Page {page} of {pages}"
PREVIOUS_LABEL = "Previous"
NEXT_LABEL = "Next"

# --- Sizes ------------------------------------------------------------------------------------------

# A rule row is at most two blocks, so a page of rules is at most 40 blocks, and the header, switch,
# add button, count, read-only line and pager add six more: under half of Slack's 100.
RULES_PER_PAGE = 20
MAX_AUDIT_ENTRIES = 10
# Each manager with a Remove button is one block.
MAX_MANAGER_ROWS = 30
MAX_AUDIT_ACTION = 100
MAX_AUDIT_TARGET = 300
# Slack's confirmation dialog object: title 100 characters, text 300, buttons 30 (Block Kit composition objects).
MAX_CONFIRM_TITLE = 100
MAX_CONFIRM_TEXT = 300
MAX_CONFIRM_BUTTON = 30


@dataclass(frozen=True)
class HomeModel:
    """Everything the Home tab shows for one user.

    `section` is "connection" or "notifications" (anything else shows notifications). `page` counts from 1
    and is clamped to the pages that exist. `rules` are all of the workspace's rules: the view sorts and
    pages them. `admin_names_hint` names who may change notifications, as `mrkdwn` in which only user
    mentions such as `<@U1>` are kept. `audit` is latest first.
    """

    workspace: Workspace
    section: str
    page: int
    rules: list[Rule]
    channels: dict[str, Channel]
    client_names: dict[str, str]
    can_manage: bool
    admin_names_hint: str | None
    last_event_at: datetime | None
    failing_deliveries: int
    pending_deliveries: int
    audit: list[AuditEntry]
    now: datetime
    # The daily digest settings (`views.digest_settings`) and Houston's switch (`views.houston_settings`),
    # shown in the Connection section.
    digest_blocks: tuple[dict[str, Any], ...] = ()
    houston_blocks: tuple[dict[str, Any], ...] = ()
    # The active snoozes with their Unsnooze buttons (`views.snooze`), shown in the Notifications section.
    snooze_blocks: tuple[dict[str, Any], ...] = ()
    # Failed and dead deliveries with Retry buttons (`views.failed_deliveries`), after the rules.
    failed_blocks: tuple[dict[str, Any], ...] = ()
    # Deliveries kept for failing rules, sent once their channel works again.
    held_deliveries: int = 0


def build_home_view(model: HomeModel) -> dict[str, Any]:
    """Build the Home tab view for `views.publish`."""
    section = model.section if model.section in HOME_SECTIONS else SECTION_NOTIFICATIONS
    page = clamp_page(model.page, len(model.rules))
    blocks = [header_block(TITLE), _section_switch(section)]
    if section == SECTION_CONNECTION:
        blocks += _connection_blocks(model)
    else:
        blocks += _notification_blocks(model, page)
        blocks += model.failed_blocks
    return {
        "type": "home",
        "blocks": blocks,
        "private_metadata": json.dumps({"section": section, "page": page}),
    }


def page_count(rule_count: int) -> int:
    return max(1, math.ceil(rule_count / RULES_PER_PAGE))


def clamp_page(page: int, rule_count: int) -> int:
    """Return `page` limited to 1 up to the last page, so a page past the end shows the last one."""
    return min(max(page, 1), page_count(rule_count))


def _section_switch(current: str) -> dict[str, Any]:
    buttons = []
    for section in HOME_SECTIONS:
        style = "primary" if section == current else None
        label = SECTION_LABELS[section]
        buttons.append(button(label, action_id=section_action_id(section), value=section, style=style))
    return {"type": "actions", "block_id": HOME_NAV_BLOCK, "elements": buttons}


# --- Connection -------------------------------------------------------------------------------------


def _connection_blocks(model: HomeModel) -> list[dict[str, Any]]:
    workspace = model.workspace
    name = escape_and_truncate(workspace.name or workspace.team_id, 200)
    account = fields_block(
        [
            field(ACCOUNT_LABEL, account_text(workspace)),
            field(WORKSPACE_LABEL, name),
            field(STATUS_LABEL, workspace_status_text(workspace)),
        ]
    )
    feed = fields_block(
        feed_health_fields(
            last_event_at=model.last_event_at,
            failing_deliveries=model.failing_deliveries,
            pending_deliveries=model.pending_deliveries,
            held_deliveries=model.held_deliveries,
            now=model.now,
        )
    )
    feed["text"] = mrkdwn_text(EVENT_FEED_TITLE)
    digest = [*model.digest_blocks, {"type": "divider"}] if model.digest_blocks else []
    digest += [*model.houston_blocks, {"type": "divider"}] if model.houston_blocks else []
    return [
        account,
        feed,
        {"type": "divider"},
        *digest,
        *_manager_blocks(model),
        {"type": "divider"},
        *_audit_blocks(model.audit),
    ]


def _manager_blocks(model: HomeModel) -> list[dict[str, Any]]:
    workspace = model.workspace
    intro = f"{MANAGERS_TITLE}\n{MANAGERS_INTRO}"
    if workspace.installer_user_id:
        intro += " " + INSTALLER_LINE.format(user=user_mention(workspace.installer_user_id))
    blocks = [section_block(intro)]
    managers = list(dict.fromkeys(workspace.managers))
    if not managers:
        blocks.append(context_block(NO_MANAGERS))
    elif model.can_manage:
        blocks += [_manager_row(user_id) for user_id in managers[:MAX_MANAGER_ROWS]]
    else:
        blocks.append(section_block(", ".join(user_mention(user_id) for user_id in managers[:MAX_MANAGER_ROWS])))
    if len(managers) > MAX_MANAGER_ROWS:
        blocks.append(context_block(MORE_MANAGERS.format(count=len(managers) - MAX_MANAGER_ROWS)))
    if model.can_manage:
        blocks.append(_manager_add())
    return blocks


def _manager_row(user_id: str) -> dict[str, Any]:
    remove = button(MANAGER_REMOVE_LABEL, action_id=MANAGER_REMOVE_ACTION, value=user_id, style="danger")
    remove["confirm"] = {
        "title": plain_text(MANAGER_REMOVE_CONFIRM_TITLE, MAX_CONFIRM_TITLE),
        "text": plain_text(MANAGER_REMOVE_CONFIRM_TEXT, MAX_CONFIRM_TEXT),
        "confirm": plain_text(MANAGER_REMOVE_CONFIRM_BUTTON, MAX_CONFIRM_BUTTON),
        "deny": plain_text(MANAGER_REMOVE_DENY_BUTTON, MAX_CONFIRM_BUTTON),
        "style": "danger",
    }
    row = section_block(user_mention(user_id))
    row["block_id"] = (MANAGER_BLOCK_PREFIX + user_id)[:MAX_BLOCK_ID]
    row["accessory"] = remove
    return row


def _manager_add() -> dict[str, Any]:
    select = {
        "type": "users_select",
        "action_id": MANAGER_ADD_ACTION,
        "placeholder": plain_text(MANAGER_ADD_PLACEHOLDER),
    }
    return {"type": "actions", "block_id": MANAGER_ADD_BLOCK, "elements": [select]}


def _audit_blocks(audit: Sequence[AuditEntry]) -> list[dict[str, Any]]:
    blocks = [section_block(AUDIT_TITLE)]
    if not audit:
        return [*blocks, context_block(NO_CHANGES)]
    return blocks + [context_block(_audit_line(entry)) for entry in audit[:MAX_AUDIT_ENTRIES]]


def _audit_line(entry: AuditEntry) -> str:
    return AUDIT_LINE.format(
        user=user_mention(entry.user_id),
        action=escape_and_truncate(" ".join(entry.action.split()), MAX_AUDIT_ACTION),
        target=escape_keeping_mentions(" ".join(entry.target.split()), MAX_AUDIT_TARGET),
        when=slack_date(entry.at),
    )


# --- Notifications ----------------------------------------------------------------------------------


def _notification_blocks(model: HomeModel, page: int) -> list[dict[str, Any]]:
    blocks = _workspace_warnings(model.workspace)
    if not model.rules:
        blocks.append(section_block(_empty_text(model.workspace)))
        if model.can_manage:
            blocks.append(add_rule_actions())
        else:
            blocks.append(read_only_context(model.admin_names_hint))
        return blocks

    if model.can_manage:
        blocks.append(add_rule_actions())
    count = len(model.rules)
    blocks.append(section_block(RULES_COUNT_ONE if count == 1 else RULES_COUNT.format(count=count)))
    if not model.can_manage:
        blocks.append(read_only_context(model.admin_names_hint))
    blocks += _rule_rows(model, page)
    blocks += _pager_blocks(page, page_count(count))
    if model.snooze_blocks:
        blocks += [{"type": "divider"}, *model.snooze_blocks]
    return blocks


def _workspace_warnings(workspace: Workspace) -> list[dict[str, Any]]:
    if not workspace.is_linked:
        return [context_block(ACCOUNT_NOT_LINKED)]
    if workspace.status is WorkspaceStatus.INACTIVE:
        return [context_block(workspace_status_text(workspace))]
    return []


def _empty_text(workspace: Workspace) -> str:
    return RULES_EMPTY_CLIENT if workspace.is_client_workspace else RULES_EMPTY_AGENCY


def _rule_rows(model: HomeModel, page: int) -> list[dict[str, Any]]:
    ordered = sort_rules(model.rules, model.channels, model.client_names)
    start = (page - 1) * RULES_PER_PAGE
    blocks: list[dict[str, Any]] = []
    for rule in ordered[start : start + RULES_PER_PAGE]:
        client_name = model.client_names.get(rule.client_id) if rule.client_id else None
        channel = model.channels.get(rule.channel)
        blocks += rule_row_blocks(rule, channel=channel, client_name=client_name, can_manage=model.can_manage)
    return blocks


def _pager_blocks(page: int, pages: int) -> list[dict[str, Any]]:
    if pages <= 1:
        return []
    buttons = []
    if page > 1:
        buttons.append(button(PREVIOUS_LABEL, action_id=page_action_id(PAGE_PREVIOUS), value=str(page - 1)))
    if page < pages:
        buttons.append(button(NEXT_LABEL, action_id=page_action_id(PAGE_NEXT), value=str(page + 1)))
    return [
        context_block(PAGE_TEXT.format(page=page, pages=pages)),
        {"type": "actions", "block_id": HOME_PAGER_BLOCK, "elements": buttons},
    ]
