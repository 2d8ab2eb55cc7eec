"""Several app instances on one store, as replicas behind a load balancer: every event is posted exactly once.

The three runtimes share one database object (the mongomock store, or MONGODB_TEST_URI), so their workers
compete for the same deliveries through the lease. Pacing runs at a test rate, because at Slack's one
message per second per channel 100 messages to each channel would take 100 seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from storage.models import DeliveryState
from tests.conftest import FAST_DELIVERY, TEAM_ID, BotFactory, RunningBot, single_workspace_env
from tests.scenarios.load import load_rules_seed, messages_per_event, outlier_events, post_every_alert
from tests.slack_emulator import SlackEmulator

EVENTS = 2_000
CHANNELS = 20
BATCH = 100
# mongomock scans every document on each query, so idle workers polling every 50 ms would dominate the run.
REPLICA_DELIVERY = replace(FAST_DELIVERY, idle_poll_seconds=0.5)
# mongomock also copies every pending delivery on each claim, because its cursor materializes all matches
# before the sort and limit. So the cost of one claim grows with the outbox. The load balancer sends the next
# batch once at most this many deliveries are waiting, which still leaves work for all three instances at
# once. On a shared 2-core machine that took the run from 130 s to about 80 s.
MAX_WAITING = BATCH


async def wait_until_sent(bot: RunningBot, expected: int, *, timeout: float) -> None:
    deliveries = bot.runtime.storage.deliveries
    deadline = time.monotonic() + timeout
    while await deliveries.count_for_team(TEAM_ID, DeliveryState.SENT) < expected:
        if time.monotonic() > deadline:
            pending = await deliveries.count_for_team(TEAM_ID, DeliveryState.PENDING)
            raise AssertionError(f"deliveries not sent after {timeout} seconds (pending {pending})")
        await asyncio.sleep(0.5)


async def wait_until_waiting_at_most(bot: RunningBot, waiting: int, *, timeout: float) -> None:
    """Wait until at most `waiting` deliveries are pending; events not yet routed count as waiting too."""
    storage = bot.runtime.storage
    deadline = time.monotonic() + timeout
    while True:
        pending = await storage.deliveries.count_for_team(TEAM_ID, DeliveryState.PENDING)
        unrouted = len(await storage.events.find_unrouted(received_before=bot.runtime.clock.now(), limit=waiting + 1))
        if pending + unrouted <= waiting:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{pending} deliveries and {unrouted} events still waiting after {timeout} seconds")
        await asyncio.sleep(0.25)


def sent_by(bot: RunningBot) -> int:
    assert bot.runtime.metrics is not None
    value = bot.runtime.metrics.registry.get_sample_value("missioncontrol_deliveries_total", {"outcome": "sent"})
    return int(value or 0)


async def test_three_instances_post_each_event_once(
    start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(load_rules_seed(clients=CHANNELS), encoding="utf-8")
    env = single_workspace_env(emulator)
    bots = [await start_bot(env, seed=seed, delivery=REPLICA_DELIVERY) for _ in range(3)]
    # Every event is its own alert with its own top-level message, so the count of top-level messages per event
    # shows that the instances, competing for one outbox, sent each delivery exactly once.
    await post_every_alert(bots[0])
    for bot in bots[1:]:
        bot.runtime.index.mark_stale()
    events = outlier_events(EVENTS, clients=CHANNELS, prefix="replica")

    # Batches go round-robin to the instances, as a load balancer would send them.
    for number, start in enumerate(range(0, EVENTS, BATCH)):
        await wait_until_waiting_at_most(bots[0], MAX_WAITING, timeout=60)
        response = await bots[number % 3].post_events({"events": events[start : start + BATCH]})
        assert response.status == 202
        assert await response.json() == {"accepted": BATCH, "duplicates": 0}
    for bot in bots:
        await bot.runtime.router.drain()
    await wait_until_sent(bots[0], EVENTS, timeout=240)

    per_event = messages_per_event(emulator.posted_messages())
    assert len(per_event) == EVENTS
    assert set(per_event.values()) == {1}
    per_channel = Counter(message.channel for message in emulator.top_level_messages())
    assert len(per_channel) == CHANNELS
    assert set(per_channel.values()) == {EVENTS // CHANNELS}
    assert [call.status for call in emulator.calls_to("chat.postMessage")].count(200) == EVENTS
    # Every instance posted a share, as each one's own metrics registry shows.
    sent = [sent_by(bot) for bot in bots]
    assert sum(sent) == EVENTS
    assert all(count > 0 for count in sent), sent
