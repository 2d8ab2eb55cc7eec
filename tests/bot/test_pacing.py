"""Pacing: the per-channel token bucket, the per-(team, method) 429 pause and deferral, on a fake timer."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.pacing import PacedPoster, Pacer, PacingConfig, PacingDeferred
from views.messages import SlackMessage

MESSAGE = SlackMessage(text="hello", blocks=[])


class FakeTimer:
    """Monotonic time that moves only when a caller sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        # False stands for callers that sleep concurrently: time does not move while they wait.
        self.advance_on_sleep = True

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.advance_on_sleep:
            self.now += seconds


def rate_limited(retry_after: str = "5") -> SlackApiError:
    response = AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://127.0.0.1/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": "ratelimited"},
        headers={"Retry-After": retry_after},
        status_code=429,
    )
    return SlackApiError("ratelimited", response)


class RecordingPoster:
    """Records when each call reached it; raises the queued errors first."""

    def __init__(self, timer: FakeTimer) -> None:
        self.timer = timer
        self.calls: list[tuple[str, str, str, float]] = []
        self.errors: list[Exception] = []

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        return self._record("post", team_id, channel)

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        self._record("upload", team_id, channel)

    async def update(self, *, team_id: str, channel: str, ts: str, message: SlackMessage) -> str:
        return self._record("update", team_id, channel)

    def _record(self, method: str, team_id: str, channel: str) -> str:
        self.calls.append((method, team_id, channel, self.timer.now))
        if self.errors:
            raise self.errors.pop(0)
        return f"{len(self.calls)}.000"


@pytest.fixture
def timer() -> FakeTimer:
    return FakeTimer()


def paced(timer: FakeTimer, *, defer_after: float | None = None, **config: Any) -> tuple[PacedPoster, RecordingPoster]:
    inner = RecordingPoster(timer)
    pacer = Pacer(PacingConfig(**config), monotonic=timer.monotonic, sleep=timer.sleep)
    return PacedPoster(inner, pacer, defer_after=defer_after), inner


async def test_burst_then_one_per_second(timer: FakeTimer) -> None:
    poster, inner = paced(timer, per_channel_rate=1.0, per_channel_burst=3.0)
    for _ in range(6):
        await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    times = [call[3] - 100.0 for call in inner.calls]
    assert times[:3] == [0.0, 0.0, 0.0]
    assert times[3:] == pytest.approx([1.0, 2.0, 3.0])


async def test_channels_have_separate_buckets(timer: FakeTimer) -> None:
    poster, inner = paced(timer, per_channel_rate=1.0, per_channel_burst=1.0)
    await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    await poster.post(team_id="T1", channel="C2", message=MESSAGE)
    await poster.post(team_id="T2", channel="C1", message=MESSAGE)
    assert [call[3] for call in inner.calls] == [100.0, 100.0, 100.0]
    assert timer.sleeps == []


async def test_quiet_channel_refills_its_burst(timer: FakeTimer) -> None:
    poster, inner = paced(timer, per_channel_rate=1.0, per_channel_burst=2.0)
    for _ in range(2):
        await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    timer.now += 10
    for _ in range(2):
        await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    assert timer.sleeps == []
    assert len(inner.calls) == 4


async def test_429_pauses_the_method_for_the_team(timer: FakeTimer) -> None:
    poster, inner = paced(timer, per_channel_rate=100.0, per_channel_burst=100.0)
    inner.errors.append(rate_limited("5"))
    with pytest.raises(SlackApiError):
        await poster.post(team_id="T1", channel="C1", message=MESSAGE)

    # Another channel of the same workspace waits for Retry-After; other workspaces and methods do not.
    await poster.post(team_id="T2", channel="C1", message=MESSAGE)
    await poster.update(team_id="T1", channel="C2", ts="1.0", message=MESSAGE)
    assert timer.sleeps == []
    await poster.post(team_id="T1", channel="C2", message=MESSAGE)
    assert timer.sleeps == [5.0]
    assert inner.calls[-1] == ("post", "T1", "C2", 105.0)


async def test_pause_is_shared_by_posters_of_one_pacer(timer: FakeTimer) -> None:
    inner = RecordingPoster(timer)
    pacer = Pacer(PacingConfig(), monotonic=timer.monotonic, sleep=timer.sleep)
    worker, interactive = PacedPoster(inner, pacer, defer_after=1.0), PacedPoster(inner, pacer)
    inner.errors.append(rate_limited("30"))
    with pytest.raises(SlackApiError):
        await interactive.post(team_id="T1", channel="C1", message=MESSAGE)

    with pytest.raises(PacingDeferred) as deferred:
        await worker.post(team_id="T1", channel="C9", message=MESSAGE)
    assert deferred.value.delay_seconds == pytest.approx(30.0)
    assert len(inner.calls) == 1
    assert pacer.calls_held_back == 1


async def test_long_channel_wait_defers_spread_out(timer: FakeTimer) -> None:
    poster, inner = paced(timer, defer_after=1.5, per_channel_rate=1.0, per_channel_burst=1.0)
    timer.advance_on_sleep = False
    await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    # The second caller's wait of one second is within defer_after, so it reserves the next slot and sleeps.
    await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    delays = []
    for _ in range(3):
        with pytest.raises(PacingDeferred) as deferred:
            await poster.post(team_id="T1", channel="C1", message=MESSAGE)
        delays.append(deferred.value.delay_seconds)
    assert len(inner.calls) == 2
    assert timer.sleeps == [1.0]
    assert delays == pytest.approx([2.0, 3.0, 4.0])


async def test_upload_is_paced_on_the_channel(timer: FakeTimer) -> None:
    poster, inner = paced(timer, per_channel_rate=1.0, per_channel_burst=1.0)
    await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    await poster.upload_file(team_id="T1", channel="C1", filename="a.png", title="a", content=b"x", thread_ts=None)
    assert inner.calls[-1] == ("upload", "T1", "C1", 101.0)


async def test_ok_false_errors_do_not_pause(timer: FakeTimer) -> None:
    poster, inner = paced(timer)
    response = AsyncSlackResponse(
        client=None,
        http_verb="POST",
        api_url="http://127.0.0.1/api/chat.postMessage",
        req_args={},
        data={"ok": False, "error": "channel_not_found"},
        headers={},
        status_code=200,
    )
    inner.errors.append(SlackApiError("channel_not_found", response))
    with pytest.raises(SlackApiError):
        await poster.post(team_id="T1", channel="C1", message=MESSAGE)
    await poster.post(team_id="T1", channel="C2", message=MESSAGE)
    assert timer.sleeps == []


async def test_one_probe_after_pause(timer: FakeTimer) -> None:
    inner = RecordingPoster(timer)
    pacer = Pacer(PacingConfig(probe_seconds=2.0), monotonic=timer.monotonic, sleep=timer.sleep)
    worker = PacedPoster(inner, pacer, defer_after=0.5)
    inner.errors.append(rate_limited("5"))
    with pytest.raises(SlackApiError):
        await worker.post(team_id="T1", channel="C1", message=MESSAGE)
    timer.now += 5

    # The first call after the pause goes through as the probe; until it ends, the others are held back.
    inner.errors.append(rate_limited("5"))
    with pytest.raises(SlackApiError):
        await worker.post(team_id="T1", channel="C2", message=MESSAGE)
    with pytest.raises(PacingDeferred):
        await worker.post(team_id="T1", channel="C3", message=MESSAGE)
    assert len(inner.calls) == 2

    timer.now += 5
    await worker.post(team_id="T1", channel="C4", message=MESSAGE)
    # The probe succeeded, so the next call need not wait for the probe window.
    await worker.post(team_id="T1", channel="C5", message=MESSAGE)
    assert [call[2] for call in inner.calls] == ["C1", "C2", "C4", "C5"]


async def test_probe_window_ends_without_answer(timer: FakeTimer) -> None:
    inner = RecordingPoster(timer)
    pacer = Pacer(PacingConfig(probe_seconds=2.0), monotonic=timer.monotonic, sleep=timer.sleep)
    interactive = PacedPoster(inner, pacer)
    pacer.pause("T1", "chat.postMessage", 1.0)
    timer.now += 1
    inner.errors.append(ConnectionError("connection reset"))
    with pytest.raises(ConnectionError):
        await interactive.post(team_id="T1", channel="C1", message=MESSAGE)

    # Slack never answered the probe, so the next call waits out the probe window, then goes ahead.
    await interactive.post(team_id="T1", channel="C2", message=MESSAGE)
    assert timer.sleeps == [2.0]
    assert [call[2] for call in inner.calls] == ["C1", "C2"]
