"""Tenant isolation: four workspaces installed side by side never see or change each other's data.

Two agencies (ag-acme, ag-other) and two client workspaces of ag-acme (cl-alpha, cl-bravo) share one bot.
The tests send real events and Slack requests, including crafted ones that name another tenant's team,
channel, client or rule id, and check every message, view and stored rule.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.models import NotificationType, Rule, RuleState
from storage.rules import RuleSpec
from tests.conftest import BotFactory, RunningBot, load_example
from tests.scenarios.test_oauth_install import NOW, grant, install, oauth_env, until
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient, button, overflow, selected

TENANTS = {
    "T0ACME": ("ag-acme", None),
    "T0OTHER": ("ag-other", None),
    "T0ALPHA": ("ag-acme", "cl-alpha"),
    "T0BRAVO": ("ag-acme", "cl-bravo"),
}
# One outlier rule per workspace, each on a channel of its own.
CHANNELS = {"T0ACME": "C0ACME", "T0OTHER": "C0OTHER", "T0ALPHA": "C0ALPHA", "T0BRAVO": "C0BRAVO"}


def admin_of(team_id: str) -> str:
    return f"U{team_id}ADMIN"


@pytest.fixture
async def bot(start_bot: BotFactory, emulator: SlackEmulator) -> RunningBot:
    running = await start_bot(oauth_env(emulator))
    storage = running.runtime.storage
    for team_id, (agency_id, client_id) in TENANTS.items():
        emulator.admin_users.add(admin_of(team_id))
        await install(running, emulator, team_id, grant(agency_id, client_id))
    for agency_id, client_id, name in (
        ("ag-acme", "cl-alpha", "Alpha Outdoor"),
        ("ag-acme", "cl-bravo", "Bravo Dental"),
        ("ag-other", "cl-zed", "Zed Competitor"),
    ):
        await storage.clients.apply_update(
            agency_id=agency_id, client_id=client_id, data={"name": name}, occurred_at=NOW
        )
    for team_id, channel in CHANNELS.items():
        client_id = TENANTS[team_id][1]
        await storage.rules.create(RuleSpec(team_id, channel, NotificationType.OUTLIER_ALERTS, client_id), now=NOW)
    running.runtime.index.mark_stale()
    return running


def slack_for(bot: RunningBot, team_id: str) -> SlackClient:
    return SlackClient(bot.http, team_id=team_id, user_id=admin_of(team_id))


async def rule_of(bot: RunningBot, team_id: str) -> Rule:
    [rule] = await bot.runtime.storage.rules.list(team_id=team_id)
    return rule


def outlier(event_id: str, agency_id: str, client_id: str) -> dict[str, Any]:
    return load_example("outlier_detected.json") | {"id": event_id, "agency_id": agency_id, "client_id": client_id}


async def test_events_reach_only_their_tenants(bot: RunningBot, emulator: SlackEmulator) -> None:
    batch = {
        "events": [
            outlier("evt-alpha", "ag-acme", "cl-alpha"),
            outlier("evt-bravo", "ag-acme", "cl-bravo"),
            outlier("evt-zed", "ag-other", "cl-zed"),
        ]
    }
    assert (await bot.post_events(batch)).status == 202
    await bot.settle()
    seen = {
        (message.team_id, message.channel, message.blocks[-1]["elements"][0]["value"])
        for message in emulator.posted_messages()
    }
    assert seen == {
        ("T0ACME", "C0ACME", "evt-alpha"),
        ("T0ACME", "C0ACME", "evt-bravo"),
        ("T0ALPHA", "C0ALPHA", "evt-alpha"),
        ("T0BRAVO", "C0BRAVO", "evt-bravo"),
        ("T0OTHER", "C0OTHER", "evt-zed"),
    }


async def test_event_of_unknown_agency_reaches_nobody(bot: RunningBot, emulator: SlackEmulator) -> None:
    await bot.post_events(outlier("evt-stranger", "ag-stranger", "cl-alpha"))
    await bot.settle()
    assert emulator.posted_messages() == []


@pytest.mark.parametrize("team_id", list(TENANTS))
async def test_app_home_shows_only_own_rules(bot: RunningBot, emulator: SlackEmulator, team_id: str) -> None:
    slack = slack_for(bot, team_id)
    await slack.event({"type": "app_home_opened", "user": slack.user_id, "tab": "home", "channel": "D0"})
    await emulator.wait_for_calls("views.publish", 1)
    home = json.dumps(emulator.home_views[slack.user_id])
    for other_team, channel in CHANNELS.items():
        assert (channel in home) == (other_team == team_id), (team_id, channel)
    assert emulator.calls_to("views.publish")[-1].team_id == team_id


@pytest.mark.parametrize(
    ("team_id", "visible"),
    [
        ("T0ACME", {"__all__", "cl-alpha", "cl-bravo"}),
        ("T0OTHER", {"__all__", "cl-zed"}),
        ("T0ALPHA", {"__all__", "cl-alpha"}),
        ("T0BRAVO", {"__all__", "cl-bravo"}),
    ],
)
async def test_client_options_stay_in_account(bot: RunningBot, team_id: str, visible: set[str]) -> None:
    options = await (await slack_for(bot, team_id).options("client_select", "")).json()
    assert {option["value"] for option in options["options"]} == visible


async def test_rules_command_lists_own_rules(bot: RunningBot, emulator: SlackEmulator) -> None:
    await slack_for(bot, "T0BRAVO").command("rules", response_url=emulator.response_url("bravo"))
    [answer] = await emulator.wait_for_response("bravo")
    text = json.dumps(answer)
    assert "C0BRAVO" in text
    for channel in ("C0ACME", "C0OTHER", "C0ALPHA"):
        assert channel not in text


@pytest.mark.parametrize("verb", ["pause", "delete", "edit", "test"])
async def test_menu_on_foreign_rule_changes_nothing(bot: RunningBot, emulator: SlackEmulator, verb: str) -> None:
    foreign = await rule_of(bot, "T0BRAVO")
    attacker = slack_for(bot, "T0ALPHA")
    await attacker.home_action(overflow("rule_menu", f"{verb}:{foreign.id}"))
    await emulator.wait_for_calls("views.open", 1)
    opened = json.dumps(emulator.calls_to("views.open")[-1].params)
    assert "no longer exists" in opened
    assert await rule_of(bot, "T0BRAVO") == foreign
    assert emulator.posted_messages("C0BRAVO") == []


async def test_forged_edit_of_foreign_rule_refused(bot: RunningBot) -> None:
    foreign = await rule_of(bot, "T0ACME")
    attacker = slack_for(bot, "T0OTHER")
    modal = {
        "id": "VFORGED",
        "callback_id": "rule_modal",
        "private_metadata": json.dumps({"rule_id": foreign.id, "team_id": "T0ACME"}),
    }
    values = selected("channel", "channel_select", "C0OTHER") | selected("type", "rule_type", "system_errors")
    answer = await (await attacker.submit(modal, values)).json()
    assert answer["response_action"] == "update"
    assert await rule_of(bot, "T0ACME") == foreign


async def test_forged_delete_of_foreign_rule_refused(bot: RunningBot, emulator: SlackEmulator) -> None:
    foreign = await rule_of(bot, "T0ALPHA")
    attacker = slack_for(bot, "T0BRAVO")
    modal = {"id": "VFORGED", "callback_id": "rule_delete", "private_metadata": json.dumps({"rule_id": foreign.id})}
    await attacker.submit(modal, {})
    await emulator.wait_for_calls("views.publish", 1)
    assert await rule_of(bot, "T0ALPHA") == foreign


async def test_client_workspace_cannot_pick_other_client(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.channel_names["C0NEWALPHA"] = "alpha-notes"
    attacker = slack_for(bot, "T0ALPHA")
    await attacker.home_action(button("rule_add", "rule_add"))
    await emulator.wait_for_calls("views.open", 1)
    modal = emulator.calls_to("views.open")[-1].response["view"]  # type: ignore[index]
    values = (
        selected("channel", "channel_select", "C0NEWALPHA")
        | selected("type", "rule_type", "note_created")
        | selected("client", "client_select", "cl-bravo")
    )
    await attacker.submit(modal, values)
    created = [rule for rule in await bot.runtime.storage.rules.list(team_id="T0ALPHA") if rule.channel == "C0NEWALPHA"]
    assert [rule.client_id for rule in created] == ["cl-alpha"]


async def test_agency_cannot_pick_other_agency_client(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.channel_names["C0NEWACME"] = "acme-notes"
    attacker = slack_for(bot, "T0ACME")
    await attacker.home_action(button("rule_add", "rule_add"))
    await emulator.wait_for_calls("views.open", 1)
    modal = emulator.calls_to("views.open")[-1].response["view"]  # type: ignore[index]
    values = (
        selected("channel", "channel_select", "C0NEWACME")
        | selected("type", "rule_type", "note_created")
        | selected("client", "client_select", "cl-zed")
    )
    answer = await (await attacker.submit(modal, values)).json()
    assert "not part of your account" in answer["errors"]["client"]
    assert len(await bot.runtime.storage.rules.list(team_id="T0ACME")) == 1


async def test_channel_event_touches_only_own_rules(bot: RunningBot) -> None:
    # Both workspaces route to a channel with the same id; the event of one must not fail the other's rule.
    storage = bot.runtime.storage
    await storage.rules.create(RuleSpec("T0ALPHA", "C0SAME", NotificationType.SYSTEM_ERRORS, "cl-alpha"), now=NOW)
    await storage.rules.create(RuleSpec("T0BRAVO", "C0SAME", NotificationType.SYSTEM_ERRORS, "cl-bravo"), now=NOW)
    await slack_for(bot, "T0ALPHA").event({"type": "channel_left", "channel": "C0SAME", "actor_id": "UX"})

    async def alpha_failing() -> bool:
        rules = await storage.rules.list(team_id="T0ALPHA")
        return any(rule.channel == "C0SAME" and rule.state is RuleState.FAILING for rule in rules)

    await until(alpha_failing)
    [bravo_same] = [rule for rule in await storage.rules.list(team_id="T0BRAVO") if rule.channel == "C0SAME"]
    assert bravo_same.state is RuleState.ACTIVE


async def test_uninstall_of_one_leaves_others(bot: RunningBot, emulator: SlackEmulator) -> None:
    await slack_for(bot, "T0ALPHA").event({"type": "app_uninstalled"})

    async def alpha_inactive() -> bool:
        workspace = await bot.runtime.storage.workspaces.get("T0ALPHA")
        return workspace is not None and workspace.status.value == "inactive"

    await until(alpha_inactive)
    await bot.post_events(outlier("evt-after", "ag-acme", "cl-alpha"))
    await bot.settle()
    assert {message.team_id for message in emulator.posted_messages()} == {"T0ACME"}
    for team_id in ("T0ACME", "T0OTHER", "T0BRAVO"):
        workspace = await bot.runtime.storage.workspaces.get(team_id)
        assert workspace is not None
        assert workspace.status.value == "active"
