"""Pacing through the real delivery workers: one message per slot per channel, and a 429 pauses the workspace."""

from __future__ import annotations

from pathlib import Path

from bot.pacing import PacingConfig
from storage.models import DeliveryState
from tests.conftest import BotFactory, single_workspace_env
from tests.scenarios.load import load_rules_seed, messages_per_event, outlier_events, post_every_alert
from tests.slack_emulator import SlackEmulator


async def test_one_channel_is_paced(start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(load_rules_seed(clients=1), encoding="utf-8")
    pacing = PacingConfig(per_channel_rate=5.0, per_channel_burst=2.0, defer_after_seconds=0.1)
    bot = await start_bot(single_workspace_env(emulator), seed=seed, pacing=pacing)
    # Eight distinct alerts, each its own top-level post: the pacing shows in eight calls, not one post and
    # a burst summary.
    await post_every_alert(bot)

    events = outlier_events(8)
    response = await bot.post_events({"events": events})
    assert response.status == 202, await response.text()
    await bot.settle(timeout=20)

    calls = emulator.calls_to("chat.postMessage")
    assert len(calls) == 8
    assert set(messages_per_event(emulator.posted_messages()).values()) == {1}
    # After the burst of two, the other six calls need six slots of 0.2 s: a busy loop only delays calls more.
    assert calls[-1].received_at - calls[0].received_at >= 1.1
    # Deferring is not an attempt: every delivery was sent on its first call to Slack.
    deliveries = await bot.runtime.storage.deliveries.list_by_state(states=[DeliveryState.SENT])
    assert sorted(delivery.attempts for delivery in deliveries) == [1] * 8


async def test_429_pauses_every_channel_of_the_workspace(
    start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Path
) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(load_rules_seed(clients=4), encoding="utf-8")
    pacing = PacingConfig(per_channel_rate=100.0, per_channel_burst=10.0, defer_after_seconds=0.1)
    bot = await start_bot(single_workspace_env(emulator), seed=seed, pacing=pacing, start_workers=False)
    await post_every_alert(bot)
    emulator.fail_next("chat.postMessage", "ratelimited", retry_after=1)

    await bot.post_events({"events": outlier_events(4, clients=4)})
    await bot.settle(timeout=20)

    calls = emulator.calls_to("chat.postMessage")
    assert [call.status for call in calls] == [429, 200, 200, 200, 200]
    # No other channel of the workspace was called until Retry-After had passed.
    assert calls[1].received_at - calls[0].received_at >= 0.9
    assert set(messages_per_event(emulator.posted_messages()).values()) == {1}
    assert bot.runtime.pacer is not None
    assert bot.runtime.pacer.calls_held_back >= 3
