"""Channels that mend themselves: held deliveries, one direct message, the fix buttons, and the release.

Delivery workers are stopped (`start_workers=False`) and `settle` sends one delivery at a time, so each
test can count exactly which posts were attempted.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from storage.models import DeliveryState, NotificationType, Rule, RuleState
from storage.rules import RuleSpec
from tests.conftest import TEAM_ID, BotFactory, RunningBot, load_example, single_workspace_env
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient, button, selected

ADMIN = "U0ADMIN"
CREATOR = "U0CREATOR"
MEMBER = "U0MEMBER"
CHANNELS = {"C0ALERTS": "marketing-alerts", "C0OPS": "data-ops", "C0NEW": "new-alerts", "G0SECRET": "secret"}


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(
        team_id=TEAM_ID,
        member_channels={"C0ALERTS", "C0OPS"},
        private_channels={"G0SECRET"},
        channel_names=CHANNELS,
    )
    emulator.admin_users.update({ADMIN, CREATOR})
    async with emulator:
        yield emulator


@pytest.fixture
async def bot(start_bot: BotFactory, slack: SlackEmulator) -> RunningBot:
    return await start_bot(single_workspace_env(slack), start_workers=False)


@pytest.fixture
def creator(bot: RunningBot) -> SlackClient:
    return SlackClient(bot.http, user_id=CREATOR)


def errors(count: int, prefix: str = "evt-err") -> dict[str, Any]:
    events = []
    for number in range(count):
        event = copy.deepcopy(load_example("system_error.json"))
        event["id"] = f"{prefix}-{number}"
        # One fingerprint per batch: the events of a batch are repeats of one living message, a later batch is
        # a new alert.
        event["data"]["message"] += f" ({prefix})"
        events.append(event)
    return {"events": events}


async def send(bot: RunningBot, count: int, prefix: str = "evt-err") -> None:
    response = await bot.post_events(errors(count, prefix))
    assert response.status == 202, await response.text()
    await bot.settle()


async def add_rule(creator: SlackClient, slack: SlackEmulator, channel: str = "C0OPS") -> Any:
    """Add a system-errors rule through App Home and the modal, as its creator would."""
    before = len(slack.calls_to("views.open"))
    await creator.home_action(button("rule_add", "rule_add"))
    await slack.wait_for_calls("views.open", before + 1)
    modal = slack.calls_to("views.open")[-1].response["view"]  # type: ignore[index]
    values = selected("channel", "channel_select", channel) | selected("type", "rule_type", "system_errors")
    values |= selected("client", "client_select", "__all__")
    return await creator.submit(modal, values)


async def saved_rule(bot: RunningBot, creator: SlackClient, slack: SlackEmulator, channel: str = "C0OPS") -> Rule:
    before = len(slack.calls_to("views.publish"))
    response = await add_rule(creator, slack, channel)
    assert response.status == 200
    await slack.wait_for_calls("views.publish", before + 1)
    [rule] = await bot.runtime.storage.rules.list(team_id=TEAM_ID)
    await bot.runtime.index.reload()
    return rule


def attempts_to(slack: SlackEmulator, channel: str) -> int:
    return sum(1 for call in slack.calls_to("chat.postMessage") if call.params.get("channel") == channel)


def dms(slack: SlackEmulator) -> list[dict[str, Any]]:
    return [
        call.params for call in slack.calls_to("chat.postMessage") if str(call.params.get("channel")).startswith("D")
    ]


async def rule_state(bot: RunningBot, rule_id: str) -> RuleState:
    rule = await bot.runtime.storage.rules.get(rule_id)
    assert rule is not None
    return rule.state


async def eventually(check: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def held(bot: RunningBot, rule_id: str) -> int:
    return await bot.runtime.storage.deliveries.count_held(rule_id)


async def sent_events(bot: RunningBot, rule_id: str) -> set[str]:
    deliveries = await bot.runtime.storage.deliveries.list_by_state(states=[DeliveryState.SENT])
    return {delivery.event_id for delivery in deliveries if delivery.rule_id == rule_id}


# --- Acceptance: archived channel ------------------------------------------------------------------


async def test_archived_channel_holds_and_recovers(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    assert rule.created_by == CREATOR
    slack.archived_channels.add("C0OPS")

    await send(bot, 3)

    assert await rule_state(bot, rule.id) is RuleState.FAILING
    assert attempts_to(slack, "C0OPS") == 1
    assert await held(bot, rule.id) == 3
    [opened] = [call.params for call in slack.calls_to("conversations.open")]
    assert opened["users"] == CREATOR
    [dm] = dms(slack)
    assert dm["channel"] == "D0CREATOR"
    assert "archived" in dm["text"]
    assert "mend_pick" in json.dumps(dm["blocks"])
    assert "mend_join" not in json.dumps(dm["blocks"])

    # Alerts that arrive while the rule fails are held too, without a post attempt or another message.
    await send(bot, 2, prefix="evt-later")
    assert attempts_to(slack, "C0OPS") == 1
    assert len(dms(slack)) == 1
    assert await held(bot, rule.id) == 5

    slack.archived_channels.discard("C0OPS")
    await creator.event({"type": "channel_unarchive", "channel": "C0OPS", "user": ADMIN})
    await eventually(lambda: _is_active(bot, rule.id))
    await bot.settle()

    # Each batch shares one fingerprint: the first batch becomes one living message, counted, and the later
    # batch, a new alert inside the burst window, goes into a burst summary. All five are sent.
    sent = [message for message in slack.posted_messages("C0OPS") if message.thread_ts is None]
    assert len(sent) == 2
    assert await held(bot, rule.id) == 0
    expected = {f"evt-err-{number}" for number in range(3)} | {f"evt-later-{number}" for number in range(2)}
    assert await sent_events(bot, rule.id) == expected


async def _is_active(bot: RunningBot, rule_id: str) -> bool:
    return await rule_state(bot, rule_id) is RuleState.ACTIVE


async def test_archive_event_then_failure_one_dm(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.archived_channels.add("C0OPS")
    await creator.event({"type": "channel_archive", "channel": "C0OPS", "user": ADMIN})
    await slack.wait_for_calls("chat.postMessage", 1)
    assert await rule_state(bot, rule.id) is RuleState.FAILING

    # A delivery created before the rule index saw the change is held without a post.
    await bot.runtime.storage.deliveries.create_for_event("evt-queued", [rule], now=bot.runtime.clock.now())
    await bot.settle()

    assert attempts_to(slack, "C0OPS") == 0
    assert await held(bot, rule.id) == 1
    assert len(dms(slack)) == 1


async def test_notice_claimed_once_across_replicas(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    rules = bot.runtime.storage.rules
    await rules.mark_failing(rule.id, reason="gone", now=bot.runtime.clock.now())

    claims = await asyncio.gather(*(rules.claim_failure_notice(rule.id, now=bot.runtime.clock.now()) for _ in range(5)))

    assert sorted(claims) == [False, False, False, False, True]


async def test_failing_again_after_mend_notifies_again(
    bot: RunningBot, creator: SlackClient, slack: SlackEmulator
) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.member_channels = {"C0ALERTS"}
    await send(bot, 1)
    slack.member_channels = {"C0ALERTS", "C0OPS"}
    await creator.event({"type": "member_joined_channel", "user": "U0BOT", "channel": "C0OPS"})
    await eventually(lambda: _is_active(bot, rule.id))
    await bot.runtime.index.reload()
    await bot.settle()
    assert len(slack.posted_messages("C0OPS")) == 1
    slack.member_channels = {"C0ALERTS"}

    await send(bot, 1, prefix="evt-second")

    # The second error arrived within the burst window, so it waits in a burst summary that Slack refused.
    assert len(dms(slack)) == 2
    assert len(slack.posted_messages("C0OPS")) == 1
    assert await rule_state(bot, rule.id) is RuleState.FAILING

    # Once the bot is back in the channel, the held summary reaches it: nothing gathered is lost.
    slack.member_channels = {"C0ALERTS", "C0OPS"}
    await creator.event({"type": "member_joined_channel", "user": "U0BOT", "channel": "C0OPS"})
    await eventually(lambda: _is_active(bot, rule.id))
    await bot.runtime.delivery.alerts.flush_due()
    top_level = [message for message in slack.posted_messages("C0OPS") if message.thread_ts is None]
    assert len(top_level) == 2
    # The summary counts the whole burst: the error posted before the channel failed, and the held one.
    assert top_level[1].text.startswith("2 system errors for cl-alpha, ")


# --- Fix buttons -----------------------------------------------------------------------------------


async def click_fix(user: SlackClient, slack: SlackEmulator, action_id: str, rule_id: str, name: str) -> None:
    await user.interaction(
        {
            "type": "block_actions",
            "trigger_id": f"trigger-{action_id}",
            "container": {"type": "message", "message_ts": "1.1", "channel_id": "D0CREATOR"},
            "channel": {"id": "D0CREATOR"},
            "response_url": slack.response_url(name),
            "actions": [button(action_id, rule_id)],
        }
    )


async def test_join_button_joins_and_sends(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.member_channels = {"C0ALERTS"}
    await send(bot, 2)
    [dm] = dms(slack)
    assert "not a member" in dm["text"]
    assert "mend_join" in json.dumps(dm["blocks"])

    await click_fix(creator, slack, "mend_join", rule.id, "join")
    [answer] = await slack.wait_for_response("join")

    assert "joined" in answer["text"]
    assert "2 held alerts" in answer["text"]
    assert slack.calls_to("conversations.join")[0].params["channel"] == "C0OPS"
    assert await rule_state(bot, rule.id) is RuleState.ACTIVE
    await bot.settle()
    # Both held errors share a fingerprint: one living message, and both deliveries sent.
    assert len([message for message in slack.posted_messages("C0OPS") if message.thread_ts is None]) == 1
    assert await sent_events(bot, rule.id) == {"evt-err-0", "evt-err-1"}
    assert (await bot.runtime.storage.audit.latest(TEAM_ID))[0].action == "joined channel"


async def test_join_button_refused_for_member(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.member_channels = {"C0ALERTS"}
    await send(bot, 1)

    await click_fix(SlackClient(bot.http, user_id=MEMBER), slack, "mend_join", rule.id, "refused")
    await slack.wait_for_response("refused")

    assert slack.calls_to("conversations.join") == []
    assert await rule_state(bot, rule.id) is RuleState.FAILING


async def test_join_archived_channel_explains(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.member_channels = {"C0ALERTS"}
    await send(bot, 1)
    slack.archived_channels.add("C0OPS")

    await click_fix(creator, slack, "mend_join", rule.id, "archived")
    [answer] = await slack.wait_for_response("archived")

    assert "could not join" in answer["text"]
    assert "is_archived" in answer["text"]
    assert await rule_state(bot, rule.id) is RuleState.FAILING


async def test_pick_another_channel_sends_there(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.archived_channels.add("C0OPS")
    await send(bot, 2)

    before = len(slack.calls_to("views.open"))
    await click_fix(creator, slack, "mend_pick", rule.id, "pick")
    await slack.wait_for_calls("views.open", before + 1)
    modal = slack.calls_to("views.open")[-1].response["view"]  # type: ignore[index]
    assert modal["callback_id"] == "rule_modal"

    before = len(slack.calls_to("views.publish"))
    values = selected("channel", "channel_select", "C0ALERTS") | selected("type", "rule_type", "system_errors")
    await creator.submit(modal, values | selected("client", "client_select", "__all__"))
    await slack.wait_for_calls("views.publish", before + 1)
    await bot.settle()

    moved = await bot.runtime.storage.rules.get(rule.id)
    assert moved is not None
    assert moved.state is RuleState.ACTIVE
    assert moved.channel == "C0ALERTS"
    assert len([message for message in slack.posted_messages("C0ALERTS") if message.thread_ts is None]) == 1
    assert await sent_events(bot, rule.id) == {"evt-err-0", "evt-err-1"}
    assert attempts_to(slack, "C0OPS") == 1


async def test_rule_without_creator_tells_managers(bot: RunningBot, slack: SlackEmulator) -> None:
    storage, now = bot.runtime.storage, bot.runtime.clock.now()
    await storage.workspaces.add_manager(TEAM_ID, "U0MANAGER", now=now)
    rule = await storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=now)
    await bot.runtime.index.reload()
    slack.archived_channels.add("C0OPS")

    await send(bot, 1)

    assert rule.created_by is None
    assert [call.params["users"] for call in slack.calls_to("conversations.open")] == ["U0MANAGER"]


async def test_rule_without_anyone_to_tell_says_what_to_do(
    bot: RunningBot, slack: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # A rule added from the CLI or the seed in single-workspace mode: no creator, no installer, no managers.
    storage, now = bot.runtime.storage, bot.runtime.clock.now()
    await storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=now)
    await bot.runtime.index.reload()
    slack.archived_channels.add("C0OPS")

    with caplog.at_level("WARNING", logger="bot.mending"):
        await send(bot, 1)

    assert slack.calls_to("conversations.open") == []
    [warning] = [record.getMessage() for record in caplog.records if "No one to tell" in record.getMessage()]
    assert "add a manager in App Home's Connection section" in warning


# --- The rule modal's join offer -------------------------------------------------------------------


async def test_modal_offers_join_for_public_channel(
    bot: RunningBot, creator: SlackClient, slack: SlackEmulator
) -> None:
    response = await add_rule(creator, slack, "C0NEW")
    answer = await response.json()
    assert answer["response_action"] == "push"
    offer = answer["view"]
    assert offer["callback_id"] == "rule_join_offer"
    assert "<#C0NEW>" in json.dumps(offer["blocks"])
    assert await bot.runtime.storage.rules.list() == []

    before = len(slack.calls_to("views.publish"))
    submitted = await creator.submit({"id": "VOFFER"} | offer, {})
    assert (await submitted.json())["response_action"] == "clear"
    await slack.wait_for_calls("views.publish", before + 1)

    [rule] = await bot.runtime.storage.rules.list()
    assert (rule.channel, rule.created_by, rule.state) == ("C0NEW", CREATOR, RuleState.ACTIVE)
    assert slack.calls_to("conversations.join")[0].params["channel"] == "C0NEW"


async def test_modal_private_channel_says_invite(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    answer = await (await add_rule(creator, slack, "G0SECRET")).json()

    assert answer["response_action"] == "errors"
    assert "/invite @Mission Control" in answer["errors"]["channel"]
    assert slack.calls_to("conversations.join") == []


async def test_home_shows_failing_rule(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    await saved_rule(bot, creator, slack)
    slack.archived_channels.add("C0OPS")
    await send(bot, 1)

    before = len(slack.calls_to("views.publish"))
    await creator.event({"type": "app_home_opened", "user": CREATOR, "tab": "home", "channel": "D0"})
    await slack.wait_for_calls("views.publish", before + 1)

    shown = json.dumps(slack.home_views[CREATOR]["blocks"])
    assert "Failing: <#C0OPS> is archived" in shown
    assert "Channel C0OPS" not in shown


async def test_picker_lists_joinable_public_channels(
    bot: RunningBot, creator: SlackClient, slack: SlackEmulator
) -> None:
    response = await creator.options("channel_select", "")
    texts = [option["text"]["text"] for option in (await response.json())["options"]]

    assert texts[:2] == ["#data-ops", "#marketing-alerts"]
    assert "#new-alerts (joins on save)" in texts
    assert not any("secret" in text for text in texts)
    assert len(slack.calls_to("conversations.list")) == 1

    await creator.options("channel_select", "new")
    assert len(slack.calls_to("conversations.list")) == 1


async def test_resume_sends_held_alerts(bot: RunningBot, creator: SlackClient, slack: SlackEmulator) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.archived_channels.add("C0OPS")
    await send(bot, 2)
    slack.archived_channels.discard("C0OPS")

    before = len(slack.calls_to("views.publish"))
    menu = {"type": "overflow", "action_id": "rule_menu", "block_id": "b"}
    await creator.home_action(menu | {"selected_option": {"value": f"resume:{rule.id}"}})
    await slack.wait_for_calls("views.publish", before + 1)
    await bot.settle()

    assert await rule_state(bot, rule.id) is RuleState.ACTIVE
    assert len([message for message in slack.posted_messages("C0OPS") if message.thread_ts is None]) == 1
    assert await sent_events(bot, rule.id) == {"evt-err-0", "evt-err-1"}
    assert await held(bot, rule.id) == 0


async def test_failing_log_line_has_code(
    bot: RunningBot, creator: SlackClient, slack: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    rule = await saved_rule(bot, creator, slack)
    slack.archived_channels.add("C0OPS")

    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        await send(bot, 1)

    [line] = [record.getMessage() for record in caplog.records if record.getMessage().startswith("Rule is failing (")]
    assert f"rule {rule.id}" in line
    assert "code is_archived" in line
