from __future__ import annotations

from typing import Any

import pytest

from storage.models import RuleState
from tests.views.factories import make_event
from tests.views.test_home import (
    HOSTILE,
    NOT_MEMBER,
    make_channel,
    make_model,
    make_rule,
    many_rules,
    message_problems,
    unsafe_markup,
    with_action,
)
from views.home import build_home_view
from views.ids import ADD_RULE_ACTION, RULE_MENU_ACTION
from views.messages import SlackMessage, build_event_message
from views.rules_list import MAX_RULES_SHOWN, RulesListModel, build_rules_message
from views.test_message import label_as_test
from views.test_message import test_result_text as result_text
from views.text import ELLIPSIS


def make_list(**changes: Any) -> RulesListModel:
    values: dict[str, Any] = {
        "rules": [make_rule(1)],
        "channels": {},
        "client_names": {},
        "can_manage": True,
        "admin_names_hint": None,
    }
    return RulesListModel(**(values | changes))


def texts(message: dict[str, Any]) -> str:
    return "\n".join(str(block) for block in message["blocks"])


def sections(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [block for block in blocks if block["type"] == "section" and "accessory" in block]


# --- Rules message -----------------------------------------------------------------------------------


def test_rules_rows_match_home() -> None:
    rules, channels, clients = many_rules(10)

    message = build_rules_message(make_list(rules=rules, channels=channels, client_names=clients))
    home = build_home_view(make_model(rules=rules, channels=channels, client_names=clients))

    assert sections(message["blocks"]) == sections(home["blocks"])
    assert len(sections(message["blocks"])) == 10


def test_rules_capped_with_pointer_to_home() -> None:
    rules, channels, clients = many_rules(40)

    message = build_rules_message(make_list(rules=rules, channels=channels, client_names=clients))

    assert len(with_action(message, RULE_MENU_ACTION)) == MAX_RULES_SHOWN
    assert f"and {40 - MAX_RULES_SHOWN} more: open the Mission Control App Home to see all." in texts(message)
    assert message["text"] == "40 notifications in this workspace"


def test_rules_few_have_no_pointer() -> None:
    message = build_rules_message(make_list())

    assert "more: open" not in texts(message)
    assert message["text"] == "1 notification in this workspace"


def test_rules_manager_gets_add_button() -> None:
    message = build_rules_message(make_list())

    add = with_action(message, ADD_RULE_ACTION)
    assert len(add) == 1
    assert add[0]["style"] == "primary"
    assert len(with_action(message, RULE_MENU_ACTION)) == 1


def test_rules_non_manager_read_only() -> None:
    message = build_rules_message(make_list(can_manage=False, admin_names_hint="admins, <@U0ADMIN>"))

    assert with_action(message, ADD_RULE_ACTION) == []
    assert with_action(message, RULE_MENU_ACTION) == []
    assert "Only admins, <@U0ADMIN> can change notifications." in texts(message)


@pytest.mark.parametrize(
    ("can_manage", "add_buttons", "read_only"),
    [(True, 1, False), (False, 0, True)],
    ids=["manager", "non-manager"],
)
def test_rules_empty_state(can_manage: bool, add_buttons: int, read_only: bool) -> None:
    message = build_rules_message(make_list(rules=[], can_manage=can_manage))

    assert "No notifications yet" in texts(message)
    assert len(with_action(message, ADD_RULE_ACTION)) == add_buttons
    assert ("can change notifications" in texts(message)) is read_only
    assert message_problems(message) == []


def test_rules_failing_row_invite_hint() -> None:
    rule = make_rule(1, state=RuleState.FAILING, failure_reason=NOT_MEMBER)
    channels = {rule.channel: make_channel(rule.channel, "ops")}

    message = build_rules_message(make_list(rules=[rule], channels=channels))

    assert "Failing: invite @Mission Control to #ops" in texts(message)


@pytest.mark.parametrize("can_manage", [True, False])
def test_rules_limits_250_rules(can_manage: bool) -> None:
    rules, channels, clients = many_rules(250)

    message = build_rules_message(
        make_list(rules=rules, channels=channels, client_names=clients, can_manage=can_manage, admin_names_hint=HOSTILE)
    )

    assert message_problems(message) == []
    assert len(message["blocks"]) <= 50
    assert unsafe_markup(message["blocks"]) == []


# --- Test message label ------------------------------------------------------------------------------


def test_label_prepends_context() -> None:
    alert = build_event_message(make_event("outlier.detected"), web_url=None, client_workspace=False)

    labelled = label_as_test(alert, "U0TESTER")

    first = labelled.blocks[0]
    assert first["type"] == "context"
    assert first["elements"][0]["text"].startswith(":test_tube: *Test message* from Mission Control")
    assert "sent by <@U0TESTER>" in first["elements"][0]["text"]
    assert "It is not a real alert." in first["elements"][0]["text"]
    assert labelled.blocks[1:] == alert.blocks
    assert labelled.text == "[Test] " + alert.text
    assert message_problems(labelled.to_payload()) == []


def test_label_keeps_50_blocks() -> None:
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"block {index}"}} for index in range(50)]

    labelled = label_as_test(SlackMessage(text="x" * 4000, blocks=blocks), "U0TESTER")

    assert len(labelled.blocks) == 50
    assert labelled.blocks[1] == blocks[0]
    assert len(labelled.text) == 4000
    assert labelled.text.startswith("[Test] ")
    assert labelled.text.endswith(ELLIPSIS)


def test_label_odd_user_id_not_a_mention() -> None:
    labelled = label_as_test(SlackMessage(text="x", blocks=[]), "<!channel>")

    assert "<!channel>" not in str(labelled.blocks)


@pytest.mark.parametrize(
    ("ok", "error", "expected"),
    [
        (True, None, "Test message posted to <#C0000001>."),
        (False, "not_in_channel", "Could not post to <#C0000001>: Mission Control is not in that channel."),
        (False, "channel_not_found", "Could not post to <#C0000001>: the channel was not found."),
        (False, "is_archived", "Could not post to <#C0000001>: the channel is archived."),
        (False, "ratelimited", "Could not post to <#C0000001>: Slack is limiting how fast"),
        (False, "msg_<too>_long", "Could not post to <#C0000001>: Slack returned the error `msg_&lt;too&gt;_long`."),
        (False, None, "Could not post to <#C0000001>: Slack did not say why."),
    ],
    ids=["posted", "not in channel", "not found", "archived", "rate limited", "other", "no error"],
)
def test_result_text_words(ok: bool, error: str | None, expected: str) -> None:
    assert result_text(ok, "C0000001", error).startswith(expected)
