"""Flood: many outlier events for one channel in a short time, posted under Slack's per-channel pacing.

`--events` events (default 1,000) for one rule's channel are sent within `--window` seconds (default 10).
The bot paces the channel at `--rate` messages per second (default 1.0, Slack's limit for chat.postMessage)
with a burst of 3. The run reports the messages posted, the peak rate in any one-second window, events lost
(neither posted nor listed as undelivered), duplicates and the time until the last message was visible.
The baseline is the pacing limit itself: the shortest time `events / rate` in which the channel can
receive them all.

    python -m bench.flood [--events 1000] [--window 10] [--rate 1.0] [--timeout 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from bench.common import BenchBot, MessageLog, machine_line, outlier_events, post_events, running_bot
from bot.pacing import PacingConfig
from storage.models import DeliveryState

BATCH = 10


@dataclass(frozen=True)
class FloodConfig:
    events: int = 1_000
    window_seconds: float = 10.0
    rate: float = 1.0
    burst: float = 3.0
    timeout_seconds: float = 1_500.0
    mongodb_uri: str | None = None


@dataclass(frozen=True)
class FloodResult:
    accepted: int
    posted: int
    duplicates: int
    undelivered_visible: int
    lost: int
    peak_per_second: int
    seconds_to_visible: float
    store_line: str

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0


async def run(config: FloodConfig) -> FloodResult:
    log = MessageLog()
    pacing = PacingConfig(per_channel_rate=config.rate, per_channel_burst=config.burst)
    async with running_bot(
        mongodb_uri=config.mongodb_uri, pacing=pacing, rules_seed=[("C0FLOOD", None)], on_call=log.on_call
    ) as bot:
        events = outlier_events(config.events)
        started = time.monotonic()
        accepted = await _send_over(bot.url, events, config.window_seconds)
        deadline = started + config.timeout_seconds
        while len(log.posted) < accepted and time.monotonic() < deadline:
            if not await bot.count(DeliveryState.PENDING) and not await _unrouted(bot):
                break
            await asyncio.sleep(0.5)
        last = max((max(times) for times in log.posted.values()), default=started)
        visible = await bot.count(DeliveryState.FAILED) + await bot.count(DeliveryState.DEAD)
        return FloodResult(
            accepted=accepted,
            posted=len(log.posted),
            duplicates=log.duplicates,
            undelivered_visible=visible,
            lost=accepted - len(log.posted) - visible,
            peak_per_second=log.peak_per_second(),
            seconds_to_visible=last - started,
            store_line=bot.store_line(),
        )


async def _unrouted(bot: BenchBot) -> bool:
    runtime = bot.runtime
    return bool(await runtime.storage.events.find_unrouted(received_before=runtime.clock.now(), limit=1))


async def _send_over(url: str, events: Sequence[dict[str, object]], window: float) -> int:
    """Send the events in batches spread evenly over `window` seconds; return how many were accepted."""
    batches = [events[start : start + BATCH] for start in range(0, len(events), BATCH)]
    interval = window / max(1, len(batches))
    accepted = 0
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        for number, batch in enumerate(batches):
            delay = started + number * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if await post_events(session, url, batch) == 202:
                accepted += len(batch)
    return accepted


def report(result: FloodResult, config: FloodConfig) -> list[str]:
    baseline = config.events / config.rate
    return [
        machine_line(),
        result.store_line,
        f"events {config.events} for one channel within {config.window_seconds:.0f} s; pacing {config.rate} "
        f"messages/s with a burst of {config.burst:.0f}",
        f"accepted {result.accepted}, posted {result.posted}, duplicates {result.duplicates}, "
        f"listed as undelivered {result.undelivered_visible}, lost {result.lost} (targets: lost 0, duplicates 0)",
        f"peak rate in the channel: {result.peak_per_second} messages in one second",
        f"time until all were visible: {result.seconds_to_visible:.1f} s; baseline (events / rate): {baseline:.1f} s; "
        f"ratio {result.seconds_to_visible / baseline:.2f}",
    ]


def parse_args(argv: Sequence[str] | None) -> FloodConfig:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000, help="events for the one channel (default 1000)")
    parser.add_argument("--window", type=float, default=10.0, help="seconds over which they are sent (default 10)")
    parser.add_argument("--rate", type=float, default=1.0, help="paced messages per second per channel (default 1)")
    parser.add_argument("--timeout", type=float, default=1_500.0, help="seconds to wait for delivery (default 1500)")
    parser.add_argument("--mongodb-uri", help="a MongoDB server instead of the in-memory store")
    args = parser.parse_args(argv)
    if args.events < 1 or args.window <= 0 or args.rate <= 0 or args.timeout <= 0:
        parser.error("--events must be at least 1, and --window, --rate and --timeout above 0")
    return FloodConfig(
        events=args.events,
        window_seconds=args.window,
        rate=args.rate,
        timeout_seconds=args.timeout,
        mongodb_uri=args.mongodb_uri,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    result = asyncio.run(run(config))
    print("\n".join(report(result, config)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
