"""`/metrics`: scraped as Prometheus would, after real traffic through the bot."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.metrics import MeteredHouston, Metrics, metered_storage
from storage.store import Storage
from tests.conftest import BotFactory, FakeClock, RunningBot, load_example, signed, single_workspace_env
from tests.slack_emulator import SlackEmulator

SEED = "rules:\n  - {channel: C0OPS, type: system_errors}\n  - {channel: C0OPS, type: task_failures}\n"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Index every sample by its name and sorted labels."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def scrape(bot: RunningBot, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = await bot.http.get("/metrics", headers=headers)
    assert response.status == 200
    assert response.content_type == "text/plain"
    return samples(await response.text())


@pytest.fixture
async def bot(start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Any) -> RunningBot:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED, encoding="utf-8")
    return await start_bot(single_workspace_env(emulator), seed=seed)


async def test_events_counted_by_type_and_outcome(bot: RunningBot) -> None:
    await bot.post_events(load_example("system_error.json"))
    await bot.post_events(load_example("system_error.json"))
    await bot.post_events({"events": [load_example("task_failed.json"), load_example("metrics_snapshot.json")]})
    await bot.post_events(load_example("task_failed.json"), secret="wrong-secret")
    await bot.settle()

    found = await scrape(bot)
    received = "missioncontrol_events_received_total"
    assert found[(received, (("outcome", "accepted"), ("type", "system.error")))] == 1
    assert found[(received, (("outcome", "duplicate"), ("type", "system.error")))] == 1
    assert found[(received, (("outcome", "accepted"), ("type", "task.failed")))] == 1
    assert found[(received, (("outcome", "accepted"), ("type", "metrics.snapshot")))] == 1
    assert found[(received, (("outcome", "rejected"), ("type", "unknown")))] == 1


async def test_deliveries_and_slack_latency(bot: RunningBot, emulator: SlackEmulator) -> None:
    emulator.fail_next("chat.postMessage", status=500)
    await bot.post_events(load_example("system_error.json"))
    await emulator.wait_for_calls("chat.postMessage", 2)
    await bot.settle()

    found = await scrape(bot)
    assert found[("missioncontrol_deliveries_total", (("outcome", "retry"),))] == 1
    assert found[("missioncontrol_deliveries_total", (("outcome", "sent"),))] == 1
    latency = ("missioncontrol_slack_api_call_duration_seconds_count", (("method", "chat.postMessage"),))
    assert found[latency] == 2
    error = (
        "missioncontrol_slack_api_call_errors_total",
        (("error", "internal_error"), ("method", "chat.postMessage")),
    )
    assert found[error] == 1
    assert found[("missioncontrol_deliveries_pending", ())] == 0
    assert found[("missioncontrol_oldest_pending_delivery_age_seconds", ())] == 0


async def test_pending_gauges_read_the_outbox(start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Any) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED, encoding="utf-8")
    clock = FakeClock()
    bot = await start_bot(single_workspace_env(emulator), seed=seed, clock=clock, start_workers=False)
    body = json.dumps({"events": [load_example("system_error.json"), load_example("task_failed.json")]}).encode()
    # The request is signed at the fake clock's time, which the signature check compares against.
    response = await bot.http.post("/platform/events", data=body, headers=signed(body, now=clock.now().timestamp()))
    assert response.status == 202
    await bot.runtime.router.drain()
    clock.advance(seconds=90)

    found = await scrape(bot)
    assert found[("missioncontrol_deliveries_pending", ())] == 2
    assert found[("missioncontrol_oldest_pending_delivery_age_seconds", ())] == 90


async def test_token_required_when_set(start_bot: BotFactory, emulator: SlackEmulator) -> None:
    bot = await start_bot(single_workspace_env(emulator, METRICS_TOKEN="scrape-secret"))
    missing = await bot.http.get("/metrics")
    wrong = await bot.http.get("/metrics", headers={"Authorization": "Bearer other-secret"})
    assert missing.status == 401
    assert wrong.status == 401
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert "METRICS_TOKEN" in (await missing.json())["error"]
    found = await scrape(bot, Authorization="Bearer scrape-secret")
    assert ("missioncontrol_deliveries_pending", ()) in found


async def test_runtimes_keep_separate_registries(start_bot: BotFactory, emulator: SlackEmulator, tmp_path: Any) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED, encoding="utf-8")
    first = await start_bot(single_workspace_env(emulator), seed=seed)
    second = await start_bot(single_workspace_env(emulator), seed=seed)
    await first.post_events(load_example("system_error.json"))

    accepted = ("missioncontrol_events_received_total", (("outcome", "accepted"), ("type", "system.error")))
    assert (await scrape(first))[accepted] == 1
    assert accepted not in await scrape(second)


async def test_digest_runs_counted(storage: Storage) -> None:
    metrics = Metrics()
    counted = metered_storage(storage, metrics)
    day = date(2026, 12, 1)
    now = FakeClock().now()
    assert await counted.digest_runs.claim(team_id="T0001", local_date=day, owner="test", now=now)
    await counted.digest_runs.finish(team_id="T0001", local_date=day, status="sent", detail={}, now=now)

    assert metrics.registry.get_sample_value("missioncontrol_digest_runs_total", {"outcome": "sent"}) == 1


class ScriptedAgent:
    def __init__(self, *results: Any) -> None:
        self.results = list(results)

    async def answer(self, **arguments: Any) -> Any:
        result = self.results.pop(0)
        if isinstance(result, BaseException):
            raise result
        return result


async def test_houston_answers_counted() -> None:
    metrics = Metrics()
    houston = MeteredHouston(ScriptedAgent("an answer", TimeoutError(), ValueError("broken")), metrics)  # type: ignore[arg-type]
    assert await houston.answer(question="q") == "an answer"
    with pytest.raises(TimeoutError):
        await houston.answer(question="q")
    with pytest.raises(ValueError, match="broken"):
        await houston.answer(question="q")

    answers = "missioncontrol_houston_answers_total"
    for outcome in ("answered", "timeout", "error"):
        assert metrics.registry.get_sample_value(answers, {"outcome": outcome}) == 1, outcome
    assert metrics.registry.get_sample_value("missioncontrol_houston_answer_duration_seconds_count") == 3
