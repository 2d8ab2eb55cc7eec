"""Stopping an instance mid-load loses nothing: what it accepted is posted once, by the instance started next.

`Runtime.stop` is what `missioncontrol serve` runs on SIGTERM after it stops listening: routing stops,
in-flight posts finish within the timeout and the instance's leases are released. The in-memory store
would vanish with a real process, so both instances run in this process on one shared database, as two
processes would on one MongoDB.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.pacing import PacingConfig
from storage.models import DeliveryState
from tests.conftest import TEAM_ID, BotFactory, single_workspace_env
from tests.scenarios.load import load_rules_seed, messages_per_event, outlier_events, post_every_alert
from tests.scenarios.test_replicas import wait_until_sent
from tests.slack_emulator import SlackEmulator

EVENTS = 300
CHANNELS = 5
# About three seconds of posting at 20 messages per second per channel, so the stop lands mid-load.
LOAD_PACING = PacingConfig(per_channel_rate=20.0, per_channel_burst=1.0, defer_after_seconds=0.2)


async def test_stop_mid_load_then_restart_posts_all_once(
    start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(load_rules_seed(clients=CHANNELS), encoding="utf-8")
    env = single_workspace_env(emulator)
    first = await start_bot(env, seed=seed, pacing=LOAD_PACING)
    # Each event is a distinct alert with a top-level message of its own, so counting top-level messages per
    # event shows that every accepted delivery was sent exactly once across the restart.
    await post_every_alert(first)
    events = outlier_events(EVENTS, clients=CHANNELS, prefix="sigterm")

    accepted = 0
    for start in range(0, EVENTS, 50):
        response = await first.post_events({"events": events[start : start + 50]})
        assert response.status == 202
        accepted += (await response.json())["accepted"]
        await asyncio.sleep(0.05)
    assert accepted == EVENTS
    await emulator.wait_for_calls("chat.postMessage", 30, timeout=20)

    # What SIGTERM does: stop listening, then stop the runtime within the shutdown timeout.
    await first.http.close()
    await first.runtime.stop(delivery_timeout=5.0)
    storage = first.runtime.storage
    posted_before_restart = len(emulator.top_level_messages())
    assert posted_before_restart < EVENTS
    leased = await storage.deliveries.list_by_state(states=[DeliveryState.PENDING], limit=EVENTS)
    assert [delivery.id for delivery in leased if delivery.lease_owner == first.runtime.delivery.owner] == []

    second = await start_bot(env, pacing=LOAD_PACING)
    await wait_until_sent(second, EVENTS, timeout=60)

    per_event = messages_per_event(emulator.posted_messages())
    assert len(emulator.top_level_messages()) == EVENTS
    assert len(per_event) == EVENTS
    assert set(per_event.values()) == {1}
    assert await storage.deliveries.count_for_team(TEAM_ID, DeliveryState.PENDING) == 0
