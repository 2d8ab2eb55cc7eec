from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.events_schema import Severity
from storage.models import (
    AuditEntry,
    Channel,
    NotificationType,
    Rule,
    RuleState,
    Workspace,
    WorkspaceStatus,
)
from tests.slack_emulator import BlockKitChecker, check_view, view_size
from tests.views.blockkit import limit_violations
from views.home import MAX_AUDIT_ENTRIES, MAX_MANAGER_ROWS, RULES_PER_PAGE, HomeModel, build_home_view
from views.ids import (
    ADD_RULE_ACTION,
    HOME_PAGE_ACTION_PATTERN,
    HOME_SECTION_ACTION_PATTERN,
    MANAGER_ADD_ACTION,
    MANAGER_REMOVE_ACTION,
    RULE_MENU_ACTION,
    parse_rule_menu_value,
)
from views.messages import SlackMessage

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
TEAM = "T0001"
HOSTILE = "a & b <!channel> <@U999> <#C999> <http://x|y>"
LONG_CHANNEL = "c" * 80
LONG_CLIENT = "Client & <Sons> " * 20
NOT_MEMBER = "The bot is not a member of channel C0000001: invite it there with /invite @Mission Control."

# Tokens that builders may emit in mrkdwn: channel and user mentions of Slack ids, and date tokens.
ALLOWED_TOKENS = re.compile(r"<#[CG][A-Z0-9]+>|<@[UW][A-Z0-9]+>|<!date\^-?\d+\^[^<>|]*\|[^<>|]*>")


# --- Factories shared with the other view tests -------------------------------------------------------


def make_workspace(**changes: Any) -> Workspace:
    workspace = Workspace(
        team_id=TEAM,
        name="Acme Agency",
        agency_id="ag-acme",
        client_id=None,
        status=WorkspaceStatus.ACTIVE,
        installer_user_id="U0INSTALL",
        managers=("U0MGR1", "U0MGR2"),
    )
    return replace(workspace, **changes)


def make_rule(index: int = 1, **changes: Any) -> Rule:
    rule = Rule(
        id=f"rule_{index:010x}",
        team_id=TEAM,
        channel=f"C{index:07d}",
        type=NotificationType.SYSTEM_ERRORS,
        client_id=None,
        min_severity=None,
        state=RuleState.ACTIVE,
        failure_reason=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(rule, **changes)


def make_channel(channel_id: str, name: str = "alerts", **changes: Any) -> Channel:
    channel = Channel(
        team_id=TEAM,
        channel_id=channel_id,
        name=name,
        is_private=False,
        is_shared=False,
        is_member=True,
        is_archived=False,
    )
    return replace(channel, **changes)


def many_rules(count: int) -> tuple[list[Rule], dict[str, Channel], dict[str, str]]:
    """Build `count` rules of every type and state, with 80-character channel names and long client names."""
    types = list(NotificationType)
    states = list(RuleState)
    rules = [
        make_rule(
            index,
            type=types[index % len(types)],
            client_id=None if index % 3 == 0 else f"cl-{index}",
            min_severity=Severity.HIGH if index % 2 else None,
            state=states[index % len(states)],
            failure_reason=HOSTILE * 20 if index % 3 == 2 else None,
        )
        for index in range(count)
    ]
    channels = {
        rule.channel: make_channel(rule.channel, f"{index:03d}" + LONG_CHANNEL[3:], is_shared=index % 4 == 0)
        for index, rule in enumerate(rules)
    }
    clients = {f"cl-{index}": LONG_CLIENT for index in range(count)}
    return rules, channels, clients


def make_model(**changes: Any) -> HomeModel:
    model = HomeModel(
        workspace=make_workspace(),
        section="notifications",
        page=1,
        rules=[make_rule(1)],
        channels={},
        client_names={},
        can_manage=True,
        admin_names_hint=None,
        last_event_at=NOW - timedelta(hours=3),
        failing_deliveries=0,
        pending_deliveries=0,
        audit=[],
        now=NOW,
    )
    return replace(model, **changes)


def message_problems(message: dict[str, Any]) -> list[str]:
    """List limit problems of an ephemeral message with both independent checkers."""
    checker = BlockKitChecker()
    checker.check_blocks(message["blocks"], "/blocks", maximum=50, surface="message")
    problems = [problem.describe() for problem in checker.problems]
    return problems + limit_violations(SlackMessage(text=message["text"], blocks=message["blocks"]))


def unsafe_markup(payload: Any) -> list[str]:
    """List `<` and `>` in mrkdwn texts that are not an allowed mention or date token."""
    found = []
    for text in mrkdwn_texts(payload):
        outside = ALLOWED_TOKENS.sub("", text)
        found += [text for char in outside if char in "<>"]
    return found


def mrkdwn_texts(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if node.get("type") == "mrkdwn":
            yield node["text"]
        for value in node.values():
            yield from mrkdwn_texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from mrkdwn_texts(item)


def elements(view: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every interactive element: actions block elements and section accessories."""
    for block in view["blocks"]:
        yield from block.get("elements", []) if block["type"] == "actions" else []
        if "accessory" in block:
            yield block["accessory"]


def with_action(view: dict[str, Any], action_id: str | re.Pattern[str]) -> list[dict[str, Any]]:
    if isinstance(action_id, str):
        return [element for element in elements(view) if element.get("action_id") == action_id]
    return [element for element in elements(view) if action_id.match(element.get("action_id", ""))]


def all_text(view: dict[str, Any]) -> str:
    return json.dumps(view["blocks"], ensure_ascii=False)


def limit_problems(view: dict[str, Any]) -> list[str]:
    problems = [problem.describe() for problem in check_view(view)]
    if view_size(view) > 250_000:
        problems.append(f"view is {view_size(view)} bytes")
    return problems


# --- Section switch and metadata ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "shown"),
    [("connection", "connection"), ("notifications", "notifications"), ("bogus", "notifications")],
)
def test_home_switch_marks_current(section: str, shown: str) -> None:
    view = build_home_view(make_model(section=section))

    buttons = with_action(view, HOME_SECTION_ACTION_PATTERN)
    assert [button["value"] for button in buttons] == ["connection", "notifications"]
    primary = [button["value"] for button in buttons if button.get("style") == "primary"]
    assert primary == [shown]
    assert json.loads(view["private_metadata"])["section"] == shown


def test_home_switch_action_ids_unique() -> None:
    view = build_home_view(make_model())

    ids = [button["action_id"] for button in with_action(view, HOME_SECTION_ACTION_PATTERN)]
    assert len(set(ids)) == 2


def test_home_is_home_view_with_header() -> None:
    view = build_home_view(make_model())

    assert view["type"] == "home"
    assert view["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Mission Control", "emoji": True},
    }


# --- Notifications: empty state and permissions ------------------------------------------------------


def test_home_empty_offers_add() -> None:
    view = build_home_view(make_model(rules=[]))

    text = all_text(view)
    assert "No notifications yet" in text
    assert "for one client or for all your clients" in text
    assert "minimum severity" in text
    add = with_action(view, ADD_RULE_ACTION)
    assert len(add) == 1
    assert add[0]["style"] == "primary"
    assert limit_problems(view) == []


def test_home_empty_client_workspace() -> None:
    workspace = make_workspace(client_id="cl-alpha")

    text = all_text(build_home_view(make_model(rules=[], workspace=workspace)))

    assert "No notifications yet" in text
    assert "all your clients" not in text


def test_home_empty_non_manager_read_only() -> None:
    view = build_home_view(make_model(rules=[], can_manage=False, admin_names_hint="admins, <@U0ADMIN>"))

    assert with_action(view, ADD_RULE_ACTION) == []
    assert "Only admins, <@U0ADMIN> can change notifications." in all_text(view)


def test_home_non_manager_has_no_controls() -> None:
    rules, channels, clients = many_rules(30)
    model = make_model(rules=rules, channels=channels, client_names=clients, can_manage=False)

    view = build_home_view(model)

    assert with_action(view, ADD_RULE_ACTION) == []
    assert with_action(view, RULE_MENU_ACTION) == []
    assert "can change notifications" in all_text(view)
    assert limit_problems(view) == []


def test_home_non_manager_default_names() -> None:
    view = build_home_view(make_model(can_manage=False))

    assert "Only workspace admins and owners and Mission Control managers can change" in all_text(view)


def test_home_admin_hint_keeps_only_mentions() -> None:
    hint = "admins, <@U0ADMIN>, <!channel> & <http://evil|click>"

    view = build_home_view(make_model(can_manage=False, admin_names_hint=hint))

    text = all_text(view)
    assert "<@U0ADMIN>" in text
    assert "&lt;!channel&gt; &amp; &lt;http://evil|click&gt;" in text
    assert unsafe_markup(view) == []


def test_home_long_hint_cut_between_mentions() -> None:
    hint = "admins, " + ", ".join(f"<@U{index:07d}>" for index in range(300))

    view = build_home_view(make_model(can_manage=False, admin_names_hint=hint))

    line = next(text for text in mrkdwn_texts(view) if text.startswith("Only admins"))
    assert len(line) < 1_100
    assert "…" in line
    assert line.count("<@") == line.count(">")
    assert unsafe_markup(view) == []


@pytest.mark.parametrize(
    ("workspace", "expected"),
    [
        (make_workspace(agency_id=None), "Not linked to a Mission Control account"),
        (make_workspace(status=WorkspaceStatus.INACTIVE, status_reason="token revoked"), "Inactive: token revoked"),
    ],
    ids=["not linked", "inactive"],
)
def test_home_notifications_warn_workspace(workspace: Workspace, expected: str) -> None:
    assert expected in all_text(build_home_view(make_model(workspace=workspace)))


# --- Notifications: rows -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "toggle"),
    [(RuleState.ACTIVE, "pause"), (RuleState.PAUSED, "resume"), (RuleState.FAILING, "resume")],
)
def test_home_row_menu_by_state(state: RuleState, toggle: str) -> None:
    rule = make_rule(7, state=state, failure_reason="boom" if state is RuleState.FAILING else None)

    menus = with_action(build_home_view(make_model(rules=[rule])), RULE_MENU_ACTION)

    assert len(menus) == 1
    assert menus[0]["type"] == "overflow"
    values = [option["value"] for option in menus[0]["options"]]
    assert [parse_rule_menu_value(value) for value in values] == [
        ("edit", rule.id),
        (toggle, rule.id),
        ("test", rule.id),
        ("delete", rule.id),
    ]
    labels = [option["text"]["text"] for option in menus[0]["options"]]
    assert labels == ["Edit", toggle.capitalize(), "Send test message", "Delete"]


def test_home_row_menu_values_fit_slack() -> None:
    rule = make_rule(1, id="rule_" + "f" * 59, state=RuleState.PAUSED)

    menus = with_action(build_home_view(make_model(rules=[rule])), RULE_MENU_ACTION)

    assert max(len(option["value"]) for option in menus[0]["options"]) <= 75


def test_home_row_menu_omitted_for_oversized_id() -> None:
    rule = make_rule(1, id="r" * 80)

    view = build_home_view(make_model(rules=[rule]))

    assert with_action(view, RULE_MENU_ACTION) == []
    assert limit_problems(view) == []


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (make_rule(1), ["<#C0000001>", "*System errors*", "All Clients", "Active"]),
        (make_rule(1, state=RuleState.PAUSED), ["Paused"]),
        (
            make_rule(1, type=NotificationType.OUTLIER_ALERTS, min_severity=Severity.HIGH, client_id="cl-a"),
            ["*Outlier alerts*", "Alpha &amp; Co", "High severity or higher"],
        ),
        (make_rule(1, type=NotificationType.OUTLIER_ALERTS), ["All severities"]),
        (make_rule(1, client_id="cl-unknown"), ["`cl-unknown`"]),
    ],
    ids=["system errors", "paused", "outlier with severity", "outlier any severity", "unknown client"],
)
def test_home_row_summary(rule: Rule, expected: list[str]) -> None:
    text = all_text(build_home_view(make_model(rules=[rule], client_names={"cl-a": "Alpha & Co"})))

    for part in expected:
        assert part in text


def test_home_failing_row_invite_hint() -> None:
    rule = make_rule(1, state=RuleState.FAILING, failure_reason=NOT_MEMBER)
    channels = {rule.channel: make_channel(rule.channel, "ops-<alerts>")}

    text = all_text(build_home_view(make_model(rules=[rule], channels=channels)))

    assert "Failing: invite @Mission Control to #ops-&lt;alerts&gt;" in text


def test_home_failing_row_unknown_channel() -> None:
    rule = make_rule(1, state=RuleState.FAILING, failure_reason=NOT_MEMBER)

    text = all_text(build_home_view(make_model(rules=[rule])))

    assert "Failing: invite @Mission Control to <#C0000001>" in text


def test_home_failing_reason_escaped() -> None:
    rule = make_rule(1, state=RuleState.FAILING, failure_reason="Channel <#C1> is archived & gone")

    view = build_home_view(make_model(rules=[rule]))

    # A channel mention stays a mention (Slack shows the name); everything else is escaped.
    assert "Failing: Channel <#C1> is archived &amp; gone" in all_text(view)
    assert unsafe_markup(view) == []


def test_home_row_shared_channel_warns() -> None:
    shared, plain = make_rule(1), make_rule(2)
    channels = {
        shared.channel: make_channel(shared.channel, "a-shared", is_shared=True),
        plain.channel: make_channel(plain.channel, "b-plain"),
    }

    view = build_home_view(make_model(rules=[shared, plain], channels=channels))

    warnings = [block for block in view["blocks"] if "another organisation" in json.dumps(block)]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "context"
    index = view["blocks"].index(warnings[0])
    assert "<#C0000001>" in view["blocks"][index - 1]["text"]["text"]


def test_home_row_private_channel_marked() -> None:
    rule = make_rule(1)
    channels = {rule.channel: make_channel(rule.channel, is_private=True)}

    assert ":lock: <#C0000001>" in all_text(build_home_view(make_model(rules=[rule], channels=channels)))


def test_home_rows_sorted_by_channel_name() -> None:
    rules = [make_rule(1), make_rule(2), make_rule(3)]
    names = {rules[0].channel: "zeta", rules[1].channel: "alpha", rules[2].channel: "Mid"}
    channels = {channel_id: make_channel(channel_id, name) for channel_id, name in names.items()}

    view = build_home_view(make_model(rules=rules, channels=channels))

    shown = [value.split(":")[1] for value in _menu_edit_values(view)]
    assert shown == [rules[1].id, rules[2].id, rules[0].id]


def _menu_edit_values(view: dict[str, Any]) -> list[str]:
    return [menu["options"][0]["value"] for menu in with_action(view, RULE_MENU_ACTION)]


# --- Notifications: paging ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("page", "shown_page", "buttons", "rows"),
    [
        (1, 1, {"2"}, RULES_PER_PAGE),
        (2, 2, {"1", "3"}, RULES_PER_PAGE),
        (3, 3, {"2"}, 5),
        (99, 3, {"2"}, 5),
        (0, 1, {"2"}, RULES_PER_PAGE),
        (-4, 1, {"2"}, RULES_PER_PAGE),
    ],
    ids=["first", "middle", "last", "past the end", "zero", "negative"],
)
def test_home_paging(page: int, shown_page: int, buttons: set[str], rows: int) -> None:
    rules = [make_rule(index) for index in range(2 * RULES_PER_PAGE + 5)]

    view = build_home_view(make_model(rules=rules, page=page))

    assert {button["value"] for button in with_action(view, HOME_PAGE_ACTION_PATTERN)} == buttons
    assert f"Page {shown_page} of 3" in all_text(view)
    assert len(with_action(view, RULE_MENU_ACTION)) == rows
    assert json.loads(view["private_metadata"]) == {"section": "notifications", "page": shown_page}


def test_home_paging_action_ids_unique() -> None:
    rules = [make_rule(index) for index in range(3 * RULES_PER_PAGE)]

    buttons = with_action(build_home_view(make_model(rules=rules, page=2)), HOME_PAGE_ACTION_PATTERN)

    assert len({button["action_id"] for button in buttons}) == 2


def test_home_pages_cover_every_rule() -> None:
    rules = [make_rule(index) for index in range(2 * RULES_PER_PAGE + 5)]

    seen = []
    for page in (1, 2, 3):
        seen += _menu_edit_values(build_home_view(make_model(rules=rules, page=page)))

    assert sorted(seen) == sorted(f"edit:{rule.id}" for rule in rules)


def test_home_one_page_has_no_pager() -> None:
    rules = [make_rule(index) for index in range(RULES_PER_PAGE)]

    view = build_home_view(make_model(rules=rules))

    assert with_action(view, HOME_PAGE_ACTION_PATTERN) == []
    assert "Page 1 of" not in all_text(view)


# --- Connection ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("workspace", "expected"),
    [
        (make_workspace(), "Agency `ag-acme`"),
        (make_workspace(client_id="cl-alpha"), "Client `cl-alpha` of agency `ag-acme`"),
        (make_workspace(agency_id=None), "Ask a Mission Control admin for an install link"),
    ],
    ids=["agency", "client", "not linked"],
)
def test_home_connection_account(workspace: Workspace, expected: str) -> None:
    view = build_home_view(make_model(section="connection", workspace=workspace))

    assert expected in all_text(view)


@pytest.mark.parametrize(
    ("workspace", "expected"),
    [
        (make_workspace(), ":large_green_circle: Active"),
        (make_workspace(status=WorkspaceStatus.INACTIVE, status_reason="token <revoked>"), "Inactive: token &lt;"),
        (make_workspace(status=WorkspaceStatus.INACTIVE), ":red_circle: Inactive"),
        (make_workspace(name="Acme & <Co>"), "Acme &amp; &lt;Co&gt;"),
        (make_workspace(name=None), "T0001"),
    ],
    ids=["active", "inactive with reason", "inactive", "hostile name", "no name"],
)
def test_home_connection_workspace(workspace: Workspace, expected: str) -> None:
    view = build_home_view(make_model(section="connection", workspace=workspace))

    assert expected in all_text(view)
    assert unsafe_markup(view) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"last_event_at": None}, "No events received yet"),
        ({}, "<!date^"),
        ({}, "(3 h ago)"),
        ({"last_event_at": NOW - timedelta(minutes=5)}, "(5 min ago)"),
        ({"failing_deliveries": 4}, "*Failing deliveries*\\n:warning: 4"),
        ({"failing_deliveries": 0}, "*Failing deliveries*\\n0"),
        ({"pending_deliveries": 12}, "*Pending deliveries*\\n12"),
    ],
    ids=["no events", "date token", "hours ago", "minutes ago", "failing", "none failing", "pending"],
)
def test_home_connection_feed(changes: dict[str, Any], expected: str) -> None:
    view = build_home_view(make_model(section="connection", **changes))

    assert expected in all_text(view)


def test_home_managers_editable() -> None:
    view = build_home_view(make_model(section="connection"))

    removes = with_action(view, MANAGER_REMOVE_ACTION)
    assert [button["value"] for button in removes] == ["U0MGR1", "U0MGR2"]
    assert all("confirm" in button for button in removes)
    rows = [block for block in view["blocks"] if block.get("accessory") in removes]
    assert [row["block_id"] for row in rows] == ["manager:U0MGR1", "manager:U0MGR2"]
    adds = with_action(view, MANAGER_ADD_ACTION)
    assert [element["type"] for element in adds] == ["users_select"]
    assert "Installed by <@U0INSTALL>" in all_text(view)


def test_home_managers_read_only() -> None:
    view = build_home_view(make_model(section="connection", can_manage=False))

    assert with_action(view, MANAGER_REMOVE_ACTION) == []
    assert with_action(view, MANAGER_ADD_ACTION) == []
    assert "<@U0MGR1>, <@U0MGR2>" in all_text(view)


def test_home_duplicate_managers_once() -> None:
    workspace = make_workspace(managers=("U0MGR1", "U0MGR1"))

    view = build_home_view(make_model(section="connection", workspace=workspace))

    assert len(with_action(view, MANAGER_REMOVE_ACTION)) == 1


@pytest.mark.parametrize("can_manage", [True, False])
def test_home_many_managers_capped(can_manage: bool) -> None:
    workspace = make_workspace(managers=tuple(f"U{index:08d}" for index in range(MAX_MANAGER_ROWS + 70)))

    view = build_home_view(make_model(section="connection", workspace=workspace, can_manage=can_manage))

    assert "and 70 more" in all_text(view)
    assert limit_problems(view) == []


def test_home_audit_latest_ten() -> None:
    audit = [
        AuditEntry(TEAM, f"U{index:07d}", "rule.create", f"rule {index} " + HOSTILE * 30, None, None, NOW)
        for index in range(15)
    ]

    view = build_home_view(make_model(section="connection", audit=audit))

    lines = [text for text in mrkdwn_texts(view) if "rule.create" in text]
    assert len(lines) == MAX_AUDIT_ENTRIES
    assert lines[0].startswith("<@U0000000> rule.create rule 0 a &amp; b &lt;!channel&gt;")
    assert all("<!date^" in line for line in lines)
    assert unsafe_markup(view) == []
    assert limit_problems(view) == []


def test_home_connection_no_audit() -> None:
    assert "No changes yet." in all_text(build_home_view(make_model(section="connection")))


# --- Limits ------------------------------------------------------------------------------------------


def test_home_limits_no_rules() -> None:
    for section in ("notifications", "connection"):
        assert limit_problems(build_home_view(make_model(rules=[], section=section))) == []


@pytest.mark.parametrize("can_manage", [True, False])
def test_home_limits_250_rules(can_manage: bool) -> None:
    rules, channels, clients = many_rules(250)
    model = make_model(rules=rules, channels=channels, client_names=clients, can_manage=can_manage)

    pages = -(-250 // RULES_PER_PAGE)
    for page in range(1, pages + 1):
        view = build_home_view(replace(model, page=page))
        assert limit_problems(view) == [], page
        assert len(view["blocks"]) <= 60, page
        assert unsafe_markup(view) == [], page


def test_home_limits_connection_worst() -> None:
    workspace = make_workspace(
        name="W" * 500,
        status=WorkspaceStatus.INACTIVE,
        status_reason=HOSTILE * 100,
        managers=tuple(f"U{index:08d}" for index in range(200)),
    )
    audit = [AuditEntry(TEAM, "U0001", "x" * 500, "t" * 5000, None, None, NOW) for _ in range(10)]
    model = make_model(section="connection", workspace=workspace, audit=audit, failing_deliveries=10**9)

    view = build_home_view(model)

    assert limit_problems(view) == []
    assert len(view["blocks"]) <= 60
