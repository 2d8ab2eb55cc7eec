"""Routing cost per event with few rules and with many: the rule index makes it independent of the rule count.

Two stores are seeded, one with `--small` rules and one with `--large` rules spread over `--workspaces`
workspaces (by default 100 and 10,000 over 1,000). In each, the same `--events` outlier events are stored and
routed one at a time through `Router.route` (state update, rule lookup, delivery creation). The figure is
the mean time per event; the target is that the large case costs at most 1.5 times the small one.

    python -m bench.routing [--events 300] [--small 100] [--large 10000] [--workspaces 1000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.common import AGENCY_ID, MONGOMOCK_NOTE, machine_line, outlier_events
from bench.event_path import close_bench_database, open_bench_database
from bot.routing import Router
from bot.rule_index import RuleIndex
from storage.database import Database
from storage.events import NewEvent
from storage.models import NotificationType
from storage.rules import RuleSpec
from storage.store import Storage

TARGET_RATIO = 1.5
WARMUP_EVENTS = 20
TYPES = list(NotificationType)


@dataclass(frozen=True)
class RoutingConfig:
    events: int = 300
    small: int = 100
    large: int = 10_000
    workspaces: int = 1_000
    mongodb_uri: str | None = None
    profile: bool = False


@dataclass(frozen=True)
class RoutingRun:
    rules: int
    workspaces: int
    seconds_per_event: float
    deliveries: int
    seed_seconds: float
    profile: str | None = None


def rule_specs(total: int, workspaces: int) -> list[RuleSpec]:
    """Return `total` rules over up to `workspaces` workspaces of other agencies, plus one rule that matches."""
    specs = [RuleSpec("T0BENCH", "C0MATCH", NotificationType.OUTLIER_ALERTS)]
    spread = max(1, min(workspaces, total - 1))
    for number in range(total - 1):
        workspace = number % spread
        specs.append(RuleSpec(f"T{workspace:06d}", f"C{number:07d}", TYPES[number % len(TYPES)]))
    return specs


async def seed(storage: Storage, specs: Sequence[RuleSpec], workspaces: int, now: datetime) -> None:
    await storage.workspaces.upsert(team_id="T0BENCH", name="Bench", agency_id=AGENCY_ID, client_id=None, now=now)
    for workspace in range(min(workspaces, len(specs))):
        await storage.workspaces.upsert(
            team_id=f"T{workspace:06d}", name=None, agency_id=f"ag-{workspace:06d}", client_id=None, now=now
        )
    for spec in specs:
        await storage.rules.create(spec, now=now)


async def measure(config: RoutingConfig, rules: int) -> tuple[RoutingRun, bool]:
    database, name = open_bench_database(config.mongodb_uri)
    try:
        return await _measure_on(database, config, rules), database.in_memory
    finally:
        await close_bench_database(database, name)


async def _measure_on(database: Database, config: RoutingConfig, rules: int) -> RoutingRun:
    storage = Storage.create(database, retention_days=30)
    await storage.ensure_indexes()
    now = datetime.now(UTC)
    started = time.perf_counter()
    await seed(storage, rule_specs(rules, config.workspaces), config.workspaces, now)
    seed_seconds = time.perf_counter() - started

    index = RuleIndex(storage)
    await index.reload()
    router = Router(storage=storage, index=index, clock=_Clock(), on_deliveries=lambda: None)
    events = outlier_events(config.events, run_id=f"r{rules}")
    new = [_new_event(event) for event in events]
    await storage.events.insert_batch(new, now=now)
    stored = await storage.events.find_unrouted(received_before=datetime.now(UTC), limit=len(new) + 1)

    # The first events pay for imports and pydantic's first validations; they are routed before timing starts.
    warmup, timed = stored[:WARMUP_EVENTS], stored[WARMUP_EVENTS:]
    for event in warmup:
        await router.route(event)
    profiler = cProfile.Profile() if config.profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    for event in timed:
        await router.route(event)
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    deliveries = len(await storage.deliveries.list_by_state(limit=len(new) * 2))
    return RoutingRun(
        rules=rules,
        workspaces=min(config.workspaces, rules),
        seconds_per_event=elapsed / max(1, len(timed)),
        deliveries=deliveries,
        seed_seconds=seed_seconds,
        profile=_summary(profiler) if profiler else None,
    )


class _Clock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def _new_event(event: dict[str, object]) -> NewEvent:
    return NewEvent(
        id=str(event["id"]),
        type=str(event["type"]),
        agency_id=AGENCY_ID,
        client_id=str(event["client_id"]),
        occurred_at=datetime.fromisoformat(str(event["occurred_at"])),
        body=dict(event),
    )


def _summary(profiler: cProfile.Profile, lines: int = 12) -> str:
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


async def run(config: RoutingConfig) -> tuple[RoutingRun, RoutingRun, bool]:
    small, in_memory = await measure(config, config.small)
    large, _ = await measure(config, config.large)
    return small, large, in_memory


def report(small: RoutingRun, large: RoutingRun, *, in_memory: bool, events: int) -> list[str]:
    ratio = large.seconds_per_event / small.seconds_per_event if small.seconds_per_event else float("nan")
    lines = [
        machine_line(),
        f"store: {'mongomock-motor (in memory); ' + MONGOMOCK_NOTE if in_memory else 'MongoDB'}",
        f"events routed per case: {events} ({WARMUP_EVENTS} of them untimed, as warm-up); each matches 1 rule",
    ]
    for run_ in (small, large):
        lines.append(
            f"{run_.rules:>6} rules over {run_.workspaces:>5} workspaces: "
            f"{run_.seconds_per_event * 1000:.2f} ms per event "
            f"({run_.deliveries} deliveries created; seeding took {run_.seed_seconds:.1f} s)"
        )
    verdict = "met" if ratio <= TARGET_RATIO else "missed"
    lines.append(f"ratio large / small (baseline: the small case): {ratio:.2f} (target <= {TARGET_RATIO}: {verdict})")
    for run_ in (small, large):
        if run_.profile:
            lines.append(f"--- profile, {run_.rules} rules (top functions by own time) ---")
            lines.append(run_.profile)
    return lines


def parse_args(argv: Sequence[str] | None) -> RoutingConfig:
    parser = argparse.ArgumentParser(prog="python -m bench.routing", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events routed in each case (default 300)")
    parser.add_argument("--small", type=int, default=100, help="rules in the small case (default 100)")
    parser.add_argument("--large", type=int, default=10_000, help="rules in the large case (default 10000)")
    parser.add_argument("--workspaces", type=int, default=1_000, help="workspaces the rules spread over (default 1000)")
    parser.add_argument("--mongodb-uri", help="a MongoDB server; a database per case is created and dropped")
    parser.add_argument("--profile", action="store_true", help="print the top functions of the routing loop")
    args = parser.parse_args(argv)
    if args.events <= WARMUP_EVENTS or args.small < 2 or args.large < 2 or args.workspaces < 1:
        parser.error(
            f"--events must be more than {WARMUP_EVENTS} (the untimed warm-up), --workspaces at least 1, "
            "--small and --large at least 2"
        )
    return RoutingConfig(
        events=args.events,
        small=args.small,
        large=args.large,
        workspaces=args.workspaces,
        mongodb_uri=args.mongodb_uri,
        profile=args.profile,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    small, large, in_memory = asyncio.run(run(config))
    print("\n".join(report(small, large, in_memory=in_memory, events=config.events)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
