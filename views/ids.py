"""Identifiers that Slack sends back when someone uses the configuration surface.

Handlers match on these constants, and the views in `views.home`, `views.rules_list` and
`views.rule_modal` set them, so both sides use the same names.

Slack expects an `action_id` to be unique within its block (docs.slack.dev, Block Kit element reference).
Buttons that share a block therefore get distinct action ids with a common prefix, and handlers match them
with the `*_PATTERN` regular expressions, which Bolt's `app.action()` accepts.
"""

from __future__ import annotations

import re

# --- App Home: section switch and paging -----------------------------------------------------------

HOME_NAV_BLOCK = "home_nav"
HOME_SECTION_ACTION = "home_section"
# One action id per section button, such as "home_section:connection". The button value is the section.
HOME_SECTION_ACTION_PATTERN = re.compile(r"^home_section:")
SECTION_CONNECTION = "connection"
SECTION_NOTIFICATIONS = "notifications"
HOME_SECTIONS = (SECTION_CONNECTION, SECTION_NOTIFICATIONS)

HOME_PAGER_BLOCK = "home_pager"
HOME_PAGE_ACTION = "home_page"
# "home_page:previous" and "home_page:next". The button value is the target page number as a string.
HOME_PAGE_ACTION_PATTERN = re.compile(r"^home_page:")
PAGE_PREVIOUS = "previous"
PAGE_NEXT = "next"

# --- Rules: add button and per-rule overflow menu --------------------------------------------------

ADD_RULE_BLOCK = "rule_add_actions"
ADD_RULE_ACTION = "rule_add"

RULE_MENU_ACTION = "rule_menu"
# Each overflow option's value is "{verb}:{rule_id}", for example "pause:rule_3f9a2c1b7e".
MENU_EDIT = "edit"
MENU_PAUSE = "pause"
MENU_RESUME = "resume"
MENU_TEST = "test"
MENU_DELETE = "delete"
MENU_VERBS = (MENU_EDIT, MENU_PAUSE, MENU_RESUME, MENU_TEST, MENU_DELETE)
MENU_SEPARATOR = ":"

# --- App Home: managers ----------------------------------------------------------------------------

MANAGER_ADD_BLOCK = "manager_add"
MANAGER_ADD_ACTION = "manager_add"
MANAGER_REMOVE_ACTION = "manager_remove"
# Each Remove button sits in its own section, with block id "manager:{user_id}". The button value is the
# user id.
MANAGER_BLOCK_PREFIX = "manager:"

# --- Rule modal ------------------------------------------------------------------------------------

RULE_MODAL_CALLBACK = "rule_modal"
RULE_DELETE_CALLBACK = "rule_delete"

CHANNEL_BLOCK = "channel"
CHANNEL_ACTION = "channel_select"
TYPE_BLOCK = "type"
TYPE_ACTION = "rule_type"
CLIENT_BLOCK = "client"
CLIENT_ACTION = "client_select"
SEVERITY_BLOCK = "min_severity"
SEVERITY_ACTION = "min_severity_select"

# The client option that means "every client of the agency".
ALL_CLIENTS_VALUE = "__all__"


def section_action_id(section: str) -> str:
    """Build the action id of the App Home button that opens `section`."""
    return f"{HOME_SECTION_ACTION}:{section}"


def page_action_id(direction: str) -> str:
    """Build the action id of the Previous or Next button: `direction` is `PAGE_PREVIOUS` or `PAGE_NEXT`."""
    return f"{HOME_PAGE_ACTION}:{direction}"


def rule_menu_value(verb: str, rule_id: str) -> str:
    """Build an overflow option value such as "edit:rule_3f9a2c1b7e"."""
    return f"{verb}{MENU_SEPARATOR}{rule_id}"


def parse_rule_menu_value(value: str) -> tuple[str, str] | None:
    """Split an overflow option value into (verb, rule id), or return None when it is not one of ours."""
    verb, separator, rule_id = value.partition(MENU_SEPARATOR)
    if not separator or verb not in MENU_VERBS or not rule_id:
        return None
    return verb, rule_id
