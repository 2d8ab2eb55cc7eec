"""Undelivered messages in App Home: listed with their reason, retried by a manager, refused to others."""

from __future__ import annotations

import json
from typing import Any

import pytest

from storage.models import DeliveryState, NotificationType
from storage.rules import RuleSpec
from tests.conftest import TEAM_ID, BotFactory, RunningBot, load_example, single_workspace_env
from tests.slack_emulator import SlackEmulator, check_view
from tests.slack_requests import SlackClient, button

ADMIN = "U0ADMIN"
MEMBER = "U0MEMBER"


@pytest.fixture
async def slack() -> Any:
    emulator = SlackEmulator(team_id=TEAM_ID, member_channels={"C0OPS"}, channel_names={"C0OPS": "data-ops"})
    emulator.admin_users.add(ADMIN)
    async with emulator:
        yield emulator


@pytest.fixture
async def bot(start_bot: BotFactory, slack: SlackEmulator) -> RunningBot:
    running = await start_bot(single_workspace_env(slack))
    rule = RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS)
    await running.runtime.storage.rules.create(rule, now=running.runtime.clock.now())
    running.runtime.index.mark_stale()
    return running


async def undelivered(bot: RunningBot, slack: SlackEmulator, *event_ids: str) -> None:
    """Send system errors whose posts Slack rejects for good, so each delivery ends dead."""
    slack.fail_next("chat.postMessage", "invalid_blocks", times=len(event_ids))
    events = [load_example("system_error.json") | {"id": event_id} for event_id in event_ids]
    response = await bot.post_events({"events": events})
    assert response.status == 202
    await bot.settle()


async def publish(client: SlackClient, slack: SlackEmulator, request: Any) -> dict[str, Any]:
    before = len(slack.calls_to("views.publish"))
    await request
    await slack.wait_for_calls("views.publish", before + 1)
    return slack.home_views[client.user_id]


async def open_home(client: SlackClient, slack: SlackEmulator) -> dict[str, Any]:
    event = {"type": "app_home_opened", "user": client.user_id, "tab": "home", "channel": "D0"}
    return await publish(client, slack, client.event(event))


async def test_home_lists_failed_delivery(bot: RunningBot, slack: SlackEmulator) -> None:
    await undelivered(bot, slack, "evt-failed-1")
    home = await open_home(SlackClient(bot.http, user_id=ADMIN), slack)
    text = json.dumps(home["blocks"])
    assert "Undelivered messages" in text
    assert "invalid_blocks" in text
    assert "<#C0OPS>" in text
    assert "delivery_retry" in text
    assert check_view(home) == []
    # The row says which alert it was and what happened, and names the event.
    assert "*system.error · reporting-api ValueError*" in json.dumps(home["blocks"], ensure_ascii=False)
    assert "Rejected by Slack" in text
    assert "Event `evt-failed-1`" in text


async def test_empty_state_without_failures(bot: RunningBot, slack: SlackEmulator) -> None:
    home = await open_home(SlackClient(bot.http, user_id=ADMIN), slack)
    text = json.dumps(home["blocks"])
    assert "Every message was posted or is still queued" in text
    assert "delivery_retry" not in text


async def test_retry_posts_the_message_once(bot: RunningBot, slack: SlackEmulator) -> None:
    await undelivered(bot, slack, "evt-failed-2")
    [dead] = await bot.runtime.storage.deliveries.list_unsent(team_id=TEAM_ID)
    assert dead.state is DeliveryState.DEAD
    admin = SlackClient(bot.http, user_id=ADMIN)

    home = await publish(admin, slack, admin.home_action(button("delivery_retry", dead.id)))
    await bot.settle()

    assert len(slack.posted_messages("C0OPS")) == 1
    stored = await bot.runtime.storage.deliveries.get(dead.id)
    assert stored is not None
    assert stored.state is DeliveryState.SENT
    assert stored.attempts == 1
    [entry, *_] = await bot.runtime.storage.audit.latest(TEAM_ID)
    assert entry.action == "retried a message"
    assert entry.user_id == ADMIN
    assert "invalid_blocks" not in json.dumps(home["blocks"])


async def test_member_cannot_retry(bot: RunningBot, slack: SlackEmulator) -> None:
    await undelivered(bot, slack, "evt-failed-3")
    [dead] = await bot.runtime.storage.deliveries.list_unsent(team_id=TEAM_ID)
    member = SlackClient(bot.http, user_id=MEMBER)

    home = await open_home(member, slack)
    assert "delivery_retry" not in json.dumps(home["blocks"])
    assert "invalid_blocks" in json.dumps(home["blocks"])
    before = len(slack.calls_to("views.open"))
    await member.home_action(button("delivery_retry", dead.id))
    await slack.wait_for_calls("views.open", before + 1)
    refusal = json.dumps(slack.calls_to("views.open")[-1].params)
    assert "can retry undelivered messages" in refusal

    stored = await bot.runtime.storage.deliveries.get(dead.id)
    assert stored is not None
    assert stored.state is DeliveryState.DEAD
    assert slack.posted_messages("C0OPS") == []


async def test_retry_all_posts_every_message(bot: RunningBot, slack: SlackEmulator) -> None:
    await undelivered(bot, slack, "evt-failed-4", "evt-failed-5", "evt-failed-6")
    admin = SlackClient(bot.http, user_id=ADMIN)

    await publish(admin, slack, admin.home_action(button("delivery_retry_all", "all")))
    await bot.settle()

    # The three errors share a fingerprint: one living message, counting all three, and every delivery sent.
    assert len(slack.top_level_messages("C0OPS")) == 1
    assert await bot.runtime.storage.deliveries.count_unsent(team_id=TEAM_ID) == 0
    sent = await bot.runtime.storage.deliveries.list_by_state(states=[DeliveryState.SENT])
    assert {delivery.event_id for delivery in sent} == {"evt-failed-4", "evt-failed-5", "evt-failed-6"}


async def test_retry_of_other_workspace_is_ignored(bot: RunningBot, slack: SlackEmulator) -> None:
    await undelivered(bot, slack, "evt-failed-7")
    [dead] = await bot.runtime.storage.deliveries.list_unsent(team_id=TEAM_ID)
    other = SlackClient(bot.http, team_id="T0OTHER", user_id=ADMIN)
    storage = bot.runtime.storage
    await storage.workspaces.upsert(
        team_id="T0OTHER", name="Other", agency_id="ag-other", client_id=None, now=bot.runtime.clock.now()
    )

    await publish(other, slack, other.home_action(button("delivery_retry", dead.id)))

    stored = await storage.deliveries.get(dead.id)
    assert stored is not None
    assert stored.state is DeliveryState.DEAD


async def test_refused_summary_is_posted_as_plain_text(bot: RunningBot, slack: SlackEmulator) -> None:
    # The first alert and the burst summary that gathers the second are both refused for their blocks.
    slack.fail_next("chat.postMessage", "invalid_blocks", times=2)
    first = load_example("system_error.json") | {"id": "evt-first"}
    second = load_example("system_error.json") | {"id": "evt-second"}
    second["data"] = first["data"] | {"service": "ga4-import"}
    response = await bot.post_events({"events": [first, second]})
    assert response.status == 202
    await bot.settle()
    await bot.runtime.delivery.alerts.flush_due()

    # The refused first alert is listed for retry; the summary went out as plain text, so the second is not lost.
    [dead] = await bot.runtime.storage.deliveries.list_unsent(team_id=TEAM_ID)
    assert dead.event_id == "evt-first"
    [summary] = slack.top_level_messages("C0OPS")
    assert summary.blocks == [] or not summary.blocks
    assert "2 system errors" in summary.text
