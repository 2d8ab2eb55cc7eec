"""Memory: peak resident set size of the process while it sustains an ingest load.

For `--seconds` (default 60) the client sends `--rate` outlier events per second (default 100, in batches of
10) to a bot whose routing and delivery run as in production, with Slack's pacing, into `--channels`
channels. Every second the resident set size is sampled from /proc. The baseline is the size right after
start, before the first event; the ratio is peak over baseline. The client, the emulator and the bot share
the process, so the figure includes all three.

    python -m bench.memory [--seconds 60] [--rate 100] [--channels 20]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

from bench.common import current_rss_mib, machine_line, outlier_events, peak_rss_mib, post_events, running_bot
from storage.models import DeliveryState

BATCH = 10


@dataclass(frozen=True)
class MemoryConfig:
    seconds: float = 60.0
    rate: float = 100.0
    channels: int = 20
    mongodb_uri: str | None = None


@dataclass(frozen=True)
class MemoryResult:
    baseline_mib: float
    peak_sampled_mib: float
    peak_rss_mib: float
    accepted: int
    sent: int
    pending: int
    store_line: str


async def run(config: MemoryConfig) -> MemoryResult:
    rules = [(f"C0MEM{number:03d}", f"cl-mem-{number:03d}") for number in range(config.channels)]
    async with running_bot(mongodb_uri=config.mongodb_uri, rules_seed=rules) as bot:
        baseline = current_rss_mib()
        samples = [baseline]
        total = int(config.seconds * config.rate)
        events = [
            event | {"client_id": f"cl-mem-{number % config.channels:03d}"}
            for number, event in enumerate(outlier_events(total))
        ]
        interval = BATCH / config.rate
        accepted = 0
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            next_sample = started + 1.0
            for number, start in enumerate(range(0, total, BATCH)):
                # The load lasts `seconds`: a store that cannot keep up accepts fewer events, not a longer run.
                if time.monotonic() - started >= config.seconds:
                    break
                await asyncio.sleep(max(0.0, started + number * interval - time.monotonic()))
                if await post_events(session, bot.url, events[start : start + BATCH]) == 202:
                    accepted += len(events[start : start + BATCH])
                if time.monotonic() >= next_sample:
                    samples.append(current_rss_mib())
                    next_sample += 1.0
        samples.append(current_rss_mib())
        return MemoryResult(
            baseline_mib=baseline,
            peak_sampled_mib=max(samples),
            peak_rss_mib=peak_rss_mib(),
            accepted=accepted,
            sent=await bot.count(DeliveryState.SENT),
            pending=await bot.count(DeliveryState.PENDING),
            store_line=bot.store_line(),
        )


def report(result: MemoryResult, config: MemoryConfig) -> list[str]:
    return [
        machine_line(),
        result.store_line,
        f"load: {config.rate:g} events/s offered for {config.seconds:g} s into {config.channels} paced channels; "
        f"accepted {result.accepted} ({result.accepted / config.seconds:.0f}/s), posted {result.sent}, "
        f"still pending {result.pending}",
        f"RSS after start (baseline): {result.baseline_mib:.1f} MiB; peak sampled under load: "
        f"{result.peak_sampled_mib:.1f} MiB; peak (VmHWM): {result.peak_rss_mib:.1f} MiB; "
        f"ratio peak / baseline: {result.peak_rss_mib / result.baseline_mib:.2f}",
    ]


def parse_args(argv: Sequence[str] | None) -> MemoryConfig:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the load lasts (default 60)")
    parser.add_argument("--rate", type=float, default=100.0, help="events per second (default 100)")
    parser.add_argument("--channels", type=int, default=20, help="channels, one rule each (default 20)")
    parser.add_argument("--mongodb-uri", help="a MongoDB server instead of the in-memory store")
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.rate <= 0 or args.channels < 1:
        parser.error("--seconds and --rate must be above 0 and --channels at least 1")
    return MemoryConfig(seconds=args.seconds, rate=args.rate, channels=args.channels, mongodb_uri=args.mongodb_uri)


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    result = asyncio.run(run(config))
    print("\n".join(report(result, config)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
