"""Shared fixtures: the store, a movable clock, the Slack emulator, and running bots to send requests to.

The store is mongomock-motor, or a real MongoDB server when MONGODB_TEST_URI is set (each test then gets
a database of its own, dropped afterwards).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.app import Runtime, build_runtime
from bot.delivery import DeliveryConfig
from bot.pacing import PacingConfig
from bot.settings import load_settings
from bot.signing import signed_headers
from storage.database import Database, open_database
from storage.models import DeliveryState
from storage.store import Storage
from tests.slack_emulator import SlackEmulator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
EVENTS_SECRET = "test-events-secret"
SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
TEAM_ID = "T0001"
AGENCY_ID = "ag-acme"

# Retries in tests wait milliseconds, not the production seconds.
FAST_DELIVERY = DeliveryConfig(
    workers=2,
    lease=timedelta(seconds=30),
    backoff_base_seconds=0.01,
    backoff_cap_seconds=0.05,
    idle_poll_seconds=0.05,
)
# Pacing at Slack's real rate would make every test that posts a few messages wait seconds.
FAST_PACING = PacingConfig(per_channel_rate=1000.0, per_channel_burst=1000.0)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    uri = os.environ.get("MONGODB_TEST_URI")
    if not uri:
        yield open_database(None, "missioncontrol_test")
        return
    name = f"missioncontrol_test_{secrets.token_hex(4)}"
    db = open_database(uri, name)
    yield db
    await db.client.drop_database(name)
    await db.close()


@pytest.fixture
async def storage(database: Database) -> Storage:
    store = Storage.create(database, retention_days=30)
    await store.ensure_indexes()
    return store


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(team_id=TEAM_ID, bot_token=BOT_TOKEN) as slack:
        yield slack


def load_example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / "events" / name).read_text(encoding="utf-8"))


def signed(body: bytes, *, secret: str = EVENTS_SECRET, now: float | None = None) -> dict[str, str]:
    return signed_headers(secret, body, now=time.time() if now is None else now)


@dataclass
class RunningBot:
    runtime: Runtime
    http: TestClient
    stdout: io.StringIO

    async def post_events(self, document: Any, *, secret: str = EVENTS_SECRET) -> ClientResponse:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        return await self.http.post("/platform/events", data=body, headers=signed(body, secret=secret))

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every accepted event is routed and every delivery has ended (sent or failed)."""
        await self.runtime.router.drain()
        deadline = time.monotonic() + timeout
        while await self.runtime.storage.deliveries.list_by_state(states=[DeliveryState.PENDING], limit=1):
            if time.monotonic() > deadline:
                raise TimeoutError(f"deliveries still pending after {timeout} seconds")
            # Workers of a bot started with start_workers=False do nothing, so help them along.
            if not await self.runtime.delivery.run_once():
                await asyncio.sleep(0.01)


BotFactory = Callable[..., Awaitable[RunningBot]]


def single_workspace_env(emulator: SlackEmulator, **overrides: str) -> dict[str, str]:
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.base_url,
        "MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET,
        "MISSIONCONTROL_AGENCY_ID": AGENCY_ID,
    }
    env.update(overrides)
    return env


@pytest.fixture
async def start_bot(database: Database) -> AsyncIterator[BotFactory]:
    """Start bots on the test database; each is stopped at the end of the test."""
    running: list[RunningBot] = []

    async def factory(
        env: dict[str, str] | None = None,
        *,
        seed: Path | None = None,
        clock: Any = None,
        delivery: DeliveryConfig = FAST_DELIVERY,
        start_workers: bool = True,
        houston_model: Any = None,
        pacing: PacingConfig | None = FAST_PACING,
    ) -> RunningBot:
        settings = load_settings(env if env is not None else {"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET})
        stdout = io.StringIO()
        runtime = build_runtime(
            settings,
            database=database,
            stdout=stdout,
            clock=clock,
            delivery_config=delivery,
            digest_scheduler=False,
            houston_model=houston_model,
            pacing=pacing,
        )
        await runtime.start(seed_path=seed)
        if not start_workers:
            await runtime.delivery.stop(timeout=0)
        http = TestClient(TestServer(runtime.web_app))
        await http.start_server()
        bot = RunningBot(runtime=runtime, http=http, stdout=stdout)
        running.append(bot)
        return bot

    yield factory
    for bot in reversed(running):
        await bot.http.close()
        await bot.runtime.stop(delivery_timeout=1.0)
