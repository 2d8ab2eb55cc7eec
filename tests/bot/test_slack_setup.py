"""The Slack side of single-workspace mode, as `build_slack_side` makes it."""

from __future__ import annotations

import logging

import pytest

from bot.clock import SystemClock
from bot.settings import load_settings
from bot.slack_setup import build_slack_side
from storage.database import Database
from storage.store import Storage
from tests.conftest import single_workspace_env
from tests.slack_emulator import SlackEmulator


async def test_single_workspace_start_no_token_warning(
    emulator: SlackEmulator,
    database: Database,
    storage: Storage,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    environ = single_workspace_env(emulator)
    # Bolt reads SLACK_BOT_TOKEN from the process environment, where `serve` finds it too.
    monkeypatch.setenv("SLACK_BOT_TOKEN", environ["SLACK_BOT_TOKEN"])
    settings = load_settings(environ)

    with caplog.at_level(logging.WARNING):
        side = build_slack_side(
            settings, storage=storage, database=database, clock=SystemClock(), on_workspace_change=lambda: None
        )

    assert side is not None
    assert side.client.token == environ["SLACK_BOT_TOKEN"]
    assert [record.getMessage() for record in caplog.records if record.name.startswith("slack_bolt")] == []
