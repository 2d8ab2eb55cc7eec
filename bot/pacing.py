"""Pacing of Slack calls: a token bucket per (team, channel) and a 429 gate per (team, method).

Slack allows about one message per second per channel (chat.postMessage, "Rate limits" in Slack's API
docs), and a 429 answer carries `Retry-After`. `Pacer` keeps that state for the whole process, so every
worker sees a channel's bucket and a workspace's pause. `PacedPoster` wraps any `Poster` with it.

A call that would wait longer than `defer_after` seconds raises `PacingDeferred` instead, so a delivery
worker puts the delivery back with a due time and takes other work, instead of sleeping while it holds
a lease. Without `defer_after` the call waits, which suits interactive paths such as test messages.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError

from bot.delivery_policy import Action, classify_slack_error
from bot.posting import Poster
from views.messages import SlackMessage

logger = logging.getLogger(__name__)

T = TypeVar("T")

POST_METHOD = "chat.postMessage"
UPDATE_METHOD = "chat.update"
UPLOAD_METHOD = "files.upload"


@dataclass(frozen=True)
class PacingConfig:
    """Sustained messages per second per channel, the burst a quiet channel may send at once, how long a
    delivery worker may wait in place before it defers the delivery, and how long calls wait for the probe
    that goes first after a 429 pause."""

    per_channel_rate: float = 1.0
    per_channel_burst: float = 3.0
    defer_after_seconds: float = 1.5
    # How long the other calls wait for the probe after a pause before they go ahead anyway.
    probe_seconds: float = 2.0


class PacingDeferred(Exception):
    """The call was not made: the channel is paced or the method is paused; try again after `delay_seconds`."""

    def __init__(self, *, reason: str, delay_seconds: float) -> None:
        super().__init__(f"{reason}; try again in {delay_seconds:.1f}s")
        self.reason = reason
        self.delay_seconds = delay_seconds


class _Bucket:
    """Token bucket that lets a caller reserve the next slot; tokens go negative while slots are reserved."""

    def __init__(self, *, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now
        # The slot given to the last deferred caller; later ones get later slots, so they do not come back together.
        self.deferred_horizon = now - 1 / rate

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for_token(self) -> float:
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


class Pacer:
    """Process-wide pacing state. `monotonic` and `sleep` are injected so tests move time themselves."""

    def __init__(
        self,
        config: PacingConfig | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.config = config or PacingConfig()
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._paused_until: dict[tuple[str, str], float] = {}
        # After a pause one call goes first, as a probe; the others wait until it succeeds, or this instant.
        self._probe_until: dict[tuple[str, str], float] = {}
        # Calls turned away locally because their method was paused; the fault benchmark reports it.
        self.calls_held_back = 0

    def paused_for(self, team_id: str, method: str) -> float:
        """Return how many seconds the workspace's calls of `method` stay paused (0 when not paused)."""
        until = self._paused_until.get((team_id, method))
        return max(0.0, until - self._monotonic()) if until is not None else 0.0

    def _gate_wait(self, key: tuple[str, str]) -> float:
        """Return how long a call must wait at the 429 gate; the first call after a pause becomes the probe."""
        now = self._monotonic()
        paused_until = self._paused_until.get(key)
        if paused_until is not None:
            if paused_until > now:
                return paused_until - now
            del self._paused_until[key]
            self._probe_until[key] = now + self.config.probe_seconds
            return 0.0
        probe_until = self._probe_until.get(key)
        if probe_until is not None and probe_until > now:
            return probe_until - now
        return 0.0

    def pause(self, team_id: str, method: str, seconds: float) -> None:
        until = self._monotonic() + seconds
        key = (team_id, method)
        self._probe_until.pop(key, None)
        if until > self._paused_until.get(key, 0.0):
            self._paused_until[key] = until
            logger.warning(
                "Slack calls paused after a 429 (team %s, method %s, seconds %.1f)", team_id, method, seconds
            )

    async def acquire(self, *, team_id: str, channel: str, method: str, defer_after: float | None) -> None:
        """Wait for the method's pause to end and for a token of the channel's bucket, or raise `PacingDeferred`."""
        key = (team_id, method)
        while (paused := self._gate_wait(key)) > 0:
            if defer_after is not None and paused > defer_after:
                self.calls_held_back += 1
                raise PacingDeferred(reason=f"Slack asked to wait before the next {method} call", delay_seconds=paused)
            await self._sleep(paused)
        bucket = self._bucket(team_id, channel)
        now = self._monotonic()
        bucket.refill(now)
        wait = bucket.wait_for_token()
        if defer_after is not None and wait > defer_after:
            slot = max(bucket.deferred_horizon + 1 / bucket.rate, now + wait)
            bucket.deferred_horizon = slot
            raise PacingDeferred(reason=f"Channel {channel} is paced", delay_seconds=slot - now)
        # Taking the token before sleeping reserves the slot, so concurrent callers queue one interval apart.
        bucket.tokens -= 1
        if wait > 0:
            await self._sleep(wait)

    def record_error(self, *, team_id: str, method: str, error: SlackApiError, channel: str) -> None:
        """Pause the workspace's calls of `method` when Slack returned 429 (or `ratelimited`)."""
        response = error.response
        verdict = classify_slack_error(
            status=response.status_code,
            error=response.get("error") if isinstance(response.data, dict) else None,
            retry_after=response.headers.get("Retry-After") or response.headers.get("retry-after"),
            channel=channel,
        )
        if verdict.action is Action.RETRY_AFTER:
            self.pause(team_id, method, verdict.delay_seconds)
        else:
            self.record_answer(team_id=team_id, method=method)

    def record_answer(self, *, team_id: str, method: str) -> None:
        """Record that Slack accepted a call without a rate limit, which ends a probe after a pause."""
        self._probe_until.pop((team_id, method), None)

    def _bucket(self, team_id: str, channel: str) -> _Bucket:
        key = (team_id, channel)
        bucket = self._buckets.get(key)
        if bucket is None:
            config = self.config
            bucket = _Bucket(rate=config.per_channel_rate, burst=config.per_channel_burst, now=self._monotonic())
            self._buckets[key] = bucket
        return bucket


class PacedPoster:
    """A `Poster` whose calls go through a shared `Pacer`.

    `defer_after=None` waits as long as needed; a number makes a longer wait raise `PacingDeferred`.
    Methods the wrapped poster has beyond `post` and `upload_file` (such as `update`, for editing a message
    in place) are paced too when they take `team_id` and `channel` keyword arguments.
    """

    def __init__(self, inner: Poster, pacer: Pacer, *, defer_after: float | None = None) -> None:
        self._inner = inner
        self._pacer = pacer
        self._defer_after = defer_after

    @property
    def inner(self) -> Poster:
        return self._inner

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        return await self._paced(
            POST_METHOD,
            team_id,
            channel,
            lambda: self._inner.post(team_id=team_id, channel=channel, message=message, thread_ts=thread_ts),
        )

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        await self._paced(
            UPLOAD_METHOD,
            team_id,
            channel,
            lambda: self._inner.upload_file(
                team_id=team_id, channel=channel, filename=filename, title=title, content=content, thread_ts=thread_ts
            ),
        )

    async def update(self, **arguments: Any) -> Any:
        update = getattr(self._inner, "update")  # noqa: B009 - the Poster protocol gains `update` on another branch
        return await self._paced(UPDATE_METHOD, arguments["team_id"], arguments["channel"], lambda: update(**arguments))

    async def _paced(self, method: str, team_id: str, channel: str, call: Callable[[], Awaitable[T]]) -> T:
        await self._pacer.acquire(team_id=team_id, channel=channel, method=method, defer_after=self._defer_after)
        try:
            result = await call()
        except SlackApiError as error:
            self._pacer.record_error(team_id=team_id, method=method, error=error, channel=channel)
            raise
        self._pacer.record_answer(team_id=team_id, method=method)
        return result
