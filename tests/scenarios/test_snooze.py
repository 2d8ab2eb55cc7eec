"""Snooze from the message: the button, the modal, held events, the one reply at the end, and App Home.

Slack requests are signed and go through `/slack/events`, and alerts come in through `/platform/events`.
The clock is a FakeClock that starts at the real time, because the events endpoint checks signatures
against it, and the tests move it forward to end snoozes.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.snoozing import SnoozeService
from handlers.snooze import next_morning
from storage.models import NotificationType
from storage.rules import RuleSpec
from storage.snoozes import SnoozeState
from tests.conftest import (
    AGENCY_ID,
    TEAM_ID,
    BotFactory,
    FakeClock,
    RunningBot,
    load_example,
    signed,
    single_workspace_env,
)
from tests.slack_emulator import PostedMessage, SlackEmulator
from tests.slack_requests import SlackClient, button

ADMIN = "U0ADMIN"
MEMBER = "U0MEMBER"
ALERTS = "C0ALERTS"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(team_id=TEAM_ID, member_channels={ALERTS, "C0OPS"})
    emulator.admin_users.add(ADMIN)
    emulator.user_timezones[MEMBER] = "America/New_York"
    async with emulator:
        yield emulator


@pytest.fixture
async def bot(start_bot: BotFactory, slack: SlackEmulator, clock: FakeClock) -> RunningBot:
    running = await start_bot(single_workspace_env(slack), clock=clock)
    # The tests end snoozes with explicit run_due() calls, so the background loop must not race them.
    assert running.runtime.snoozes is not None
    await running.runtime.snoozes.stop()
    storage = running.runtime.storage
    await storage.clients.apply_update(
        agency_id=AGENCY_ID, client_id="cl-alpha", data={"name": "Alpha Outdoor Gear"}, occurred_at=clock.now()
    )
    for kind in (NotificationType.OUTLIER_ALERTS, NotificationType.TASK_FAILURES, NotificationType.SYSTEM_ERRORS):
        await storage.rules.create(RuleSpec(TEAM_ID, ALERTS, kind), now=clock.now())
    await running.runtime.index.reload()
    return running


def outlier(event_id: str, *, metric: str = "cpa", client: str = "cl-alpha", severity: str = "high") -> dict[str, Any]:
    event = copy.deepcopy(load_example("outlier_detected.json"))
    event["id"] = event_id
    event["client_id"] = client
    event["data"].update(metric=metric, severity=severity, outlier_id=f"out-{event_id}")
    return event


async def post_and_settle(bot: RunningBot, events: list[dict[str, Any]]) -> None:
    # Signed at the bot's clock, which the tests move forward.
    body = json.dumps({"events": events}).encode()
    headers = signed(body, now=bot.runtime.clock.now().timestamp())
    response = await bot.http.post("/platform/events", data=body, headers=headers)
    assert response.status == 202, await response.text()
    await bot.settle()


def top_level(slack: SlackEmulator, channel: str = ALERTS) -> list[PostedMessage]:
    messages = slack.posted_messages(channel)
    return [message for message in messages if message.thread_ts is None and message.ephemeral_user is None]


def replies(slack: SlackEmulator, ts: str) -> list[PostedMessage]:
    return [message for message in slack.posted_messages(ALERTS) if message.thread_ts == ts]


async def click_snooze(
    user: SlackClient, slack: SlackEmulator, message: PostedMessage, event_id: str
) -> dict[str, Any]:
    """Click Snooze on a posted alert and return the modal the bot opened."""
    before = len(slack.calls_to("views.open"))
    payload = {
        "type": "block_actions",
        "trigger_id": "trigger-snooze",
        "container": {"type": "message", "message_ts": message.ts, "channel_id": ALERTS, "is_ephemeral": False},
        "channel": {"id": ALERTS},
        "message": {"ts": message.ts},
        "response_url": slack.response_url("snooze"),
        "actions": [button("snooze_open", event_id)],
    }
    await user.interaction(payload)
    await slack.wait_for_calls("views.open", before + 1)
    response = slack.calls_to("views.open")[-1].response
    assert isinstance(response, dict) and response["ok"], response
    return dict(response["view"])


def choices(scope: str, duration: str) -> dict[str, Any]:
    def radio(value: str) -> dict[str, Any]:
        return {"type": "radio_buttons", "selected_option": {"value": value}}

    return {
        "snooze_scope": {"snooze_scope_choice": radio(scope)},
        "snooze_duration": {"snooze_duration_choice": radio(duration)},
    }


async def submit_snooze(user: SlackClient, slack: SlackEmulator, modal: dict[str, Any], scope: str, duration: str):
    before = len(slack.calls_to("chat.postEphemeral"))
    response = await user.submit(modal, choices(scope, duration))
    assert response.status == 200
    body = await response.text()
    if body:
        return json.loads(body)
    await slack.wait_for_calls("chat.postEphemeral", before + 1)
    return None


async def first_alert(bot: RunningBot, slack: SlackEmulator) -> PostedMessage:
    await post_and_settle(bot, [outlier("evt-first")])
    [message] = top_level(slack)
    return message


def option_values(modal: dict[str, Any], block_id: str) -> list[str]:
    [block] = [block for block in modal["blocks"] if block.get("block_id") == block_id]
    return [option["value"] for option in block["element"]["options"]]


# --- Acceptance: 7 matching and 3 other events -------------------------------------------------------


async def test_snooze_hour_holds_matching_events(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    member = SlackClient(bot.http, user_id=MEMBER)
    alert = await first_alert(bot, slack)
    modal = await click_snooze(member, slack, alert, "evt-first")
    assert await submit_snooze(member, slack, modal, "subject", "1h") is None

    matching = [outlier(f"evt-held-{n}", severity="critical" if n == 4 else "low") for n in range(7)]
    others = [outlier("evt-other-metric", metric="ctr"), outlier("evt-other-client", client="cl-bravo")]
    others.append(load_example("system_error.json"))
    await post_and_settle(bot, matching[:4] + others + matching[4:])

    assert len(top_level(slack)) == 1 + 3
    posted_ids = json.dumps([message.blocks for message in top_level(slack)])
    assert all(event["id"] not in posted_ids for event in matching)
    [snooze] = await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=clock.now())
    assert snooze.held_count == 7
    assert replies(slack, alert.ts) == []

    clock.advance(minutes=59)
    assert bot.runtime.snoozes is not None
    assert await bot.runtime.snoozes.run_due() == 0
    clock.advance(minutes=1, seconds=1)
    assert await bot.runtime.snoozes.run_due() == 1
    assert await bot.runtime.snoozes.run_due() == 0

    [reply] = replies(slack, alert.ts)
    assert "7 alerts" in reply.text
    assert f"<@{MEMBER}>" in json.dumps(reply.blocks)
    assert "1 hour" in json.dumps(reply.blocks)
    assert "Critical" in json.dumps(reply.blocks)
    ended = await bot.runtime.storage.snoozes.get(snooze.id)
    assert ended is not None and ended.state is SnoozeState.ENDED


async def test_events_after_snooze_post_again(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "subject", "4h")
    await post_and_settle(bot, [outlier("evt-during")])
    clock.advance(hours=4, seconds=1)
    assert bot.runtime.snoozes is not None
    await bot.runtime.snoozes.run_due()
    await post_and_settle(bot, [outlier("evt-after")])

    assert "evt-after" in json.dumps([message.blocks for message in top_level(slack)])
    assert "evt-during" not in json.dumps([message.blocks for message in top_level(slack)])


async def test_routing_twice_counts_once(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "subject", "1h")
    await post_and_settle(bot, [outlier("evt-again")])
    stored = await bot.runtime.storage.events.find("evt-again")
    assert stored is not None

    await bot.runtime.router.route(stored)

    [snooze] = await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=clock.now())
    assert snooze.held_count == 1


async def test_two_replicas_reply_once(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "subject", "1h")
    runtime = bot.runtime
    assert runtime.snoozes is not None
    other = SnoozeService(storage=runtime.storage, poster=runtime.delivery._poster, clock=clock)
    clock.advance(hours=2)

    ended = await asyncio.gather(runtime.snoozes.run_due(), other.run_due())

    assert sorted(ended) == [0, 1]
    assert len(replies(slack, alert.ts)) == 1


# --- Scopes and permissions ------------------------------------------------------------------------


async def test_member_may_snooze_subject_only(bot: RunningBot, slack: SlackEmulator) -> None:
    member = SlackClient(bot.http, user_id=MEMBER)
    alert = await first_alert(bot, slack)
    modal = await click_snooze(member, slack, alert, "evt-first")

    assert option_values(modal, "snooze_scope") == ["subject"]
    assert "America/New_York" in json.dumps(modal["blocks"])
    answer = await submit_snooze(member, slack, modal, "channel", "1h")

    assert answer is not None and answer["response_action"] == "errors"
    assert "snooze a whole rule or channel" in answer["errors"]["snooze_scope"]
    assert await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=bot.runtime.clock.now()) == []


async def test_manager_snoozes_channel(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    modal = await click_snooze(admin, slack, alert, "evt-first")
    assert option_values(modal, "snooze_scope") == ["subject", "rule", "channel"]

    await submit_snooze(admin, slack, modal, "channel", "1h")
    task = load_example("task_failed.json")
    await post_and_settle(bot, [outlier("evt-2", metric="ctr"), task, load_example("system_error.json")])

    assert len(top_level(slack)) == 1
    [snooze] = await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=bot.runtime.clock.now())
    assert snooze.held_count == 3


async def test_rule_scope_spares_other_rules(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "rule", "1h")

    await post_and_settle(bot, [outlier("evt-2", metric="ctr"), load_example("task_failed.json")])

    assert len(top_level(slack)) == 2
    assert "evt-2" not in json.dumps([message.blocks for message in top_level(slack)])


async def test_snooze_of_unknown_event_explains(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)

    modal = await click_snooze(admin, slack, alert, "evt-from-another-agency")

    assert "no longer stored" in json.dumps(modal["blocks"])


# --- Until resolved, until 9:00 ------------------------------------------------------------------


async def test_until_resolved_ends_on_resolution(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    modal = await click_snooze(admin, slack, alert, "evt-first")
    assert "resolved" in option_values(modal, "snooze_duration")
    await submit_snooze(admin, slack, modal, "subject", "resolved")
    await post_and_settle(bot, [outlier("evt-held")])
    assert bot.runtime.snoozes is not None
    assert await bot.runtime.snoozes.run_due() == 0

    resolved = load_example("outlier_resolved.json")
    resolved["data"]["outlier_id"] = "out-evt-first"
    await post_and_settle(bot, [resolved])

    assert await bot.runtime.snoozes.run_due() == 1
    # The alert's own resolution replies in the thread too; the snooze's end is the other reply.
    [reply] = [reply for reply in replies(slack, alert.ts) if "snooze" in json.dumps(reply.blocks).lower()]
    assert "resolved" in json.dumps(reply.blocks)
    assert "1 alert" in json.dumps(reply.blocks)


def resolution_of(outlier_id: str) -> dict[str, Any]:
    resolved = load_example("outlier_resolved.json")
    resolved["data"]["outlier_id"] = outlier_id
    return resolved


async def test_resolved_alert_does_not_offer_until_resolved(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    await post_and_settle(bot, [resolution_of("out-evt-first")])

    modal = await click_snooze(admin, slack, alert, "evt-first")

    assert "resolved" not in option_values(modal, "snooze_duration")
    assert "1h" in option_values(modal, "snooze_duration")


async def test_until_resolved_refused_once_resolved(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    modal = await click_snooze(admin, slack, alert, "evt-first")
    # The alert resolves while the modal is open.
    await post_and_settle(bot, [resolution_of("out-evt-first")])

    answer = await submit_snooze(admin, slack, modal, "subject", "resolved")

    assert answer == {
        "response_action": "errors",
        "errors": {"snooze_duration": "This alert has already resolved: choose a time instead."},
    }
    assert await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=bot.runtime.clock.now()) == []


async def test_snooze_that_held_nothing_and_resolved_at_once_ends_quietly(
    bot: RunningBot, slack: SlackEmulator
) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    modal = await click_snooze(admin, slack, alert, "evt-first")
    await submit_snooze(admin, slack, modal, "subject", "resolved")
    await post_and_settle(bot, [resolution_of("out-evt-first")])
    assert bot.runtime.snoozes is not None

    assert await bot.runtime.snoozes.run_due() == 1

    # The alert's own resolution reply is there; no "Snooze over: no alerts held back" beside it.
    assert all("snooze" not in json.dumps(reply.blocks).lower() for reply in replies(slack, alert.ts))
    assert await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=bot.runtime.clock.now()) == []


async def test_until_task_recovers(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    task = load_example("task_failed.json")
    await post_and_settle(bot, [task])
    [alert] = top_level(slack)
    modal = await click_snooze(admin, slack, alert, task["id"])
    await submit_snooze(admin, slack, modal, "subject", "resolved")
    assert bot.runtime.snoozes is not None

    other = load_example("task_recovered.json")
    other["data"]["task_id"] = "another-task"
    await post_and_settle(bot, [other])
    assert await bot.runtime.snoozes.run_due() == 0

    recovered = load_example("task_recovered.json")
    recovered["data"]["task_id"] = task["data"]["task_id"]
    recovered["id"] = "evt-recovered"
    await post_and_settle(bot, [recovered])
    assert await bot.runtime.snoozes.run_due() == 1


async def test_until_morning_uses_user_zone(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    member = SlackClient(bot.http, user_id=MEMBER)
    alert = await first_alert(bot, slack)
    await submit_snooze(member, slack, await click_snooze(member, slack, alert, "evt-first"), "subject", "morning")

    [snooze] = await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=clock.now())
    assert snooze.until == next_morning(clock.now(), "America/New_York")
    assert snooze.until is not None
    local = snooze.until.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute) == (9, 0)


@pytest.mark.parametrize(
    ("now", "zone", "expected"),
    [
        ("2026-12-01T07:00:00+00:00", "Europe/Berlin", "2026-12-01T09:00:00+01:00"),
        ("2026-12-01T08:00:00+00:00", "Europe/Berlin", "2026-12-02T09:00:00+01:00"),
        ("2026-03-28T23:00:00+00:00", "Europe/Berlin", "2026-03-29T09:00:00+02:00"),
        ("2026-12-01T15:00:00+00:00", "Pacific/Kiritimati", "2026-12-02T09:00:00+14:00"),
    ],
    ids=["later-today", "tomorrow", "dst-start", "far-east"],
)
def test_next_morning(now: str, zone: str, expected: str) -> None:
    result = next_morning(datetime.fromisoformat(now), zone)

    assert result == datetime.fromisoformat(expected)
    assert result.utcoffset() == datetime.fromisoformat(expected).utcoffset()


# --- App Home ------------------------------------------------------------------------------------


async def open_home(user: SlackClient, slack: SlackEmulator) -> dict[str, Any]:
    before = len(slack.calls_to("views.publish"))
    await user.event({"type": "app_home_opened", "user": user.user_id, "tab": "home", "channel": "D0"})
    await slack.wait_for_calls("views.publish", before + 1)
    return slack.home_views[user.user_id]


async def test_home_lists_and_unsnoozes(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    home = await open_home(admin, slack)
    assert "Nothing is snoozed" in json.dumps(home["blocks"])
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "subject", "4h")
    await post_and_settle(bot, [outlier("evt-held")])

    home = await open_home(admin, slack)
    [row] = [block for block in home["blocks"] if block.get("accessory", {}).get("action_id") == "snooze_end"]
    assert "Alpha Outdoor Gear" in row["text"]["text"]
    assert "1 held back" in row["text"]["text"]

    clock.advance(minutes=1)
    before = len(slack.calls_to("views.publish"))
    await admin.home_action(row["accessory"], home_view=home)
    await slack.wait_for_calls("views.publish", before + 1)

    [reply] = replies(slack, alert.ts)
    assert f"<@{ADMIN}> ended it early" in json.dumps(reply.blocks)
    assert "Nothing is snoozed" in json.dumps(slack.home_views[ADMIN]["blocks"])
    actions = [entry.action for entry in await bot.runtime.storage.audit.latest(TEAM_ID)]
    assert actions[:2] == ["unsnoozed", "snoozed"]
    await post_and_settle(bot, [outlier("evt-after")])
    assert len(top_level(slack)) == 2


async def test_member_cannot_unsnooze_channel(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    member = SlackClient(bot.http, user_id=MEMBER)
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "channel", "1h")
    [snooze] = await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=bot.runtime.clock.now())

    before = len(slack.calls_to("views.open"))
    await member.home_action(button("snooze_end", snooze.id))
    await slack.wait_for_calls("views.open", before + 1)

    assert await bot.runtime.storage.snoozes.list_active(TEAM_ID, now=bot.runtime.clock.now()) == [snooze]
    assert replies(slack, alert.ts) == []


async def test_other_organisation_cannot_snooze(bot: RunningBot, slack: SlackEmulator) -> None:
    alert = await first_alert(bot, slack)
    before = len(slack.calls_to("views.open"))
    await SlackClient(bot.http, user_id="U0GUEST").interaction(
        {
            "type": "block_actions",
            "trigger_id": "trigger-guest",
            "user": {"id": "U0GUEST", "team_id": "T0OTHER"},
            "is_ext_shared_channel": True,
            "container": {"type": "message", "message_ts": alert.ts, "channel_id": ALERTS},
            "channel": {"id": ALERTS},
            "actions": [button("snooze_open", "evt-first")],
        }
    )
    await slack.wait_for_calls("views.open", before + 1)

    modal = slack.calls_to("views.open")[-1].response["view"]  # type: ignore[index]
    assert "Only members of this workspace" in json.dumps(modal["blocks"])
    assert modal.get("callback_id") != "snooze_modal"


async def test_expiry_loop_ends_due_snoozes(bot: RunningBot, slack: SlackEmulator, clock: FakeClock) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    alert = await first_alert(bot, slack)
    await submit_snooze(admin, slack, await click_snooze(admin, slack, alert, "evt-first"), "subject", "1h")
    runtime = bot.runtime
    loop = SnoozeService(storage=runtime.storage, poster=runtime.delivery._poster, clock=clock, interval_seconds=0.01)
    clock.advance(hours=1)

    loop.start()
    try:
        await slack.wait_for_calls("chat.postMessage", 2)
    finally:
        await loop.stop()

    assert len(replies(slack, alert.ts)) == 1
    assert await runtime.storage.snoozes.list_active(TEAM_ID, now=clock.now()) == []
