"""At shutdown the log says how many accepted messages were not posted, and whether the store keeps them."""

from __future__ import annotations

import logging

import pytest

from storage.models import NotificationType
from storage.rules import RuleSpec
from tests.conftest import TEAM_ID, BotFactory, load_example, single_workspace_env
from tests.slack_emulator import SlackEmulator

STOP_LOGGER = "bot.stop_report"


async def test_stop_in_memory_pending_lost(
    start_bot: BotFactory, emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    # With the workers stopped, the accepted events become deliveries that stay pending until the stop.
    bot = await start_bot(single_workspace_env(emulator), start_workers=False)
    storage = bot.runtime.storage
    await storage.rules.create(RuleSpec(TEAM_ID, "C0OPS", NotificationType.SYSTEM_ERRORS), now=bot.runtime.clock.now())
    bot.runtime.index.mark_stale()
    events = [load_example("system_error.json") | {"id": f"evt-stop-{index}"} for index in range(3)]
    response = await bot.post_events({"events": events})
    assert response.status == 202
    await bot.runtime.router.drain()
    assert await storage.deliveries.count_pending() == 3
    assert storage.database.in_memory

    with caplog.at_level(logging.INFO, logger=STOP_LOGGER):
        await bot.runtime.stop(delivery_timeout=0.1)

    [record] = [record for record in caplog.records if record.name == STOP_LOGGER]
    assert record.levelno == logging.WARNING
    message = record.getMessage()
    assert "3 deliveries still pending" in message
    assert "the in-memory store loses them" in message


async def test_stop_nothing_pending(
    start_bot: BotFactory, emulator: SlackEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    bot = await start_bot(single_workspace_env(emulator))
    with caplog.at_level(logging.INFO, logger=STOP_LOGGER):
        await bot.runtime.stop(delivery_timeout=0.1)
    [record] = [record for record in caplog.records if record.name == STOP_LOGGER]
    assert record.levelno == logging.INFO
    assert "every accepted message posted or ended" in record.getMessage()
