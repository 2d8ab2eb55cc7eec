"""A full run with LOG_FORMAT=json at DEBUG: every line is a JSON object, and no secret value reaches any line.

The run covers an OAuth install, platform events posted to Slack, slash commands and a Houston answer, with
the bot's own log set-up writing to the captured standard error.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from bot.logs import configure_logging
from storage.models import NotificationType
from storage.rules import RuleSpec
from tests.conftest import AGENCY_ID, EVENTS_SECRET, SIGNING_SECRET, BotFactory, load_example
from tests.houston.scripted_model import ScriptedChatModel
from tests.scenarios.test_houston_slack import mention, replies_in, said
from tests.scenarios.test_oauth_install import ENCRYPTION_KEY, INSTALL_SECRET, NOW, grant, install, oauth_env
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient

OPENAI_KEY = "sk-test-log-secrets-0123456789"
TEAM = "T0AGENCY"


@contextmanager
def json_logs_at_debug() -> Iterator[None]:
    """Install the bot's JSON log set-up at DEBUG, writing to the current standard error, then restore.

    It runs inside the test body, because the handler keeps the stream it was given, and pytest's capture
    of standard error during the test differs from the one during fixture set-up.
    """
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("slack_sdk").level)
    configure_logging(level="DEBUG", fmt="json")
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("slack_sdk").setLevel(saved[2])


async def run_full_flow(start_bot: BotFactory, emulator: SlackEmulator) -> str:
    """Install, post events, run slash commands and ask Houston; return the install grant used."""
    model = ScriptedChatModel([said("Spend was on plan this week.")])
    env = {**oauth_env(emulator), "OPENAI_API_KEY": OPENAI_KEY, "HOUSTON_MODEL": "gpt-test"}
    bot = await start_bot(env, houston_model=model)
    grant_token = grant()
    await install(bot, emulator, TEAM, grant_token)
    storage = bot.runtime.storage

    await storage.rules.create(RuleSpec(TEAM, "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    bot.runtime.index.mark_stale()
    assert (await bot.post_events(load_example("system_error.json"))).status == 202
    await bot.settle()
    assert emulator.posted_messages("C0OPS")

    admin = SlackClient(bot.http, team_id=TEAM, user_id=f"U{TEAM}ADMIN")
    for text in ("rules", "status", "help"):
        assert (await admin.command(text, response_url=emulator.response_url(text))).status == 200
        await emulator.wait_for_response(text)

    await storage.clients.apply_update(
        agency_id=AGENCY_ID, client_id="cl-alpha", data={"name": "Alpha Outdoor Gear"}, occurred_at=NOW
    )
    await storage.workspaces.set_houston_enabled(TEAM, True, now=NOW)
    await admin.event(mention(f"U{TEAM}ADMIN", "--client cl-alpha how is spend?", "200.1"))
    [answer] = await replies_in(emulator, "200.1")
    assert "on plan" in json.dumps(answer.blocks)
    return grant_token


async def test_no_secret_in_json_logs(
    start_bot: BotFactory, emulator: SlackEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with json_logs_at_debug():
        grant_token = await run_full_flow(start_bot, emulator)

    lines = capsys.readouterr().err.splitlines()
    not_json = [line for line in lines if not line.startswith("{")]
    assert not_json == [], "\n".join(not_json[:40])
    entries: list[dict[str, Any]] = [json.loads(line) for line in lines]
    tokens = {str(call.response["access_token"]) for call in emulator.calls_to("oauth.v2.access")}  # type: ignore[index]
    secrets = {
        *tokens,
        emulator.client_secret,
        SIGNING_SECRET,
        EVENTS_SECRET,
        INSTALL_SECRET,
        ENCRYPTION_KEY,
        OPENAI_KEY,
        grant_token,
        grant_token.rsplit(".", 1)[-1],
    }
    loggers = {entry["logger"] for entry in entries}

    # The run logged enough for the check to mean something: each part of the flow left lines.
    assert tokens
    assert any("/slack/oauth_redirect" in entry["message"] for entry in entries)
    assert any(logger.startswith("bot.ingest") for logger in loggers), loggers
    assert any(logger.startswith("handlers.commands") for logger in loggers), loggers
    assert any(logger.startswith(("houston", "handlers.houston", "bot.houston")) for logger in loggers), loggers
    assert any(entry["level"] == "DEBUG" for entry in entries)
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    assert any(entry.get("team") == TEAM for entry in entries)
    for line in lines:
        for secret in secrets:
            assert secret not in line, f"a secret reached the log: {line[:200]}"
