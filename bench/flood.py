"""Flood: many outlier events for one channel in a short time, as living messages under Slack's pacing.

`--events` events (default 1,000), each a new outlier, for one rule's channel are sent within `--window`
seconds (default 10). The rule keeps its default burst policy (60-second window, threshold 1), so the flood
becomes one alert message and one burst summary that is edited as it grows. The bot paces the channel at
`--rate` messages per second (default 1.0, Slack's limit for chat.postMessage) with a burst of 3.

The run reports events accepted, deliveries sent, top-level messages, summary edits and the peak number of
calls (posts and edits) into the channel in any one-second window. It also reports events lost (delivery not
sent, or the event reachable from no message or summary) and duplicates (an alert with two top-level
messages), as `bench/living.py` counts them. The baseline is the pacing limit: `events / rate` seconds, the
time one message per event would take, against the time until the channel showed every event.

    python -m bench.flood [--events 1000] [--window 10] [--rate 1.0] [--timeout 1500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.common import machine_line, outlier_events, post_events, running_bot
from bench.living import LivingTally, settled, tally
from bot.pacing import PacingConfig

BATCH = 10
CHANNEL = "C0FLOOD"


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
    tally: LivingTally
    seconds_to_visible: float
    store_line: str

    @property
    def accepted(self) -> int:
        return self.tally.accepted

    @property
    def lost(self) -> int:
        return self.tally.lost

    @property
    def duplicates(self) -> int:
        return self.tally.duplicates

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0 and self.tally.summaries_behind == 0


async def run(config: FloodConfig) -> FloodResult:
    pacing = PacingConfig(per_channel_rate=config.rate, per_channel_burst=config.burst)
    async with running_bot(mongodb_uri=config.mongodb_uri, pacing=pacing, rules_seed=[(CHANNEL, None)]) as bot:
        events = outlier_events(config.events)
        started = time.monotonic()
        accepted = await _send_over(bot.url, events, config.window_seconds)
        deadline = started + config.timeout_seconds
        counted = None
        while time.monotonic() < deadline:
            # Settled in the store is not yet settled in Slack: a claimed summary edit may still wait for its slot.
            if await settled(bot):
                counted = await tally(bot, CHANNEL, accepted)
                if counted.summaries_behind == 0:
                    break
            await asyncio.sleep(0.5)
        if counted is None or counted.summaries_behind:
            counted = await tally(bot, CHANNEL, accepted)
        last = counted.last_call_at if counted.last_call_at is not None else started
        return FloodResult(tally=counted, seconds_to_visible=last - started, store_line=bot.store_line())


async def _send_over(url: str, events: Sequence[dict[str, Any]], window: float) -> list[dict[str, Any]]:
    """Send the events in batches spread evenly over `window` seconds; return the accepted ones."""
    batches = [events[start : start + BATCH] for start in range(0, len(events), BATCH)]
    interval = window / max(1, len(batches))
    accepted: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        for number, batch in enumerate(batches):
            delay = started + number * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if await post_events(session, url, batch) == 202:
                accepted.extend(batch)
    return accepted


def report(result: FloodResult, config: FloodConfig) -> list[str]:
    counted = result.tally
    baseline = config.events / config.rate
    return [
        machine_line(),
        result.store_line,
        f"events {config.events} for one channel within {config.window_seconds:.0f} s; pacing {config.rate} "
        f"messages/s with a burst of {config.burst:.0f}; default burst policy (60 s window, threshold 1)",
        f"accepted {counted.accepted}, deliveries sent {counted.deliveries_sent}, top-level messages "
        f"{counted.top_level} ({counted.summaries} burst summaries, {counted.summaries_behind} showing a stale "
        f"count), summary edits {counted.summary_edits}",
        f"lost {counted.lost} (deliveries not sent {counted.deliveries_unsent}, events reachable from no message "
        f"or summary {counted.unreachable}), duplicates {counted.duplicates} (targets: lost 0, duplicates 0)",
        f"peak calls into the channel (posts and edits): {counted.peak_calls_per_second} in one second",
        f"time until every event was visible: {result.seconds_to_visible:.1f} s; baseline, one message per event "
        f"at the pacing rate (events / rate): {baseline:.1f} s; ratio {result.seconds_to_visible / baseline:.3f}",
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
