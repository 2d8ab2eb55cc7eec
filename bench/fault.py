"""Fault: Slack fails in three ways during a run, and every accepted event is still posted once or listed.

Timeline from the first event (seconds scaled by `--scale`, default 1):

- 0 to 20 s: chat.postMessage answers HTTP 500, so deliveries back off and retry;
- 20 to 30 s: it answers 429 with `Retry-After` (default 2 s), so the workspace's calls pause;
- afterwards it answers normally, except `--permanent` calls that get HTTP 200 with `{"ok": false,
  "error": "invalid_blocks"}` (dead at once, listed as undelivered) and as many with `internal_error`
  (retried with backoff).

Events go to `--channels` channels, sent evenly over the first 25 s. The run reports events lost (neither
posted nor listed as undelivered; target 0), duplicates (target 0), the undelivered ones, which `Retry all`
then posts, and the calls rejected with 429. The baseline for those is the number of calls that would have
been rejected without the process-wide pause: one per delivery that was due during the 429 period.

    python -m bench.fault [--events 200] [--channels 5] [--retry-after 2] [--permanent 3] [--scale 1]
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
from bot.delivery import DeliveryConfig
from bot.failed_deliveries import COMMAND_LINE_USER, FailedDeliveries
from storage.models import DeliveryState

BATCH = 5
# Far above `--events`: every event is its own alert with a top-level message of its own, never gathered into a
# burst summary. The fault run measures the outbox (each delivery posted once or listed), which a summary
# would hide: its edits cannot show an event counted twice.
NO_BURST_THRESHOLD = 1_000_000


@dataclass(frozen=True)
class FaultConfig:
    events: int = 200
    channels: int = 5
    retry_after: float = 2.0
    permanent: int = 3
    scale: float = 1.0
    timeout_seconds: float = 300.0
    mongodb_uri: str | None = None


@dataclass(frozen=True)
class FaultResult:
    accepted: int
    posted_before_retry: int
    undelivered: int
    posted_after_retry: int
    duplicates: int
    lost: int
    rejected_429: int
    due_during_429: int
    calls_held_back: int
    store_line: str

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicates == 0


async def run(config: FaultConfig) -> FaultResult:
    log = MessageLog()
    scale = config.scale
    # Production backoff, scaled with the timeline so a scaled run keeps the same shape.
    delivery = DeliveryConfig(backoff_base_seconds=2.0 * scale, idle_poll_seconds=min(1.0, scale))
    rules = [(f"C0FAULT{number:02d}", f"cl-fault-{number:02d}") for number in range(config.channels)]
    async with running_bot(
        mongodb_uri=config.mongodb_uri,
        delivery=delivery,
        rules_seed=rules,
        on_call=log.on_call,
        burst_threshold=NO_BURST_THRESHOLD,
    ) as bot:
        emulator = bot.emulator
        start = time.monotonic()
        emulator.fail_until("chat.postMessage", start + 20 * scale, status=500)
        events = [
            event | {"client_id": f"cl-fault-{number % config.channels:02d}"}
            for number, event in enumerate(outlier_events(config.events))
        ]
        sender = asyncio.create_task(_send_over(bot.url, events, 25 * scale))
        await _sleep_until(start + 20 * scale)
        due_during_429 = await bot.count(DeliveryState.PENDING)
        emulator.fail_until("chat.postMessage", start + 30 * scale, status=429, retry_after=config.retry_after)
        await _sleep_until(start + 30 * scale)
        emulator.fail_next("chat.postMessage", "invalid_blocks", times=config.permanent) if config.permanent else None
        emulator.fail_next("chat.postMessage", "internal_error", times=config.permanent) if config.permanent else None
        accepted = await sender
        await _wait_idle(bot, accepted, log, start + config.timeout_seconds)
        posted_before_retry = len(log.posted)
        undelivered = await bot.count(DeliveryState.FAILED) + await bot.count(DeliveryState.DEAD)

        retrier = FailedDeliveries(storage=bot.runtime.storage, clock=bot.runtime.clock, wake=bot.runtime.delivery.wake)
        await retrier.retry_all(user_id=COMMAND_LINE_USER)
        await _wait_idle(bot, accepted, log, time.monotonic() + config.timeout_seconds)
        still_undelivered = await bot.count(DeliveryState.FAILED) + await bot.count(DeliveryState.DEAD)
        rejected = sum(1 for _, status in log.statuses if status == 429)
        pacer = bot.runtime.pacer
        return FaultResult(
            accepted=accepted,
            posted_before_retry=posted_before_retry,
            undelivered=undelivered,
            posted_after_retry=len(log.posted),
            duplicates=log.duplicates,
            lost=accepted - len(log.posted) - still_undelivered,
            rejected_429=rejected,
            due_during_429=due_during_429,
            calls_held_back=pacer.calls_held_back if pacer else 0,
            store_line=bot.store_line(),
        )


async def _sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


async def _wait_idle(bot: BenchBot, accepted: int, log: MessageLog, deadline: float) -> None:
    """Wait until nothing is pending and every accepted event was routed, or until `deadline`."""
    await bot.runtime.router.drain()
    while time.monotonic() < deadline:
        if len(log.posted) >= accepted or not await bot.count(DeliveryState.PENDING):
            # A retry due later still counts as pending, so an empty queue means every delivery ended.
            return
        await asyncio.sleep(0.5)


async def _send_over(url: str, events: Sequence[dict[str, object]], window: float) -> int:
    batches = [events[start : start + BATCH] for start in range(0, len(events), BATCH)]
    interval = window / max(1, len(batches))
    accepted = 0
    async with aiohttp.ClientSession() as session:
        started = time.monotonic()
        for number, batch in enumerate(batches):
            await _sleep_until(started + number * interval)
            if await post_events(session, url, batch) == 202:
                accepted += len(batch)
    return accepted


def report(result: FaultResult, config: FaultConfig) -> list[str]:
    scale = config.scale
    return [
        machine_line(),
        result.store_line,
        f"events {config.events} over {config.channels} channels; HTTP 500 for {20 * scale:.0f} s, then 429 "
        f"(Retry-After {config.retry_after:g} s) for {10 * scale:.0f} s, then {config.permanent} invalid_blocks "
        f"and {config.permanent} internal_error answers (HTTP 200, ok false)",
        f"accepted {result.accepted}; posted {result.posted_before_retry}; listed as undelivered "
        f"{result.undelivered}; after Retry all, posted {result.posted_after_retry}",
        f"lost {result.lost}, duplicates {result.duplicates} (targets 0 and 0)",
        f"calls rejected with 429: {result.rejected_429}; calls held back in the process during pauses: "
        f"{result.calls_held_back}; baseline without a pause (deliveries due in the 429 period): "
        f"{result.due_during_429}; ratio {result.rejected_429 / max(1, result.due_during_429):.2f}",
    ]


def parse_args(argv: Sequence[str] | None) -> FaultConfig:
    parser = argparse.ArgumentParser(prog="python -m bench.fault", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="events to send (default 200)")
    parser.add_argument("--channels", type=int, default=5, help="channels, one rule each (default 5)")
    parser.add_argument("--retry-after", type=float, default=2.0, help="Retry-After of the 429s in seconds (default 2)")
    parser.add_argument("--permanent", type=int, default=3, help="invalid_blocks answers after the 429s (default 3)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies the timeline and backoff (default 1)")
    parser.add_argument("--mongodb-uri", help="a MongoDB server instead of the in-memory store")
    args = parser.parse_args(argv)
    if args.events < 1 or args.channels < 1 or args.retry_after < 0 or args.permanent < 0 or args.scale <= 0:
        parser.error(
            "--events and --channels must be at least 1, --retry-after and --permanent not negative, --scale above 0"
        )
    return FaultConfig(
        events=args.events,
        channels=args.channels,
        retry_after=args.retry_after,
        permanent=args.permanent,
        scale=args.scale,
        mongodb_uri=args.mongodb_uri,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    result = asyncio.run(run(config))
    print("\n".join(report(result, config)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
