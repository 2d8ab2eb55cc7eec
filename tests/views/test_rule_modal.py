from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from storage.events_schema import Severity
from storage.models import Channel, NotificationType, RuleState
from tests.slack_emulator import check_view, view_size
from tests.views.test_home import HOSTILE, LONG_CHANNEL, LONG_CLIENT, make_channel, make_rule, unsafe_markup
from views.ids import (
    ALL_CLIENTS_VALUE,
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    CLIENT_ACTION,
    CLIENT_BLOCK,
    RULE_DELETE_CALLBACK,
    RULE_MODAL_CALLBACK,
    SEVERITY_ACTION,
    SEVERITY_BLOCK,
    TYPE_ACTION,
    TYPE_BLOCK,
)
from views.rule_modal import (
    CHANNEL_HINT,
    RuleModalModel,
    build_delete_confirmation,
    build_rule_modal,
    channel_options,
    client_options,
    duplicate_rule_error,
    shared_channel_warning,
)
from views.rule_preview import PREVIEW_ACTION_ID, PREVIEW_BLOCK_ID
from views.text import ELLIPSIS


def make_model(**changes: Any) -> RuleModalModel:
    model = RuleModalModel(
        rule=None,
        is_client_workspace=False,
        selected_type=None,
        selected_channel=None,
        selected_client=None,
        selected_severity=None,
        warning=None,
        team_id="T0001",
    )
    return replace(model, **changes)


def blocks_by_id(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {block["block_id"]: block for block in view["blocks"] if "block_id" in block}


def problems(view: dict[str, Any]) -> list[str]:
    found = [problem.describe() for problem in check_view(view)]
    if view_size(view) > 250_000:
        found.append(f"view is {view_size(view)} bytes")
    return found


def options_problems(options: list[dict[str, Any]]) -> list[str]:
    """Check options the way Slack would in a select menu of a modal."""
    select = {"type": "static_select", "action_id": "probe", "options": options}
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Probe"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [{"type": "input", "label": {"type": "plain_text", "text": "Probe"}, "element": select}],
    }
    return [problem.describe() for problem in check_view(view)]


def channels_named(*names: str, **changes: Any) -> list[Channel]:
    return [make_channel(f"C{index:07d}", name, **changes) for index, name in enumerate(names)]


# --- Modal frame -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "title", "rule_id"),
    [(None, "Add notification", None), (make_rule(3), "Edit notification", "rule_0000000003")],
    ids=["add", "edit"],
)
def test_modal_frame(rule: Any, title: str, rule_id: str | None) -> None:
    view = build_rule_modal(make_model(rule=rule))

    assert view["type"] == "modal"
    assert view["callback_id"] == RULE_MODAL_CALLBACK
    assert view["title"]["text"] == title
    assert view["submit"]["text"] == "Save"
    assert view["close"]["text"] == "Cancel"
    assert json.loads(view["private_metadata"]) == {"rule_id": rule_id, "team_id": "T0001"}
    assert problems(view) == []


def test_modal_inputs_and_ids() -> None:
    blocks = blocks_by_id(build_rule_modal(make_model()))

    assert list(blocks) == [CHANNEL_BLOCK, TYPE_BLOCK, CLIENT_BLOCK, PREVIEW_BLOCK_ID]
    assert blocks[CHANNEL_BLOCK]["element"]["action_id"] == CHANNEL_ACTION
    assert blocks[TYPE_BLOCK]["element"]["action_id"] == TYPE_ACTION
    assert blocks[CLIENT_BLOCK]["element"]["action_id"] == CLIENT_ACTION
    assert all(blocks[block_id]["type"] == "input" for block_id in (CHANNEL_BLOCK, TYPE_BLOCK, CLIENT_BLOCK))
    assert blocks[PREVIEW_BLOCK_ID]["elements"][0]["action_id"] == PREVIEW_ACTION_ID


def test_modal_channel_picker() -> None:
    channel = blocks_by_id(build_rule_modal(make_model()))[CHANNEL_BLOCK]

    assert channel["element"]["type"] == "external_select"
    assert channel["element"]["min_query_length"] == 0
    assert "initial_option" not in channel["element"]
    assert channel["hint"]["text"] == CHANNEL_HINT
    assert "/invite @Mission Control" in CHANNEL_HINT
    # The picker also lists public channels the bot is not in yet, marked "(joins on save)".
    assert "Only channels Mission Control is in" not in CHANNEL_HINT
    assert "public channels it joins when you save" in CHANNEL_HINT


def test_modal_type_picker_dispatches() -> None:
    block = blocks_by_id(build_rule_modal(make_model()))[TYPE_BLOCK]

    assert block["dispatch_action"] is True
    assert block["element"]["type"] == "static_select"
    values = [option["value"] for option in block["element"]["options"]]
    assert values == [notification_type.value for notification_type in NotificationType]


def test_modal_type_descriptions_fit() -> None:
    options = blocks_by_id(build_rule_modal(make_model()))[TYPE_BLOCK]["element"]["options"]

    descriptions = {option["value"]: option["description"]["text"] for option in options}
    assert all(len(text) <= 75 for text in descriptions.values())
    assert descriptions["daily_digest"].endswith(ELLIPSIS)
    assert "private" in descriptions["note_created"]


@pytest.mark.parametrize("notification_type", list(NotificationType))
def test_modal_severity_only_for_outliers(notification_type: NotificationType) -> None:
    view = build_rule_modal(make_model(selected_type=notification_type))

    blocks = blocks_by_id(view)
    assert (SEVERITY_BLOCK in blocks) is (notification_type is NotificationType.OUTLIER_ALERTS)
    assert blocks[TYPE_BLOCK]["element"]["initial_option"]["value"] == notification_type.value
    assert problems(view) == []


def test_modal_severity_input() -> None:
    model = make_model(selected_type=NotificationType.OUTLIER_ALERTS)

    block = blocks_by_id(build_rule_modal(model))[SEVERITY_BLOCK]

    assert block["optional"] is True
    assert block["element"]["action_id"] == SEVERITY_ACTION
    assert block["element"]["placeholder"]["text"] == "All severities"
    assert [option["value"] for option in block["element"]["options"]] == ["low", "medium", "high", "critical"]
    assert "initial_option" not in block["element"]


def test_modal_severity_initial() -> None:
    model = make_model(selected_type=NotificationType.OUTLIER_ALERTS, selected_severity=Severity.CRITICAL)

    element = blocks_by_id(build_rule_modal(model))[SEVERITY_BLOCK]["element"]

    assert element["initial_option"]["value"] == "critical"
    assert element["initial_option"] in element["options"]


def test_modal_client_workspace_has_no_client() -> None:
    model = make_model(is_client_workspace=True, selected_client=("cl-a", "Alpha"))

    assert CLIENT_BLOCK not in blocks_by_id(build_rule_modal(model))


@pytest.mark.parametrize(
    ("selected", "value", "text"),
    [(None, ALL_CLIENTS_VALUE, "All Clients"), (("cl-a", "Alpha & Co"), "cl-a", "Alpha & Co")],
    ids=["all clients", "one client"],
)
def test_modal_client_initial(selected: tuple[str, str] | None, value: str, text: str) -> None:
    element = blocks_by_id(build_rule_modal(make_model(selected_client=selected)))[CLIENT_BLOCK]["element"]

    assert element["type"] == "external_select"
    assert element["min_query_length"] == 0
    assert element["initial_option"]["value"] == value
    assert element["initial_option"]["text"]["text"] == text


def test_modal_channel_initial() -> None:
    channel = make_channel("C0000042", "ops", is_private=True)

    element = blocks_by_id(build_rule_modal(make_model(selected_channel=channel)))[CHANNEL_BLOCK]["element"]

    assert element["initial_option"] == channel_options([channel], "")[0]
    assert element["initial_option"]["value"] == "C0000042"


def test_modal_warning_shown_escaped() -> None:
    warning = shared_channel_warning("partners-<ext>")

    view = build_rule_modal(make_model(warning=warning))

    context = view["blocks"][-1]
    assert context["type"] == "context"
    text = context["elements"][0]["text"]
    assert "#partners-&lt;ext&gt; is shared with another organisation" in text
    assert unsafe_markup(view) == []


def test_modal_no_warning_no_context() -> None:
    view = build_rule_modal(make_model())

    # The inputs, then the Preview button.
    assert [block["type"] for block in view["blocks"]] == ["input", "input", "input", "actions"]


def test_modal_limits_long_names() -> None:
    channel = make_channel("C0000001", LONG_CHANNEL, is_private=True, is_shared=True)
    model = make_model(
        rule=make_rule(1, id="rule_" + "f" * 59),
        selected_type=NotificationType.OUTLIER_ALERTS,
        selected_channel=channel,
        selected_client=("c" * 75, LONG_CLIENT),
        selected_severity=Severity.LOW,
        warning=shared_channel_warning(HOSTILE * 50),
    )

    view = build_rule_modal(model)

    assert problems(view) == []
    assert unsafe_markup(view) == []


# --- Channel options ---------------------------------------------------------------------------------


def test_channel_options_member_unarchived() -> None:
    channels = [
        make_channel("C1", "joined"),
        make_channel("C2", "not-joined", is_member=False),
        make_channel("C3", "archived", is_archived=True),
    ]

    assert [option["value"] for option in channel_options(channels, "")] == ["C1"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["#alerts", "#Marketing", "#ops-alerts"]),
        ("ALERT", ["#alerts", "#ops-alerts"]),
        ("#ops", ["#ops-alerts"]),
        ("  mark ", ["#Marketing"]),
        ("nothing", []),
    ],
    ids=["empty", "case", "hash", "spaces", "no match"],
)
def test_channel_options_query(query: str, expected: list[str]) -> None:
    channels = channels_named("ops-alerts", "Marketing", "alerts")

    assert [option["text"]["text"] for option in channel_options(channels, query)] == expected


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({}, "#ops"),
        ({"is_private": True}, "#ops (private)"),
        ({"is_shared": True}, "#ops (shared)"),
        ({"is_private": True, "is_shared": True}, "#ops (private) (shared)"),
    ],
    ids=["public", "private", "shared", "private shared"],
)
def test_channel_options_marks(changes: dict[str, Any], text: str) -> None:
    options = channel_options([make_channel("C1", "ops", **changes)], "")

    assert options[0]["text"]["text"] == text


def test_channel_options_long_name() -> None:
    options = channel_options([make_channel("C1", LONG_CHANNEL, is_private=True, is_shared=True)], "")

    text = options[0]["text"]["text"]
    assert len(text) <= 75
    assert text.endswith(f"{ELLIPSIS} (private) (shared)")
    assert options_problems(options) == []


def test_channel_options_capped_at_100() -> None:
    channels = [make_channel(f"C{index:07d}", f"{LONG_CHANNEL}-{index:03d}") for index in range(500)]

    options = channel_options(channels, "")

    assert len(options) == 100
    assert options_problems(options) == []


# --- Client options ----------------------------------------------------------------------------------


CLIENTS = [("cl-b", "Bravo"), ("cl-a", "alpha"), ("cl-c", "Charlie")]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", [ALL_CLIENTS_VALUE, "cl-a", "cl-b", "cl-c"]),
        ("all", [ALL_CLIENTS_VALUE]),
        ("ALL CLI", [ALL_CLIENTS_VALUE]),
        ("a", [ALL_CLIENTS_VALUE, "cl-a", "cl-b", "cl-c"]),
        ("cl-c", ["cl-c"]),
        ("bra", ["cl-b"]),
        ("zzz", []),
    ],
    ids=["empty", "all", "all clients upper", "letter", "by id", "by name", "no match"],
)
def test_client_options_query(query: str, expected: list[str]) -> None:
    assert [option["value"] for option in client_options(CLIENTS, query)] == expected


def test_client_options_all_clients_label() -> None:
    first = client_options(CLIENTS, "")[0]

    assert first == {"text": {"type": "plain_text", "text": "All Clients", "emoji": True}, "value": "__all__"}


def test_client_options_capped_at_100() -> None:
    clients = [(f"cl-{index:04d}", f"{LONG_CLIENT} {index}") for index in range(500)]

    options = client_options(clients, "")

    assert len(options) == 100
    assert options[0]["value"] == ALL_CLIENTS_VALUE
    assert options_problems(options) == []


def test_client_options_skip_unusable_ids() -> None:
    clients = [("x" * 76, "Too long"), (ALL_CLIENTS_VALUE, "Impostor"), ("cl-ok", "Fine")]

    assert [option["value"] for option in client_options(clients, "")] == [ALL_CLIENTS_VALUE, "cl-ok"]


# --- Delete confirmation and errors ------------------------------------------------------------------


def test_delete_confirmation() -> None:
    rule = make_rule(5, type=NotificationType.OUTLIER_ALERTS, client_id="cl-a", state=RuleState.FAILING)
    channel = make_channel(rule.channel, "ops & <alerts>")

    view = build_delete_confirmation(rule, channel, "Alpha <Co>")

    assert view["callback_id"] == RULE_DELETE_CALLBACK
    assert view["title"]["text"] == "Delete notification"
    assert view["submit"]["text"] == "Delete"
    assert view["close"]["text"] == "Cancel"
    assert json.loads(view["private_metadata"]) == {"rule_id": rule.id, "team_id": "T0001"}
    text = view["blocks"][0]["text"]["text"]
    assert "*Outlier alerts* for Alpha &lt;Co&gt; will no longer be posted to #ops &amp; &lt;alerts&gt;" in text
    assert problems(view) == []
    assert unsafe_markup(view) == []


def test_delete_confirmation_unknown_channel() -> None:
    view = build_delete_confirmation(make_rule(5), None, None)

    assert "All Clients will no longer be posted to <#C0000005>" in view["blocks"][0]["text"]["text"]


@pytest.mark.parametrize(
    ("client", "expected"),
    [
        (None, "This channel already gets outlier alerts for All Clients."),
        ("Alpha", "This channel already gets outlier alerts for Alpha."),
    ],
)
def test_duplicate_rule_error(client: str | None, expected: str) -> None:
    assert duplicate_rule_error(NotificationType.OUTLIER_ALERTS, client) == expected


def test_channel_options_add_joinable_after_members() -> None:
    members = [make_channel("C2", "zeta")]
    joinable = [
        make_channel("C1", "alpha", is_member=False),
        make_channel("C3", "secret", is_member=False, is_private=True),
        make_channel("C4", "old", is_member=False, is_archived=True),
        make_channel("C2", "zeta", is_member=False),
    ]

    options = channel_options(members, "", joinable)

    assert [option["value"] for option in options] == ["C2", "C1"]
    assert options[1]["text"]["text"] == "#alpha (joins on save)"


def test_channel_options_joinable_within_limit() -> None:
    members = [make_channel(f"C{number:03d}", f"member-{number:03d}") for number in range(95)]
    joinable = [make_channel(f"C9{number:02d}", f"join-{number:02d}", is_member=False) for number in range(20)]

    options = channel_options(members, "", joinable)

    assert len(options) == 100
    assert sum("(joins on save)" in option["text"]["text"] for option in options) == 5
