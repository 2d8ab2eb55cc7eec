"""Run the event path benchmark with tiny numbers and check that it delivers every message exactly once.

These tests check only the outcome. Speed figures are printed by `python -m bench.event_path`.
"""

from __future__ import annotations

from typing import Any

import pytest

from bench.event_path import (
    MATCHING_RULES,
    BenchConfig,
    BenchConfigError,
    MessageRecorder,
    format_report,
    percentile,
    plan_rules,
    run_benchmark,
)
from tests.slack_emulator import RecordedCall
from views import ASK_HOUSTON_ACTION_ID


def posted(event_id: str, channel: str) -> RecordedCall:
    button = {"type": "button", "action_id": ASK_HOUSTON_ACTION_ID, "value": event_id}
    blocks: list[dict[str, Any]] = [{"type": "actions", "elements": [button]}]
    return RecordedCall(
        method="chat.postMessage",
        params={"channel": channel, "blocks": blocks},
        token="xoxb-bench-token",
        received_at=1.0,
        response={"ok": True},
    )


async def test_benchmark_delivers_each_message_once() -> None:
    config = BenchConfig(events=20, concurrency=5, rules=50, timeout_seconds=30.0)

    result = await run_benchmark(config)

    assert result.check.expected == 20 * len(MATCHING_RULES)
    assert result.check.delivered == result.check.expected
    assert result.check.missing == ()
    assert result.check.duplicated == ()
    assert result.check.unexpected == ()
    assert result.bot.failures == ()
    assert result.baseline.failures == ()
    assert result.bot.events == 20
    assert result.latency is not None
    assert result.latency.count == result.check.expected
    assert result.ok
    assert format_report(result)[-1].endswith("ok")


async def test_benchmark_with_batches() -> None:
    config = BenchConfig(events=15, concurrency=2, rules=10, batch=4, timeout_seconds=30.0)

    result = await run_benchmark(config)

    assert result.bot.requests == 4
    assert result.check.delivered == 15 * len(MATCHING_RULES)
    assert result.ok


def test_recorder_flags_duplicate_and_unexpected() -> None:
    recorder = MessageRecorder(event_ids=["evt_1", "evt_2"], channels=frozenset({"C1"}))

    recorder.on_call(posted("evt_1", "C1"))
    recorder.on_call(posted("evt_1", "C1"))
    recorder.on_call(posted("evt_1", "C9"))
    check = recorder.check()

    assert check.duplicated == (("evt_1", "C1"),)
    assert check.missing == (("evt_2", "C1"),)
    assert check.unexpected == ("event evt_1 in channel C9",)
    assert not check.ok
    assert not recorder.complete.is_set()


def test_recorder_ignores_failed_posts() -> None:
    recorder = MessageRecorder(event_ids=["evt_1"], channels=frozenset({"C1"}))
    call = posted("evt_1", "C1")
    call.response = {"ok": False, "error": "ratelimited"}

    recorder.on_call(call)

    assert recorder.check().missing == (("evt_1", "C1"),)


def test_plan_rules_counts_and_keys() -> None:
    plan = plan_rules(1000)
    keys = {(spec.team_id, spec.channel, spec.type, spec.client_id) for spec in plan.rules}

    assert len(plan.rules) == 1000
    assert len(keys) == 1000
    assert plan.matching_channels == {spec.channel for spec in MATCHING_RULES}
    assert len(plan.workspaces) > 10


def test_plan_rules_rejects_too_few() -> None:
    with pytest.raises(BenchConfigError, match="--rules must be at least"):
        plan_rules(2)


@pytest.mark.parametrize(
    ("fraction", "expected"),
    [(0.0, 1.0), (0.5, 5.0), (0.9, 9.0), (0.99, 10.0), (1.0, 10.0)],
    ids=["p0", "p50", "p90", "p99", "max"],
)
def test_percentile_nearest_rank(fraction: float, expected: float) -> None:
    values = [float(number) for number in range(1, 11)]

    assert percentile(values, fraction) == expected
