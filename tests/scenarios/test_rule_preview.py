"""The rule preview counts what the live router posts for the same events, and shows it in the rule modal."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.rule_preview import RulePreviewService
from storage.events_schema import Severity
from storage.models import DeliveryState, NotificationType
from tests.conftest import TEAM_ID, BotFactory, FakeClock, RunningBot, load_example, signed, single_workspace_env
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient, button, selected

SEED = """
rules:
  - {channel: C0ALERTS, type: outlier_alerts, min_severity: medium}
  - {channel: C0ALPHA, type: outlier_alerts, client_id: cl-alpha}
  - {channel: C0OPS, type: task_failures}
"""
ADMIN = "U0ADMIN"
CLIENTS = ("cl-alpha", "cl-bravo", "cl-charlie")
SEVERITIES = ("low", "medium", "high", "critical")


@pytest.fixture
async def slack() -> AsyncIterator[SlackEmulator]:
    emulator = SlackEmulator(team_id=TEAM_ID, channel_names={"C0ALERTS": "alerts", "C0OPS": "ops"})
    emulator.admin_users.add(ADMIN)
    async with emulator:
        yield emulator


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED, encoding="utf-8")
    return path


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
async def bot(start_bot: BotFactory, slack: SlackEmulator, seed_file: Path, fake_clock: FakeClock) -> RunningBot:
    return await start_bot(single_workspace_env(slack), seed=seed_file, clock=fake_clock)


async def send(bot: RunningBot, clock: FakeClock, events: list[dict[str, Any]]) -> None:
    body = json.dumps({"events": events}).encode()
    response = await bot.http.post("/platform/events", data=body, headers=signed(body, now=clock.now().timestamp()))
    assert response.status == 202, await response.text()
    await settle(bot, clock)
    await bot.runtime.delivery.alerts.flush_due()


async def settle(bot: RunningBot, clock: FakeClock) -> None:
    """Deliver everything. A delivery that waits for another one posting the same alert is due again half a
    second later on the fake clock, so the clock moves on when nothing else is due."""
    await bot.runtime.router.drain()
    deliveries = bot.runtime.storage.deliveries
    for _ in range(500):
        if not await deliveries.list_by_state(states=[DeliveryState.PENDING], limit=1):
            return
        if not await bot.runtime.delivery.run_once():
            clock.advance(seconds=0.5)
            await asyncio.sleep(0.005)
    raise AssertionError("deliveries still pending")


class EventStream:
    """A reproducible mix of new alerts, repeats, resolutions and recoveries, timed by the fake clock."""

    def __init__(self, clock: FakeClock, seed: int) -> None:
        self._clock = clock
        self._random = random.Random(seed)
        self._count = 0
        self._outliers: list[tuple[str, str, str]] = []
        self._tasks: list[tuple[str, str]] = []

    def _envelope(self, kind: str, client: str, data: dict[str, Any]) -> dict[str, Any]:
        self._count += 1
        return {
            "id": f"evt_{self._count:05d}",
            "type": kind,
            "occurred_at": self._clock.now().isoformat(),
            "agency_id": "ag-acme",
            "client_id": client,
            "data": data,
        }

    def next_batch(self) -> list[dict[str, Any]]:
        return [self._next_event() for _ in range(self._random.choice((1, 1, 1, 3, 8)))]

    def _next_event(self) -> dict[str, Any]:
        pick = self._random.random()
        client = self._random.choice(CLIENTS)
        if pick < 0.3 or not self._outliers:
            outlier = (f"out_{self._count}", client, self._random.choice(SEVERITIES))
            self._outliers.append(outlier)
            return self._detection(outlier)
        if pick < 0.45:
            return self._detection(self._random.choice(self._outliers))
        if pick < 0.55:
            outlier_id, owner, _ = self._random.choice(self._outliers)
            return self._envelope("outlier.resolved", owner, {"outlier_id": outlier_id})
        if pick < 0.8 or not self._tasks:
            task = (f"tsk_{self._count}", client)
            self._tasks.append(task)
            return self._failure(task)
        if pick < 0.9:
            return self._failure(self._random.choice(self._tasks))
        task_id, owner = self._random.choice(self._tasks)
        return self._envelope("task.recovered", owner, {"task_id": task_id})

    def _detection(self, outlier: tuple[str, str, str]) -> dict[str, Any]:
        outlier_id, client, severity = outlier
        data = {**load_example("outlier_detected.json")["data"], "outlier_id": outlier_id, "severity": severity}
        return self._envelope("outlier.detected", client, {**data, "observed": self._random.randint(1, 500)})

    def _failure(self, task: tuple[str, str]) -> dict[str, Any]:
        task_id, client = task
        data = {**load_example("task_failed.json")["data"], "task_id": task_id, "task_name": f"Import {task_id}"}
        return self._envelope("task.failed", client, data)

    def advance(self) -> None:
        # Mostly seconds apart (bursts), sometimes hours (separate windows, several days in all).
        step = self._random.choice((0.3, 0.5, 2, 20, 90, 3_600, 5 * 3_600))
        self._clock.advance(seconds=step)


async def test_preview_count_equals_live_posts(bot: RunningBot, slack: SlackEmulator, fake_clock: FakeClock) -> None:
    rules = bot.runtime.storage.rules
    [ops] = [rule for rule in await rules.list() if rule.channel == "C0OPS"]
    await rules.set_burst_policy(ops.id, window_seconds=120, threshold=2, now=fake_clock.now())
    stream = EventStream(fake_clock, seed=7)
    for _ in range(120):
        await send(bot, fake_clock, stream.next_batch())
        stream.advance()
    fake_clock.advance(seconds=5)
    await bot.runtime.delivery.alerts.flush_due()

    preview = RulePreviewService(storage=bot.runtime.storage, clock=fake_clock)
    workspace = await bot.runtime.storage.workspaces.get(TEAM_ID)
    assert workspace is not None
    drafts = {
        "C0ALERTS": (NotificationType.OUTLIER_ALERTS, None, Severity.MEDIUM, None),
        "C0ALPHA": (NotificationType.OUTLIER_ALERTS, "cl-alpha", None, None),
        "C0OPS": (NotificationType.TASK_FAILURES, None, None, (2, 120)),
    }
    for channel, (kind, client_id, severity, burst) in drafts.items():
        result = await preview.preview(
            workspace=workspace,
            type=kind,
            client_id=client_id,
            min_severity=severity,
            burst_threshold=burst[0] if burst else None,
            burst_window_seconds=burst[1] if burst else None,
        )
        live = slack.top_level_messages(channel)
        assert result.total == len(live), channel
        assert sum(count for _, count in result.per_day) == result.total
        assert len(result.per_day) == 7
    # The rule's own burst settings matter: with the defaults the count differs.
    default = await preview.preview(
        workspace=workspace, type=NotificationType.TASK_FAILURES, client_id=None, min_severity=None
    )
    assert default.total != len(slack.top_level_messages("C0OPS"))
    # The stream must exercise bursts, or the comparison proves little.
    assert any("task failures for" in message.text for message in slack.top_level_messages("C0OPS"))


async def test_preview_suggests_minimum_severity(bot: RunningBot, slack: SlackEmulator, fake_clock: FakeClock) -> None:
    stream = EventStream(fake_clock, seed=1)
    events = []
    for number in range(30):
        severity = "critical" if number % 10 == 0 else "low"
        events.append(stream._detection((f"out_noisy_{number}", "cl-alpha", severity)))
    # Spread over one day, far enough apart that no burst gathers them.
    for event in events:
        await send(bot, fake_clock, [event])
        fake_clock.advance(minutes=5)
    workspace = await bot.runtime.storage.workspaces.get(TEAM_ID)
    assert workspace is not None
    service = RulePreviewService(storage=bot.runtime.storage, clock=fake_clock)
    result = await service.preview(
        workspace=workspace, type=NotificationType.OUTLIER_ALERTS, client_id="cl-alpha", min_severity=None
    )
    assert result.total == 30
    assert result.suggested_severity is Severity.MEDIUM
    assert result.suggested_busiest == 3


async def test_preview_button_updates_modal(bot: RunningBot, slack: SlackEmulator, fake_clock: FakeClock) -> None:
    await send(bot, fake_clock, [load_example("task_failed.json") | {"occurred_at": fake_clock.now().isoformat()}])
    admin = SlackClient(bot.http, user_id=ADMIN)
    await admin.home_action(button("rule_add", "rule_add"))
    await slack.wait_for_calls("views.open", 1)
    opened = slack.calls_to("views.open")[-1].response
    assert isinstance(opened, dict)
    modal = dict(opened["view"])
    values = selected("channel", "channel_select", "C0OPS") | selected("type", "rule_type", "task_failures")
    response = await admin.modal_action(modal | {"state": {"values": values}}, button("rule_preview", "preview"))
    assert response.status == 200
    [update] = await slack.wait_for_calls("views.update", 1)
    assert update.ok, update.response
    text = json.dumps(update.params["view"]["blocks"])
    assert "*Preview:* 1 message in the last 7 days" in text
    assert "Meta Ads daily import" in text
    assert slack.limit_violations == []


async def test_preview_without_type_asks_for_one(bot: RunningBot, slack: SlackEmulator) -> None:
    admin = SlackClient(bot.http, user_id=ADMIN)
    await admin.home_action(button("rule_add", "rule_add"))
    await slack.wait_for_calls("views.open", 1)
    opened = slack.calls_to("views.open")[-1].response
    assert isinstance(opened, dict)
    await admin.modal_action(dict(opened["view"]), button("rule_preview", "preview"))
    [update] = await slack.wait_for_calls("views.update", 1)
    assert "Choose a notification type" in json.dumps(update.params["view"])
