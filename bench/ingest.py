"""Ingest: signed platform events accepted per second, against a bare aiohttp endpoint in the same run.

The baseline endpoint parses the JSON body and responds with 202. The bot receives the same events, signed,
and checks the signature, validates the schema and stores them before it responds; routing and delivery
run on the same loop while it does (`--quiet-pipeline` stops them, to isolate the request path). The
target is at least half of the baseline's events per second.

    python -m bench.ingest [--events 2000] [--batch 10] [--concurrency 20] [--quiet-pipeline] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from bench.common import EVENTS_SECRET, machine_line, outlier_events, running_bot
from bench.event_path import BenchConfig as PathConfig
from bench.event_path import LoadClient, PostStats, build_batches, measure_baseline
from bot.pacing import PacingConfig

TARGET_RATIO = 0.5
UNPACED = PacingConfig(per_channel_rate=1_000_000.0, per_channel_burst=1_000_000.0)


@dataclass(frozen=True)
class IngestConfig:
    events: int = 2_000
    batch: int = 10
    concurrency: int = 20
    quiet_pipeline: bool = False
    profile: bool = False
    mongodb_uri: str | None = None


@dataclass(frozen=True)
class IngestResult:
    baseline: PostStats
    bot: PostStats
    store_line: str
    profile: str | None

    @property
    def ratio(self) -> float:
        return self.bot.events_per_second / self.baseline.events_per_second if self.baseline.seconds else 0.0


async def run(config: IngestConfig) -> IngestResult:
    events = outlier_events(config.events)
    batches = build_batches(events, config.batch)
    baseline = await measure_baseline(PathConfig(concurrency=config.concurrency), batches)
    rules = [("C0INGEST", None)]
    async with running_bot(mongodb_uri=config.mongodb_uri, pacing=UNPACED, rules_seed=rules) as bot:
        if config.quiet_pipeline:
            await bot.runtime.router.stop()
            await bot.runtime.delivery.stop(timeout=0)
        profiler = cProfile.Profile() if config.profile else None
        if profiler:
            profiler.enable()
        stats = await LoadClient(concurrency=config.concurrency, secret=EVENTS_SECRET).run(bot.url, batches)
        if profiler:
            profiler.disable()
        store_line = bot.store_line()
    return IngestResult(baseline=baseline, bot=stats, store_line=store_line, profile=_summary(profiler))


def _summary(profiler: cProfile.Profile | None, lines: int = 15) -> str | None:
    if profiler is None:
        return None
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def report(result: IngestResult, config: IngestConfig) -> list[str]:
    verdict = "met" if result.ratio >= TARGET_RATIO else "missed"
    pipeline = "stopped" if config.quiet_pipeline else "running on the same loop"
    lines = [
        machine_line(),
        result.store_line,
        f"events {config.events}, {config.batch} per request, {config.concurrency} requests in flight; "
        f"routing and delivery {pipeline}",
        f"baseline (aiohttp, JSON -> 202): {_format(result.baseline)}",
        f"bot (signed, validated, stored): {_format(result.bot)}",
        f"ratio bot / baseline: {result.ratio:.2f} (target >= {TARGET_RATIO}: {verdict})",
    ]
    failures = result.bot.failures + result.baseline.failures
    lines += [f"failure: {failure}" for failure in failures[:5]]
    if result.profile:
        lines += ["--- profile of the bot's run (top functions by own time) ---", result.profile]
    return lines


def _format(stats: PostStats) -> str:
    latencies = stats.latencies
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    return f"{stats.events_per_second:.0f} events/s ({stats.events} events in {stats.seconds:.2f} s, p50 {p50:.1f} ms)"


def parse_args(argv: Sequence[str] | None) -> IngestConfig:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000, help="events to send to each endpoint (default 2000)")
    parser.add_argument("--batch", type=int, default=10, help="events per request, 1 to 100 (default 10)")
    parser.add_argument("--concurrency", type=int, default=20, help="requests in flight (default 20)")
    parser.add_argument("--quiet-pipeline", action="store_true", help="stop routing and delivery while measuring")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the bot's run")
    parser.add_argument("--mongodb-uri", help="a MongoDB server instead of the in-memory store")
    args = parser.parse_args(argv)
    if args.events < 1 or args.concurrency < 1 or not 1 <= args.batch <= 100:
        parser.error("--events and --concurrency must be at least 1, and --batch between 1 and 100")
    return IngestConfig(
        events=args.events,
        batch=args.batch,
        concurrency=args.concurrency,
        quiet_pipeline=args.quiet_pipeline,
        profile=args.profile,
        mongodb_uri=args.mongodb_uri,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    result = asyncio.run(run(config))
    print("\n".join(report(result, config)))
    return 0 if not result.bot.failures else 1


if __name__ == "__main__":
    sys.exit(main())
