from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from storage.models import RuleState, WorkspaceStatus
from tests.views.test_home import (
    HOSTILE,
    NOT_MEMBER,
    NOW,
    make_channel,
    make_rule,
    make_workspace,
    many_rules,
    message_problems,
    unsafe_markup,
)
from views.help import closest_subcommand, help_message, refusal_message, unknown_command_message
from views.status import MAX_FAILING_SHOWN, StatusModel, build_status_message


def texts(message: dict[str, Any]) -> str:
    return "\n".join(str(block) for block in message["blocks"])


# --- Help ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example",
    [
        "`/missioncontrol rules`",
        "`/missioncontrol rules add`",
        "`/missioncontrol status`",
        "`/missioncontrol digest time 09:30`",
        "`/missioncontrol link &lt;grant&gt;`",
        "`/missioncontrol help`",
    ],
)
def test_help_lists_subcommand(example: str) -> None:
    assert example in texts(help_message())


def test_help_within_limits() -> None:
    message = help_message()

    assert message["text"].startswith("Mission Control for Slack")
    assert message_problems(message) == []
    assert unsafe_markup(message["blocks"]) == []


@pytest.mark.parametrize(
    ("text", "suggestion", "expected"),
    [
        ("rule", "rules", "`/missioncontrol rule` is not a command. Did you mean `/missioncontrol rules`?"),
        ("frobnicate", None, "`/missioncontrol frobnicate` is not a command."),
        ("<!channel> & `x`", None, "`/missioncontrol &lt;!channel&gt; &amp; 'x'` is not a command."),
        ("a\nb", None, "`/missioncontrol a b` is not a command."),
    ],
    ids=["suggestion", "no suggestion", "hostile", "newline"],
)
def test_unknown_command(text: str, suggestion: str | None, expected: str) -> None:
    message = unknown_command_message(text, suggestion)

    assert message["text"] == expected
    assert message["blocks"][0]["text"]["text"] == expected
    assert "`/missioncontrol help`" in texts(message)
    assert message_problems(message) == []
    assert unsafe_markup(message["blocks"]) == []


def test_unknown_command_long_text_cut() -> None:
    message = unknown_command_message("x" * 5000, None)

    assert len(message["text"]) < 200
    assert message_problems(message) == []


def test_refusal_names_who_and_how() -> None:
    message = refusal_message("workspace admins and owners, <@U1>, <@U2>")

    expected = (
        "Only workspace admins and owners, <@U1>, <@U2> can change notifications. "
        "Ask one of them, or ask an admin to add you as a manager in the Mission Control App Home."
    )
    assert message["text"] == expected
    assert message_problems(message) == []


def test_refusal_escapes_all_but_mentions() -> None:
    message = refusal_message("<@U1> " + HOSTILE)

    assert message["text"].startswith("Only <@U1> a &amp; b &lt;!channel&gt; <@U999>")
    assert unsafe_markup(message["blocks"]) == []


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("rule", "rules"),
        ("RULES", "rules"),
        ("rules ad", "rules add"),
        ("stats", "status"),
        ("hlep", "help"),
        ("digets", "digest"),
        ("lnk", "link"),
        ("xyzzy", None),
        ("", None),
    ],
)
def test_closest_subcommand(word: str, expected: str | None) -> None:
    assert closest_subcommand(word) == expected


# --- Status --------------------------------------------------------------------------------------------


def make_status(**changes: Any) -> StatusModel:
    model = StatusModel(
        workspace=make_workspace(),
        rules=[
            make_rule(1),
            make_rule(2, state=RuleState.PAUSED),
            make_rule(3, state=RuleState.FAILING, failure_reason=NOT_MEMBER),
        ],
        channels={"C0000003": make_channel("C0000003", "ops")},
        client_names={},
        last_event_at=NOW - timedelta(minutes=5),
        failing_deliveries=0,
        pending_deliveries=2,
        now=NOW,
    )
    return replace(model, **changes)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, "1 active, 1 paused, 1 failing"),
        ({"rules": []}, "*Notifications*\\nNone yet"),
        ({}, "Agency `ag-acme`"),
        ({"workspace": make_workspace(agency_id=None)}, "Ask a Mission Control admin for an install link"),
        ({"workspace": make_workspace(status=WorkspaceStatus.INACTIVE, status_reason="gone")}, "Inactive: gone"),
        ({}, "(5 min ago)"),
        ({"last_event_at": None}, "No events received yet"),
        ({"failing_deliveries": 3}, ":warning: 3"),
        ({}, "*Pending deliveries*\\n2"),
        ({"held_deliveries": 4}, "*Pending deliveries*\\n2, and 4 held until their channel works again"),
        ({}, "Failing: invite @Mission Control to #ops"),
    ],
    ids=[
        "counts",
        "no rules",
        "agency",
        "not linked",
        "inactive",
        "last event",
        "no events",
        "failing deliveries",
        "pending",
        "held",
        "failing rule",
    ],
)
def test_status_shows(changes: dict[str, Any], expected: str) -> None:
    message = build_status_message(make_status(**changes))

    assert expected in texts(message)
    assert message_problems(message) == []


def test_status_fallback_counts() -> None:
    message = build_status_message(make_status())

    assert message["text"] == "Mission Control status: 1 active, 1 paused, 1 failing"


def test_status_healthy_no_failing() -> None:
    message = build_status_message(make_status(rules=[make_rule(1)]))

    assert "Failing notifications" not in texts(message)


def test_status_failing_capped() -> None:
    rules = [
        make_rule(index, state=RuleState.FAILING, failure_reason=HOSTILE * 40) for index in range(MAX_FAILING_SHOWN + 7)
    ]

    message = build_status_message(make_status(rules=rules))

    shown = [block for block in message["blocks"] if "Failing: " in str(block)]
    assert len(shown) == MAX_FAILING_SHOWN
    assert "and 7 more failing" in texts(message)
    assert message_problems(message) == []
    assert unsafe_markup(message["blocks"]) == []


def test_status_limits_250_rules() -> None:
    rules, channels, clients = many_rules(250)

    message = build_status_message(make_status(rules=rules, channels=channels, client_names=clients))

    assert message_problems(message) == []
    assert unsafe_markup(message["blocks"]) == []
