"""Configuring rules inside Slack: App Home, the rule modal, the menu actions and /missioncontrol.

Every request goes to `/slack/events` signed as Slack signs it; every Web API call the bot makes lands in
the Slack emulator, whose limit checks see every published view and modal.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from storage.events_schema import Severity
from storage.models import DeliveryState, NotificationType, RuleState
from storage.rules import RuleSpec
from tests.conftest import AGENCY_ID, TEAM_ID, BotFactory, RunningBot, load_example, single_workspace_env
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient, button, overflow, selected

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ADMIN = "U0ADMIN"
MEMBER = "U0MEMBER"
CHANNELS = {"C0ALERTS": "marketing-alerts", "C0OPS": "data-ops", "C0SHARED": "acme-client-shared", "C0GONE": "old"}


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(
        team_id=TEAM_ID,
        member_channels={"C0ALERTS", "C0OPS", "C0SHARED"},
        shared_channels={"C0SHARED"},
        channel_names=CHANNELS,
    )
    emulator.admin_users.add(ADMIN)
    async with emulator:
        yield emulator


@pytest.fixture
async def bot(start_bot: BotFactory, slack: SlackEmulator) -> RunningBot:
    running = await start_bot(single_workspace_env(slack))
    for client_id, name in (("cl-alpha", "Alpha Outdoor Gear"), ("cl-bravo", "Bravo Dental Group")):
        await running.runtime.storage.clients.apply_update(
            agency_id=AGENCY_ID, client_id=client_id, data={"name": name}, occurred_at=NOW
        )
    return running


@pytest.fixture
def admin(bot: RunningBot) -> SlackClient:
    return SlackClient(bot.http, user_id=ADMIN)


def home_of(slack: SlackEmulator, user: str = ADMIN) -> dict[str, Any]:
    return slack.home_views[user]


def home_text(slack: SlackEmulator, user: str = ADMIN) -> str:
    return json.dumps(home_of(slack, user)["blocks"], ensure_ascii=False)


def last_opened(slack: SlackEmulator) -> dict[str, Any]:
    response = slack.calls_to("views.open")[-1].response
    assert isinstance(response, dict) and response["ok"], response
    return dict(response["view"])


def rule_values(channel: str, kind: str, client: str | None = None, severity: str | None = None) -> dict[str, Any]:
    values = selected("channel", "channel_select", channel) | selected("type", "rule_type", kind)
    if client is not None:
        values |= selected("client", "client_select", client)
    if severity is not None:
        values |= selected("min_severity", "min_severity_select", severity)
    return values


async def then_call(slack: SlackEmulator, method: str, request: Awaitable[Any]) -> Any:
    """Send a request, then wait for the Web API call its listener makes after acknowledging.

    Bolt acknowledges Slack at once and runs the rest of a listener afterwards, as Slack's 3-second rule
    requires, so the effects of a request are visible only once that listener's last call arrives.
    """
    before = len(slack.calls_to(method))
    response = await request
    await slack.wait_for_calls(method, before + 1)
    return response


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def open_home(admin: SlackClient, slack: SlackEmulator) -> None:
    event = {"type": "app_home_opened", "user": admin.user_id, "tab": "home", "channel": "D0"}
    response = await then_call(slack, "views.publish", admin.event(event))
    assert response.status == 200


async def home_action(admin: SlackClient, slack: SlackEmulator, action: dict[str, Any], **kwargs: Any) -> None:
    await then_call(slack, "views.publish", admin.home_action(action, **kwargs))


async def open_modal(admin: SlackClient, slack: SlackEmulator, action: dict[str, Any]) -> dict[str, Any]:
    await then_call(slack, "views.open", admin.home_action(action))
    return last_opened(slack)


async def submit(admin: SlackClient, slack: SlackEmulator, view: dict[str, Any], values: dict[str, Any]) -> Any:
    """Submit a modal that saves; the listener publishes App Home again when it is done."""
    return await then_call(slack, "views.publish", admin.submit(view, values))


async def add_rule_via_modal(admin: SlackClient, slack: SlackEmulator, values: dict[str, Any]) -> Any:
    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))
    return await submit(admin, slack, modal, values)


async def only_rule(bot: RunningBot) -> Any:
    [rule] = await bot.runtime.storage.rules.list(team_id=TEAM_ID)
    return rule


async def test_add_rule_end_to_end(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await open_home(admin, slack)
    assert "Add notification" in home_text(slack)

    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))
    assert modal["callback_id"] == "rule_modal"

    options = await (await admin.options("channel_select", "alert", view=modal)).json()
    assert [option["value"] for option in options["options"]] == ["C0ALERTS"]

    response = await submit(admin, slack, modal, rule_values("C0ALERTS", "outlier_alerts", "__all__", "high"))
    assert response.status == 200
    rule = await only_rule(bot)
    assert rule.channel == "C0ALERTS"
    assert rule.type is NotificationType.OUTLIER_ALERTS
    assert rule.client_id is None
    assert rule.min_severity is Severity.HIGH
    # Routing uses the new rule at once.
    await bot.post_events(load_example("outlier_detected.json"))
    await bot.settle()
    assert [message.channel for message in slack.posted_messages()] == ["C0ALERTS"]
    # App Home was published again with the rule in it.
    assert "C0ALERTS" in home_text(slack)


async def test_edit_keeps_rule_id(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0ALERTS", "system_errors", "__all__"))
    rule = await only_rule(bot)
    modal = await open_modal(admin, slack, overflow("rule_menu", f"edit:{rule.id}"))
    channel_input = next(block for block in modal["blocks"] if block.get("block_id") == "channel")
    assert channel_input["element"]["initial_option"]["value"] == "C0ALERTS"

    await submit(admin, slack, modal, rule_values("C0OPS", "system_errors", "cl-alpha"))
    edited = await only_rule(bot)
    assert edited.id == rule.id
    assert (edited.channel, edited.client_id) == ("C0OPS", "cl-alpha")
    [entry, *_] = await bot.runtime.storage.audit.latest(TEAM_ID)
    assert entry.action == "edited"
    assert entry.before is not None and entry.before["channel"] == "C0ALERTS"
    assert entry.after is not None and entry.after["channel"] == "C0OPS"


async def test_pause_and_resume(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0OPS", "system_errors", "__all__"))
    rule = await only_rule(bot)

    await home_action(admin, slack, overflow("rule_menu", f"pause:{rule.id}"))
    assert (await only_rule(bot)).state is RuleState.PAUSED
    await bot.post_events(load_example("system_error.json"))
    await bot.settle()
    assert slack.posted_messages() == []

    await home_action(admin, slack, overflow("rule_menu", f"resume:{rule.id}"))
    assert (await only_rule(bot)).state is RuleState.ACTIVE
    await bot.post_events(load_example("system_error.json") | {"id": "evt-after-resume"})
    await bot.settle()
    assert [message.channel for message in slack.posted_messages()] == ["C0OPS"]


async def test_delete_asks_then_deletes(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0OPS", "task_failures", "__all__"))
    rule = await only_rule(bot)
    confirmation = await open_modal(admin, slack, overflow("rule_menu", f"delete:{rule.id}"))
    assert confirmation["callback_id"] == "rule_delete"
    # Nothing is deleted until the confirmation is submitted.
    assert await bot.runtime.storage.rules.get(rule.id) is not None

    await submit(admin, slack, confirmation, {})
    assert await bot.runtime.storage.rules.get(rule.id) is None
    assert "C0OPS" not in home_text(slack)
    assert [entry.action for entry in await bot.runtime.storage.audit.latest(TEAM_ID)] == ["deleted", "added"]


async def test_test_message_posts_and_reports(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0ALERTS", "outlier_alerts", "__all__"))
    rule = await only_rule(bot)
    await then_call(slack, "views.update", admin.home_action(overflow("rule_menu", f"test:{rule.id}")))
    [message] = slack.posted_messages("C0ALERTS")
    assert "Test" in message.text
    update = slack.calls_to("views.update")[-1]
    assert "posted" in json.dumps(update.params).lower()
    assert slack.limit_violations == []


async def test_test_message_reports_slack_error(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    rule = await bot.runtime.storage.rules.create(RuleSpec(TEAM_ID, "C0GONE", NotificationType.SYSTEM_ERRORS), now=NOW)
    await then_call(slack, "views.update", admin.home_action(overflow("rule_menu", f"test:{rule.id}")))
    update = json.dumps(slack.calls_to("views.update")[-1].params)
    assert "invite" in update.lower()
    stored = await bot.runtime.storage.rules.get(rule.id)
    assert stored is not None
    assert stored.state is RuleState.FAILING


async def test_non_manager_submission_changes_nothing(bot: RunningBot, slack: SlackEmulator) -> None:
    member = SlackClient(bot.http, user_id=MEMBER)
    modal = {"id": "VFORGED", "callback_id": "rule_modal", "private_metadata": json.dumps({"team_id": TEAM_ID})}
    response = await member.submit(modal, rule_values("C0ALERTS", "system_errors", "__all__"))
    answer = await response.json()
    assert answer["response_action"] == "update"
    assert "Only" in json.dumps(answer["view"])
    assert await bot.runtime.storage.rules.list() == []


async def test_non_manager_menu_action_refused(bot: RunningBot, slack: SlackEmulator) -> None:
    rule = await bot.runtime.storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    member = SlackClient(bot.http, user_id=MEMBER)
    await open_modal(member, slack, overflow("rule_menu", f"delete:{rule.id}"))
    assert "Not allowed" in json.dumps(last_opened(slack))
    await open_modal(member, slack, overflow("rule_menu", f"pause:{rule.id}"))
    stored = await bot.runtime.storage.rules.get(rule.id)
    assert stored is not None
    assert stored.state is RuleState.ACTIVE


async def test_non_manager_sees_read_only_home(bot: RunningBot, slack: SlackEmulator) -> None:
    await bot.runtime.storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    member = SlackClient(bot.http, user_id=MEMBER)
    await open_home(member, slack)
    text = home_text(slack, MEMBER)
    assert "rule_menu" not in text
    assert "Add notification" not in text
    assert "can change" in text


async def test_rule_of_other_workspace_is_not_touched(
    bot: RunningBot, admin: SlackClient, slack: SlackEmulator
) -> None:
    storage = bot.runtime.storage
    await storage.workspaces.upsert(team_id="T0OTHER", name="Other", agency_id="ag-other", client_id=None, now=NOW)
    foreign = await storage.rules.create(RuleSpec("T0OTHER", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    await open_modal(admin, slack, overflow("rule_menu", f"pause:{foreign.id}"))
    modal = {"id": "V1", "callback_id": "rule_delete", "private_metadata": json.dumps({"rule_id": foreign.id})}
    await submit(admin, slack, modal, {})
    stored = await storage.rules.get(foreign.id)
    assert stored is not None
    assert stored.state is RuleState.ACTIVE


async def test_submit_errors_under_fields(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0OPS", "system_errors", "__all__"))
    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))

    duplicate = await (await admin.submit(modal, rule_values("C0OPS", "system_errors", "__all__"))).json()
    assert duplicate["response_action"] == "errors"
    assert "already" in duplicate["errors"]["channel"]

    slack.archived_channels.add("C0GONE")
    left = await (await admin.submit(modal, rule_values("C0GONE", "system_errors", "__all__"))).json()
    assert "archived" in left["errors"]["channel"]

    outside = await (await admin.submit(modal, rule_values("C0ALERTS", "system_errors", "cl-zulu"))).json()
    assert "not part of your account" in outside["errors"]["client"]
    assert len(await bot.runtime.storage.rules.list()) == 1


async def test_type_change_shows_severity(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))
    assert "min_severity" not in json.dumps(modal["blocks"])
    state = {"values": selected("type", "rule_type", "outlier_alerts")}
    action = {"type": "static_select", "action_id": "rule_type", "block_id": "type"}
    await then_call(slack, "views.update", admin.modal_action(modal | {"state": state}, action))
    updated = slack.calls_to("views.update")[-1].response
    assert isinstance(updated, dict)
    assert "min_severity" in json.dumps(updated["view"]["blocks"])


async def test_shared_channel_warns(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await admin.options("channel_select", "")  # fills the channel cache
    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))
    state = {"values": selected("channel", "channel_select", "C0SHARED")}
    action = {"type": "external_select", "action_id": "channel_select", "block_id": "channel"}
    await then_call(slack, "views.update", admin.modal_action(modal | {"state": state}, action))
    updated = slack.calls_to("views.update")[-1].response
    assert isinstance(updated, dict)
    assert "other organisation" in json.dumps(updated["view"]).lower()


async def test_failing_rule_shows_hint_and_recovers(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0OPS", "system_errors", "__all__"))
    slack.member_channels = {"C0ALERTS"}
    await bot.post_events(load_example("system_error.json"))
    await bot.settle()
    await open_home(admin, slack)
    assert "invite @Mission Control" in home_text(slack)
    rule_id = (await only_rule(bot)).id

    slack.member_channels = {"C0ALERTS", "C0OPS"}
    joined = {"type": "member_joined_channel", "user": "U0BOT", "channel": "C0OPS", "channel_type": "C"}
    await admin.event(joined)

    async def active() -> bool:
        return (await only_rule(bot)).state is RuleState.ACTIVE

    # While the rule fails its delivery is held, not failed, so it never shows as undelivered.
    [held] = await bot.runtime.storage.deliveries.list_by_state(states=[DeliveryState.HELD])
    assert held.rule_id == rule_id
    assert slack.top_level_messages("C0OPS") == []

    await eventually(active)

    # Joining the channel released the held delivery: the alert is posted there once, and nothing is left over.
    async def posted() -> bool:
        return await bot.runtime.storage.deliveries.count_for_team(TEAM_ID, DeliveryState.SENT) == 1

    await eventually(posted)
    await bot.settle()
    [message] = slack.top_level_messages("C0OPS")
    assert "reporting-api" in json.dumps(message.blocks)
    assert await bot.runtime.storage.deliveries.list_by_state(states=[DeliveryState.HELD, DeliveryState.FAILED]) == []
    await open_home(admin, slack)
    rules_part, undelivered = home_text(slack).split("Undelivered messages")
    assert "invite @Mission Control" not in rules_part
    assert "delivery_retry" not in undelivered
    assert "Every message was posted or is still queued" in undelivered


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [
        ("channel_left", "not a member"),
        ("group_left", "not a member"),
        ("channel_archive", "archived"),
        ("group_archive", "archived"),
        ("channel_deleted", "deleted"),
        ("group_deleted", "deleted"),
    ],
)
async def test_channel_lifecycle_fails_rules(
    bot: RunningBot, admin: SlackClient, slack: SlackEmulator, event_type: str, reason: str
) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0OPS", "system_errors", "__all__"))
    response = await admin.event({"type": event_type, "channel": "C0OPS", "actor_id": "U0ADMIN"})
    assert response.status == 200

    async def failing() -> bool:
        return (await only_rule(bot)).state is RuleState.FAILING

    await eventually(failing)
    assert reason in ((await only_rule(bot)).failure_reason or "")


async def test_unarchive_resumes_and_rename_updates(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await add_rule_via_modal(admin, slack, rule_values("C0OPS", "system_errors", "__all__"))
    storage = bot.runtime.storage

    async def state_is(state: RuleState) -> bool:
        return (await only_rule(bot)).state is state

    await admin.event({"type": "channel_archive", "channel": "C0OPS", "actor_id": "U0ADMIN"})
    await eventually(lambda: state_is(RuleState.FAILING))
    await admin.event({"type": "channel_unarchive", "channel": "C0OPS", "actor_id": "U0ADMIN"})
    await eventually(lambda: state_is(RuleState.ACTIVE))
    await admin.event({"type": "channel_rename", "channel": {"id": "C0OPS", "name": "data-ops-renamed"}})

    async def renamed() -> bool:
        channel = await storage.channels.get(TEAM_ID, "C0OPS")
        return channel is not None and channel.name == "data-ops-renamed"

    await eventually(renamed)


async def test_command_typo_suggests(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    response = await admin.command("rulez", response_url=slack.response_url("typo"))
    assert response.status == 200
    [answer] = await slack.wait_for_response("typo")
    text = json.dumps(answer)
    assert "/missioncontrol rules" in text
    assert "Did you mean" in text


async def test_command_rules_lists_rules(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await bot.runtime.storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    await admin.command("rules", response_url=slack.response_url("rules"))
    [answer] = await slack.wait_for_response("rules")
    assert answer["response_type"] == "ephemeral"
    assert "C0OPS" in json.dumps(answer["blocks"])
    assert "rule_menu" in json.dumps(answer["blocks"])


async def test_rules_list_menu_pauses(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    rule = await bot.runtime.storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    await admin.message_action(overflow("rule_menu", f"pause:{rule.id}"), response_url=slack.response_url("list"))
    [answer] = await slack.wait_for_response("list")
    assert answer["replace_original"] is True
    assert (await only_rule(bot)).state is RuleState.PAUSED


async def test_command_rules_add_opens_modal(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await then_call(slack, "views.open", admin.command("rules add", response_url=slack.response_url("add")))
    assert last_opened(slack)["callback_id"] == "rule_modal"


async def test_command_status(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    await admin.command("status", response_url=slack.response_url("status"))
    [answer] = await slack.wait_for_response("status")
    assert AGENCY_ID in json.dumps(answer)


async def test_manager_added_can_manage(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    pick = {"type": "users_select", "action_id": "manager_add", "block_id": "manager_add", "selected_user": MEMBER}
    await home_action(admin, slack, pick)
    workspace = await bot.runtime.storage.workspaces.get(TEAM_ID)
    assert workspace is not None
    assert MEMBER in workspace.managers
    member = SlackClient(bot.http, user_id=MEMBER)
    await add_rule_via_modal(member, slack, rule_values("C0OPS", "system_errors", "__all__"))
    assert len(await bot.runtime.storage.rules.list()) == 1
    actions = [entry.action for entry in await bot.runtime.storage.audit.latest(TEAM_ID)]
    assert actions == ["added", "manager added"]


async def test_big_workspace_views_fit(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    storage = bot.runtime.storage
    long_names = {f"C{i:04d}X": f"channel-{'x' * 70}-{i}" for i in range(250)}
    slack.channel_names.update(long_names)
    slack.member_channels = set(long_names)
    for index in range(500):
        name = f"Client {'&<>' * 20} {index}"
        await storage.clients.apply_update(
            agency_id=AGENCY_ID, client_id=f"cl-{index:03d}", data={"name": name}, occurred_at=NOW
        )
    for index, channel in enumerate(long_names):
        spec = RuleSpec(TEAM_ID, channel, NotificationType.OUTLIER_ALERTS, f"cl-{index:03d}")
        await storage.rules.create(spec, now=NOW)
    await open_home(admin, slack)
    for page in range(1, 14):
        await home_action(admin, slack, button("home_page:next", str(page)), home_view=home_of(slack))
    await home_action(admin, slack, button("home_section:connection", "connection"), home_view=home_of(slack))
    options = await (await admin.options("client_select", "")).json()
    assert len(options["options"]) <= 100
    channel_options = await (await admin.options("channel_select", "")).json()
    assert len(channel_options["options"]) <= 100
    assert slack.limit_violations == []
    assert all(call.ok for call in slack.calls_to("views.publish"))


async def test_client_workspace_modal_has_no_client(start_bot: BotFactory, slack: SlackEmulator) -> None:
    bot = await start_bot(single_workspace_env(slack, MISSIONCONTROL_CLIENT_ID="cl-alpha"))
    admin = SlackClient(bot.http, user_id=ADMIN)
    await admin.options("channel_select", "")
    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))
    assert all(block.get("block_id") != "client" for block in modal["blocks"])
    # A forged client value in the submission is ignored: the workspace's own client is used.
    await submit(admin, slack, modal, rule_values("C0OPS", "note_created", "cl-bravo"))
    rule = await only_rule(bot)
    assert rule.client_id == "cl-alpha"


async def test_burst_settings_saved_from_modal(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    values = rule_values("C0OPS", "task_failures", "__all__")
    values |= selected("burst_threshold", "burst_threshold_select", "5")
    values |= selected("burst_window", "burst_window_select", "300")
    await add_rule_via_modal(admin, slack, values)
    rule = await only_rule(bot)
    assert (rule.burst_threshold, rule.burst_window_seconds) == (5, 300)

    modal = await open_modal(admin, slack, overflow("rule_menu", f"edit:{rule.id}"))
    blocks = {block.get("block_id"): block for block in modal["blocks"]}
    assert blocks["burst_threshold"]["element"]["initial_option"]["value"] == "5"
    assert blocks["burst_window"]["element"]["initial_option"]["value"] == "300"
    # Saving without touching the menus keeps the settings.
    await submit(admin, slack, modal, rule_values("C0OPS", "task_failures", "__all__"))
    assert (await only_rule(bot)).burst_threshold == 5


async def test_forged_burst_value_rejected(bot: RunningBot, admin: SlackClient, slack: SlackEmulator) -> None:
    modal = await open_modal(admin, slack, button("rule_add", "rule_add"))
    values = rule_values("C0OPS", "task_failures", "__all__") | selected(
        "burst_threshold", "burst_threshold_select", "0"
    )
    response = await admin.submit(modal, values)
    body = await response.json()
    assert body["response_action"] == "errors"
    assert body["errors"] == {"burst_threshold": "Choose one of the listed numbers of alerts."}
    assert await bot.runtime.storage.rules.list(team_id=TEAM_ID) == []
