"""The main job end to end: signed platform events in, Slack messages out, against the Slack emulator."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage.models import DeliveryState, RuleState, WorkspaceStatus
from tests.conftest import (
    AGENCY_ID,
    TEAM_ID,
    BotFactory,
    RunningBot,
    load_example,
    single_workspace_env,
)
from tests.slack_emulator import SlackEmulator

SEED = """
rules:
  - {channel: C0ALERTS, type: outlier_alerts, min_severity: medium}
  - {channel: C0ALPHA, type: outlier_alerts, client_id: cl-alpha}
  - {channel: C0BRAVO, type: outlier_alerts, client_id: cl-bravo}
  - {channel: C0CRIT, type: outlier_alerts, min_severity: critical}
  - {channel: C0OPS, type: system_errors}
  - {channel: C0OPS, type: task_failures}
  - {channel: C0NOTES, type: note_created}
  - {channel: C0NOTES, type: note_updated}
  - {channel: C0DIGEST, type: daily_digest}
"""

# Example file -> the channels whose rules match it, each receiving one message.
EXPECTED_CHANNELS = {
    "outlier_detected.json": ["C0ALERTS", "C0ALPHA"],
    "system_error.json": ["C0OPS"],
    "task_failed.json": ["C0OPS"],
    "task_dead_letter.json": ["C0OPS"],
    "note_created.json": ["C0NOTES"],
    "note_updated.json": ["C0NOTES"],
    "outlier_resolved.json": [],
    "task_recovered.json": [],
    "note_deleted.json": [],
    "metrics_snapshot.json": [],
    "client_updated.json": [],
}


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED, encoding="utf-8")
    return path


@pytest.fixture
async def bot(start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path) -> RunningBot:
    return await start_bot(single_workspace_env(emulator), seed=seed_file)


def channels_posted(emulator: SlackEmulator) -> list[str]:
    return sorted(message.channel for message in emulator.posted_messages())


@pytest.mark.parametrize("example", sorted(EXPECTED_CHANNELS))
async def test_example_posts_to_matching_channels(bot: RunningBot, emulator: SlackEmulator, example: str) -> None:
    response = await bot.post_events(load_example(example))
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    await bot.settle()
    assert channels_posted(emulator) == sorted(EXPECTED_CHANNELS[example])
    for call in emulator.calls_to("chat.postMessage"):
        assert call.token == "xoxb-test-token"
    assert emulator.limit_violations == []


async def test_batch_example_posts_each_routed_event(bot: RunningBot, emulator: SlackEmulator) -> None:
    response = await bot.post_events(load_example("batch.json"))
    assert await response.json() == {"accepted": 5, "duplicates": 0}
    await bot.settle()
    # system.error without client -> C0OPS; medium cl-bravo outlier -> C0ALERTS, C0BRAVO; note -> C0NOTES.
    assert channels_posted(emulator) == ["C0ALERTS", "C0BRAVO", "C0NOTES", "C0OPS"]


async def test_same_event_twice_posts_once(bot: RunningBot, emulator: SlackEmulator) -> None:
    event = load_example("outlier_detected.json")
    first = await bot.post_events(event)
    second = await bot.post_events({**event, "data": {**event["data"], "severity": "critical"}})
    assert await first.json() == {"accepted": 1, "duplicates": 0}
    assert await second.json() == {"accepted": 0, "duplicates": 1}
    await bot.settle()
    assert channels_posted(emulator) == ["C0ALERTS", "C0ALPHA"]


async def test_rate_limited_post_is_retried_once(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.fail_next("chat.postMessage", "ratelimited", retry_after=1)
    await bot.post_events(load_example("system_error.json"))
    await emulator.wait_for_calls("chat.postMessage", 2, timeout=5)
    await bot.settle()
    calls = emulator.calls_to("chat.postMessage")
    assert [call.status for call in calls] == [429, 200]
    # Slack asked for one second; the retry must not come sooner.
    assert calls[1].received_at - calls[0].received_at >= 0.9
    assert channels_posted(emulator) == ["C0OPS"]
    deliveries = await bot.runtime.storage.deliveries.for_event(load_example("system_error.json")["id"])
    assert [delivery.state for delivery in deliveries] == [DeliveryState.SENT]
    assert deliveries[0].ts == emulator.posted_messages()[0].ts


async def test_server_error_is_retried_with_backoff(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.fail_next("chat.postMessage", status=500, times=2)
    await bot.post_events(load_example("task_failed.json"))
    await emulator.wait_for_calls("chat.postMessage", 3, timeout=5)
    await bot.settle()
    assert [call.status for call in emulator.calls_to("chat.postMessage")] == [500, 500, 200]
    assert channels_posted(emulator) == ["C0OPS"]


async def test_not_in_channel_marks_rule_failing(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.member_channels = {"C0ALERTS"}
    await bot.post_events(load_example("outlier_detected.json"))
    await bot.settle()
    assert channels_posted(emulator) == ["C0ALERTS"]
    rules = {rule.channel: rule for rule in await bot.runtime.storage.rules.list()}
    assert rules["C0ALPHA"].state is RuleState.FAILING
    assert "invite" in (rules["C0ALPHA"].failure_reason or "")
    assert rules["C0ALERTS"].state is RuleState.ACTIVE
    # A failing rule gets no further deliveries until someone fixes it.
    emulator.clear()
    second = load_example("outlier_detected.json") | {"id": "evt-second-detection"}
    await bot.post_events(second)
    await bot.settle()
    assert channels_posted(emulator) == ["C0ALERTS"]
    assert len(emulator.calls_to("chat.postMessage")) == 1


async def test_revoked_token_marks_workspace_inactive(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.fail_next("chat.postMessage", "token_revoked")
    await bot.post_events(load_example("system_error.json"))
    await bot.settle()
    workspace = await bot.runtime.storage.workspaces.get(TEAM_ID)
    assert workspace is not None
    assert workspace.status is WorkspaceStatus.INACTIVE
    assert "revoked" in (workspace.status_reason or "")
    emulator.clear()
    await bot.post_events(load_example("task_failed.json"))
    await bot.settle()
    assert emulator.calls_to("chat.postMessage") == []


def hostile_text(length: int) -> str:
    pieces = [
        "Budget & bids <b>raised</b> ",
        "<!channel> <!here> <!everyone> <@U024BE7LH> <#C0ALERTS> <!subteam^S123> ",
        "<https://evil.example|click me> ",
        "🚀👩🏽‍💻 ",
        "שלום עולם مرحبا بالعالم ",
        "&amp; &lt; &gt; ",
    ]
    text = ""
    while len(text) < length:
        text += "".join(pieces)
    return text[:length]


async def test_hostile_note_body_pings_nobody(bot: RunningBot, emulator: SlackEmulator) -> None:
    event = load_example("note_created.json")
    event["data"]["body"] = hostile_text(10_000)
    event["data"]["title"] = "<!channel> " + hostile_text(300)
    event["data"]["author"] = "<@U024BE7LH>"
    response = await bot.post_events(event)
    assert response.status == 202
    await bot.settle()
    [message] = emulator.posted_messages()
    assert message.channel == "C0NOTES"
    assert message.mentions == []
    assert emulator.limit_violations == []
    assert emulator.calls_to("chat.postMessage")[0].ok
    assert "…" in json.dumps(message.blocks, ensure_ascii=False)


async def test_client_workspace_gets_own_client_without_traceback(
    start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Path
) -> None:
    seed_file = tmp_path / "client-seed.yaml"
    seed_file.write_text("rules:\n  - {channel: C0OPS, type: system_errors}\n", encoding="utf-8")
    env = single_workspace_env(emulator, MISSIONCONTROL_CLIENT_ID="cl-alpha")
    bot = await start_bot(env, seed=seed_file)
    alpha_error = load_example("system_error.json")
    platform_error = alpha_error | {"id": "evt-platform-wide", "client_id": None}
    bravo_error = alpha_error | {"id": "evt-bravo-error", "client_id": "cl-bravo"}
    response = await bot.post_events({"events": [alpha_error, platform_error, bravo_error]})
    assert await response.json() == {"accepted": 3, "duplicates": 0}
    await bot.settle()
    [message] = emulator.posted_messages()
    payload = json.dumps(message.payload)
    assert alpha_error["data"]["request_id"] not in payload
    assert "Traceback" not in payload
    # A rule of a client workspace is scoped to the workspace's client even when the file names none.
    [rule] = await bot.runtime.storage.rules.list()
    assert rule.client_id == "cl-alpha"


async def test_private_note_is_stored_not_posted(bot: RunningBot, emulator: SlackEmulator) -> None:
    event = load_example("note_created.json")
    event["data"]["private"] = True
    await bot.post_events(event)
    await bot.settle()
    assert emulator.posted_messages() == []
    note = await bot.runtime.storage.notes.get(
        agency_id=AGENCY_ID, client_id=event["client_id"], note_id=event["data"]["note_id"]
    )
    assert note is not None
    assert note.private is True


async def test_older_event_changes_nothing(bot: RunningBot, emulator: SlackEmulator) -> None:
    resolved = load_example("outlier_resolved.json")
    detected = load_example("outlier_detected.json")
    detected["occurred_at"] = "2026-11-01T00:00:00Z"  # before the resolution
    await bot.post_events(resolved)
    await bot.post_events(detected)
    await bot.settle()
    assert emulator.posted_messages() == []
    outlier = await bot.runtime.storage.outliers.get(
        agency_id=AGENCY_ID, client_id=detected["client_id"], outlier_id=detected["data"]["outlier_id"]
    )
    assert outlier is not None
    assert outlier.status == "resolved"


async def test_unknown_fields_are_kept(bot: RunningBot) -> None:
    event: dict[str, Any] = load_example("task_failed.json")
    event["trace_context"] = {"span.id": "abc", "$weird": 1}
    event["data"]["queue"] = "imports"
    await bot.post_events(event)
    stored = await bot.runtime.storage.events.find(event["id"])
    assert stored is not None
    assert stored.body == event


async def test_accepted_events_survive_restart(start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path) -> None:
    env = single_workspace_env(emulator)
    first = await start_bot(env, seed=seed_file, start_workers=False)
    # Stop routing too, as if the process died right after answering 202.
    await first.runtime.router.stop()
    response = await first.post_events(load_example("outlier_detected.json"))
    assert response.status == 202
    assert emulator.posted_messages() == []

    second = await start_bot(env, seed=seed_file)
    await second.settle()
    assert channels_posted(emulator) == ["C0ALERTS", "C0ALPHA"]


async def test_pending_delivery_sent_after_restart(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path
) -> None:
    env = single_workspace_env(emulator)
    first = await start_bot(env, seed=seed_file, start_workers=False)
    await first.post_events(load_example("system_error.json"))
    await first.runtime.router.drain()
    pending = await first.runtime.storage.deliveries.list_by_state(states=[DeliveryState.PENDING])
    assert len(pending) == 1
    assert emulator.posted_messages() == []

    second = await start_bot(env, seed=seed_file)
    await second.settle()
    assert channels_posted(emulator) == ["C0OPS"]


async def test_queued_delivery_of_paused_rule_not_sent(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, start_workers=False)
    await bot.post_events(load_example("system_error.json"))
    await bot.runtime.router.drain()
    [rule] = [rule for rule in await bot.runtime.storage.rules.list() if rule.type.value == "system_errors"]
    await bot.runtime.storage.rules.set_state(rule.id, RuleState.PAUSED, reason=None, now=rule.updated_at)
    await bot.settle()
    assert emulator.posted_messages() == []
    [delivery] = await bot.runtime.storage.deliveries.for_event(load_example("system_error.json")["id"])
    assert delivery.state is DeliveryState.FAILED
    assert "paused" in (delivery.last_error or "")


async def test_sweep_continues_past_unroutable_event(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, start_workers=False)
    await bot.runtime.router.stop()
    await bot.post_events(load_example("task_failed.json"))
    # A stored body that no longer validates (as after a schema change) sorts first and must not block.
    await bot.runtime.storage.database.collection("events").insert_one(
        {
            "_id": "evt-broken",
            "type": "outlier.detected",
            "agency_id": AGENCY_ID,
            "client_id": "cl-alpha",
            "occurred_at": datetime(2026, 1, 1, tzinfo=UTC),
            "body": "{}",
            "received_at": datetime(2000, 1, 1, tzinfo=UTC),
            "routed_at": None,
        }
    )
    # BSON keeps milliseconds, so a sweep in the same millisecond as the POST might not see the event yet.
    await asyncio.sleep(0.01)
    routed = await bot.runtime.router.sweep()
    assert routed == 1
    stored = await bot.runtime.storage.events.find(load_example("task_failed.json")["id"])
    assert stored is not None
    assert stored.routed_at is not None
