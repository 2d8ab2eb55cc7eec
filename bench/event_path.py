"""Benchmark of the full event path: signed POST, storage, routing, delivery, Slack emulator.

One process runs a load client, a bare aiohttp baseline endpoint, the Slack emulator and a bot in
single-workspace mode, all on one asyncio loop and on 127.0.0.1. The client first sends the events to the
baseline, which only parses the JSON and responds with 202, then sends the same events to the bot's
`/platform/events`. The emulator records when each `chat.postMessage` arrives, which gives the latency from
the start of the POST to the message reaching Slack.

    python -m bench.event_path [--events 400] [--concurrency 20] [--rules 1000] [--batch 1]

The exit status is 1 when an expected message is missing, posted twice or posted where no rule sends it.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import logging
import math
import os
import resource
import secrets
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bot.app import Runtime, build_runtime
from bot.delivery import DeliveryConfig
from bot.logs import AccessLogger, configure_logging
from bot.pacing import PacingConfig
from bot.settings import load_settings
from bot.signing import signed_headers
from storage.database import Database, open_database
from storage.events_schema import MAX_BATCH_EVENTS, Severity
from storage.models import DeliveryState, NotificationType
from storage.rules import RuleSpec
from tests.slack_emulator import RecordedCall, SlackEmulator
from views import ASK_HOUSTON_ACTION_ID

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
EXAMPLE_EVENT = Path(__file__).resolve().parent.parent / "examples" / "events" / "outlier_detected.json"

TEAM_ID = "T0001"
BOT_TOKEN = "xoxb-bench-token"
SIGNING_SECRET = "bench-signing-secret"
EVENTS_SECRET = "bench-events-secret"
AGENCY_ID = "ag-acme"
CLIENT_ID = "cl-alpha"
EVENT_SEVERITY = Severity.HIGH

# Rules that receive every benchmark event: one for all clients, one for the event's client, and one
# whose minimum severity the events pass.
MATCHING_RULES = (
    RuleSpec(team_id=TEAM_ID, channel="C0BENCH01", type=NotificationType.OUTLIER_ALERTS),
    RuleSpec(team_id=TEAM_ID, channel="C0BENCH02", type=NotificationType.OUTLIER_ALERTS, client_id=CLIENT_ID),
    RuleSpec(
        team_id=TEAM_ID,
        channel="C0BENCH03",
        type=NotificationType.OUTLIER_ALERTS,
        min_severity=Severity.MEDIUM,
    ),
)
# Rules under the same agency and type that routing checks and must reject.
DECOY_RULES = (
    RuleSpec(team_id=TEAM_ID, channel="C0DECOY01", type=NotificationType.OUTLIER_ALERTS, client_id="cl-bravo"),
    RuleSpec(
        team_id=TEAM_ID,
        channel="C0DECOY02",
        type=NotificationType.OUTLIER_ALERTS,
        min_severity=Severity.CRITICAL,
    ),
)
FILLER_RULES_PER_WORKSPACE = 20
# One filler rule in this many goes to the bot's own workspace, with a type other than outlier alerts.
OWN_WORKSPACE_FILLER_EVERY = 10

UNPACED = PacingConfig(per_channel_rate=1_000_000.0, per_channel_burst=1_000_000.0)

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
REQUEST_TIMEOUT_SECONDS = 30.0
SETTLE_TIMEOUT_SECONDS = 5.0
STOP_TIMEOUT_SECONDS = 5.0

MONGOMOCK_WARNING = (
    "mongomock scans every document on each query, so these figures say nothing about MongoDB with its indexes"
)


# --- Configuration and results ----------------------------------------------------------------------


class BenchConfigError(Exception):
    """An option is out of range or the environment would send traffic past 127.0.0.1."""


@dataclass(frozen=True)
class BenchConfig:
    events: int = 400
    concurrency: int = 20
    rules: int = 1000
    batch: int = 1
    mongodb_uri: str | None = None
    timeout_seconds: float = 120.0
    workers: int = DeliveryConfig().workers


@dataclass(frozen=True)
class PostStats:
    """Results of one load run against one endpoint. `latencies` are sorted request times in seconds."""

    requests: int
    events: int
    seconds: float
    latencies: tuple[float, ...]
    failures: tuple[str, ...]

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class LatencySummary:
    """Percentiles in seconds, by nearest rank."""

    count: int
    p50: float
    p90: float
    p99: float
    max: float


@dataclass(frozen=True)
class DeliveryCheck:
    expected: int
    delivered: int
    missing: tuple[tuple[str, str], ...]
    duplicated: tuple[tuple[str, str], ...]
    unexpected: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicated and not self.unexpected


@dataclass(frozen=True)
class BenchResult:
    config: BenchConfig
    store: str
    in_memory: bool
    candidate_rules: int
    baseline: PostStats
    bot: PostStats
    check: DeliveryCheck
    delivery_seconds: float
    latency: LatencySummary | None
    peak_rss_bytes: int

    @property
    def ok(self) -> bool:
        return self.check.ok and not self.bot.failures and not self.baseline.failures

    @property
    def throughput_ratio(self) -> float:
        baseline = self.baseline.events_per_second
        return self.bot.events_per_second / baseline if baseline > 0 else 0.0

    @property
    def messages_per_second(self) -> float:
        return self.check.delivered / self.delivery_seconds if self.delivery_seconds > 0 else 0.0


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (0.0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def summarize(values: Sequence[float]) -> LatencySummary | None:
    if not values:
        return None
    ordered = sorted(values)
    return LatencySummary(
        count=len(ordered),
        p50=percentile(ordered, 0.50),
        p90=percentile(ordered, 0.90),
        p99=percentile(ordered, 0.99),
        max=ordered[-1],
    )


# --- Rules ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RulePlan:
    """The workspaces (team id to agency id) and rules to seed, and the channels every event reaches."""

    workspaces: dict[str, str]
    rules: list[RuleSpec]
    matching_channels: frozenset[str]
    candidate_rules: int


def plan_rules(total: int) -> RulePlan:
    """Spread `total` rules over many agencies, channels and types. Only MATCHING_RULES receive the events."""
    fixed = [*MATCHING_RULES, *DECOY_RULES]
    if total < len(fixed):
        raise BenchConfigError(f"--rules must be at least {len(fixed)}, got {total}")
    workspaces = {TEAM_ID: AGENCY_ID}
    rules = list(fixed)
    for number in range(total - len(fixed)):
        spec, agency_id = _filler_rule(number)
        workspaces[spec.team_id] = agency_id
        rules.append(spec)
    return RulePlan(
        workspaces=workspaces,
        rules=rules,
        matching_channels=frozenset(spec.channel for spec in MATCHING_RULES),
        candidate_rules=len(fixed),
    )


def _filler_rule(number: int) -> tuple[RuleSpec, str]:
    """Return filler rule `number` and the agency of its workspace. Every filler rule has its own channel."""
    channel = f"C0FILL{number:06d}"
    if number % OWN_WORKSPACE_FILLER_EVERY == 0:
        other_types = [kind for kind in NotificationType if kind is not NotificationType.OUTLIER_ALERTS]
        kind = other_types[number // OWN_WORKSPACE_FILLER_EVERY % len(other_types)]
        return RuleSpec(team_id=TEAM_ID, channel=channel, type=kind), AGENCY_ID
    kinds = list(NotificationType)
    workspace = number // FILLER_RULES_PER_WORKSPACE
    spec = RuleSpec(
        team_id=f"T0BENCH{workspace:04d}",
        channel=channel,
        type=kinds[number % len(kinds)],
        client_id=CLIENT_ID if number % 3 == 0 else None,
    )
    return spec, f"ag-bench-{workspace:04d}"


async def seed_rules(runtime: Runtime, plan: RulePlan) -> None:
    """Write the plan through the repositories, then rebuild the rule index before any event arrives."""
    now = runtime.clock.now()
    for team_id, agency_id in plan.workspaces.items():
        if team_id == TEAM_ID:
            continue  # written at start from auth.test and the settings
        await runtime.storage.workspaces.upsert(
            team_id=team_id, name=None, agency_id=agency_id, client_id=None, now=now
        )
    for spec in plan.rules:
        rule = await runtime.storage.rules.create(spec, now=now)
        # Every event here is a new alert for one client: the benchmark measures one message per event, so
        # the rules post each alert on its own instead of gathering the flood into a burst summary.
        await runtime.storage.rules.set_burst_policy(rule.id, window_seconds=60, threshold=1_000_000, now=now)
    await runtime.index.reload()


# --- Events -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """The body of one POST and the ids of the events in it."""

    event_ids: tuple[str, ...]
    body: bytes


def build_events(count: int, *, run_id: str) -> list[dict[str, Any]]:
    """Copy the outlier example `count` times with unique event and outlier ids."""
    template = json.loads(EXAMPLE_EVENT.read_text(encoding="utf-8"))
    occurred_at = datetime.now(UTC).isoformat(timespec="seconds")
    events = []
    for number in range(count):
        event = copy.deepcopy(template)
        event["id"] = f"evt_bench_{run_id}_{number:06d}"
        event["occurred_at"] = occurred_at
        event["agency_id"] = AGENCY_ID
        event["client_id"] = CLIENT_ID
        event["data"]["outlier_id"] = f"out_bench_{run_id}_{number:06d}"
        event["data"]["severity"] = EVENT_SEVERITY.value
        events.append(event)
    return events


def build_batches(events: Sequence[dict[str, Any]], size: int) -> list[Batch]:
    """Group events into request bodies: a single event when `size` is 1, `{"events": [...]}` otherwise."""
    batches = []
    for start in range(0, len(events), size):
        chunk = events[start : start + size]
        document: Any = chunk[0] if size == 1 else {"events": list(chunk)}
        ids = tuple(str(event["id"]) for event in chunk)
        batches.append(Batch(event_ids=ids, body=json.dumps(document).encode()))
    return batches


# --- Load client ------------------------------------------------------------------------------------


class LoadClient:
    """Sends batches with `concurrency` requests in flight and records when each event's POST started."""

    def __init__(self, *, concurrency: int, secret: str) -> None:
        self._concurrency = concurrency
        self._secret = secret
        self.started_at: dict[str, float] = {}
        self.first_start: float = 0.0

    async def run(self, url: str, batches: Sequence[Batch]) -> PostStats:
        latencies: list[float] = []
        failures: list[str] = []
        pending = iter(batches)
        connector = aiohttp.TCPConnector(limit=self._concurrency)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self.first_start = time.monotonic()
            workers = [self._work(session, url, pending, latencies, failures) for _ in range(self._concurrency)]
            await asyncio.gather(*workers)
            seconds = time.monotonic() - self.first_start
        return PostStats(
            requests=len(batches),
            events=sum(len(batch.event_ids) for batch in batches),
            seconds=seconds,
            latencies=tuple(sorted(latencies)),
            failures=tuple(failures),
        )

    async def _work(
        self,
        session: aiohttp.ClientSession,
        url: str,
        pending: Iterator[Batch],
        latencies: list[float],
        failures: list[str],
    ) -> None:
        # Workers share the iterator, so each takes the next batch when its previous request ends.
        for batch in pending:
            started = time.monotonic()
            for event_id in batch.event_ids:
                self.started_at[event_id] = started
            problem = await self._post(session, url, batch)
            latencies.append(time.monotonic() - started)
            if problem is not None:
                failures.append(problem)

    async def _post(self, session: aiohttp.ClientSession, url: str, batch: Batch) -> str | None:
        """POST one batch and return what went wrong, or None when every event was accepted."""
        headers = signed_headers(self._secret, batch.body, now=time.time())
        try:
            async with session.post(url, data=batch.body, headers=headers) as response:
                text = await response.text()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            return f"POST failed ({type(error).__name__}: {error})"
        if status != 202:
            return f"POST answered HTTP {status}: {text[:200]}"
        accepted = json.loads(text).get("accepted")
        if accepted != len(batch.event_ids):
            return f"POST accepted {accepted} of {len(batch.event_ids)} events"
        return None


# --- Baseline endpoint ------------------------------------------------------------------------------


async def handle_baseline(request: web.Request) -> web.Response:
    """Parse the JSON body and respond with 202, as the bot does, without checking or storing anything."""
    document = await request.json()
    accepted = len(document["events"]) if "events" in document else 1
    return web.json_response({"accepted": accepted, "duplicates": 0}, status=202)


def create_baseline_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/platform/events", handle_baseline)
    return app


async def serve_local(app: web.Application) -> tuple[web.AppRunner, str]:
    """Serve `app` on a free port of 127.0.0.1 and return the runner and the platform events URL."""
    runner = web.AppRunner(app, access_log_class=AccessLogger, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, HOST, 0).start()
    port = runner.addresses[0][1]
    return runner, f"http://{HOST}:{port}/platform/events"


async def measure_baseline(config: BenchConfig, batches: Sequence[Batch]) -> PostStats:
    runner, url = await serve_local(create_baseline_app())
    try:
        client = LoadClient(concurrency=config.concurrency, secret=EVENTS_SECRET)
        return await client.run(url, batches)
    finally:
        await runner.cleanup()


# --- Message recorder -------------------------------------------------------------------------------


def ask_houston_value(blocks: Any) -> str | None:
    """Return the value of the Ask Houston button in a message's blocks, which is the event id."""
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except json.JSONDecodeError:
            return None
    if not isinstance(blocks, list):
        return None
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        for element in block.get("elements", []):
            if element.get("action_id") == ASK_HOUSTON_ACTION_ID:
                return str(element.get("value"))
    return None


class MessageRecorder:
    """Counts the messages the emulator accepted, per (event id, channel), and when each first arrived.

    Calls are ignored once `recording` is set to False.
    """

    def __init__(self, *, event_ids: Sequence[str], channels: frozenset[str]) -> None:
        self._expected = {(event_id, channel) for event_id in event_ids for channel in channels}
        self.counts: Counter[tuple[str, str]] = Counter()
        self.arrived_at: dict[tuple[str, str], float] = {}
        self.unexpected: list[str] = []
        self.complete = asyncio.Event()
        self.recording = True

    def on_call(self, call: RecordedCall) -> None:
        if not self.recording or call.method != "chat.postMessage" or not call.ok:
            return
        event_id = ask_houston_value(call.params.get("blocks")) or "(no event id)"
        key = (event_id, str(call.params.get("channel")))
        self.counts[key] += 1
        if key not in self._expected:
            self.unexpected.append(f"event {key[0]} in channel {key[1]}")
            return
        self.arrived_at.setdefault(key, call.received_at)
        if len(self.arrived_at) == len(self._expected):
            self.complete.set()

    def check(self) -> DeliveryCheck:
        missing = sorted(self._expected - self.counts.keys())
        duplicated = sorted(key for key in self._expected if self.counts[key] > 1)
        return DeliveryCheck(
            expected=len(self._expected),
            delivered=len(self.arrived_at),
            missing=tuple(missing),
            duplicated=tuple(duplicated),
            unexpected=tuple(self.unexpected),
        )


# --- The bot ----------------------------------------------------------------------------------------


def bot_environment(emulator: SlackEmulator) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.base_url,
        "MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET,
        "MISSIONCONTROL_AGENCY_ID": AGENCY_ID,
    }


async def start_bot(config: BenchConfig, emulator: SlackEmulator, database: Database) -> Runtime:
    settings = load_settings(bot_environment(emulator))
    delivery = DeliveryConfig(workers=config.workers)
    # Pacing would cap the 3 channels at about 3 messages per second; bench/flood.py measures it instead.
    runtime = build_runtime(settings, database=database, delivery_config=delivery, pacing=UNPACED)
    await runtime.start()
    return runtime


async def settle(runtime: Runtime) -> None:
    """Wait briefly for routing and delivery to go idle, so a late duplicate is still counted."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    try:
        await asyncio.wait_for(runtime.router.drain(), timeout=SETTLE_TIMEOUT_SECONDS)
    except TimeoutError:
        return
    while await runtime.storage.deliveries.list_by_state(states=[DeliveryState.PENDING], limit=1):
        if time.monotonic() > deadline:
            return
        await asyncio.sleep(0.05)


async def wait_for_messages(recorder: MessageRecorder, timeout: float) -> bool:
    """Wait until every expected message arrived, and return False when `timeout` seconds passed first."""
    try:
        await asyncio.wait_for(recorder.complete.wait(), timeout=timeout)
    except TimeoutError:
        logger.warning("Timed out waiting for messages (timeout %.1f s)", timeout)
        return False
    return True


def open_bench_database(uri: str | None) -> tuple[Database, str]:
    """Open a fresh database, named per run so a real server keeps earlier runs apart."""
    name = f"missioncontrol_bench_{secrets.token_hex(4)}"
    return open_database(uri, name), name


async def close_bench_database(database: Database, name: str) -> None:
    if not database.in_memory:
        await database.client.drop_database(name)
    await database.close()


# --- The run ----------------------------------------------------------------------------------------


async def run_benchmark(config: BenchConfig) -> BenchResult:
    """Measure the baseline, then the bot, and count how often each expected message arrived."""
    check_config(config)
    plan = plan_rules(config.rules)
    events = build_events(config.events, run_id=secrets.token_hex(3))
    batches = build_batches(events, config.batch)
    baseline = await measure_baseline(config, batches)

    event_ids = [str(event["id"]) for event in events]
    recorder = MessageRecorder(event_ids=event_ids, channels=plan.matching_channels)
    database, name = open_bench_database(config.mongodb_uri)
    try:
        async with SlackEmulator(team_id=TEAM_ID, bot_token=BOT_TOKEN, on_call=recorder.on_call) as emulator:
            bot, client = await measure_bot(config, plan, batches, recorder, emulator, database)
    finally:
        await close_bench_database(database, name)

    latencies = [arrived - client.started_at[event_id] for (event_id, _), arrived in recorder.arrived_at.items()]
    last_arrival = max(recorder.arrived_at.values(), default=client.first_start)
    return BenchResult(
        config=config,
        store="mongomock-motor (in memory)" if database.in_memory else "MongoDB",
        in_memory=database.in_memory,
        candidate_rules=plan.candidate_rules,
        baseline=baseline,
        bot=bot,
        check=recorder.check(),
        delivery_seconds=last_arrival - client.first_start,
        latency=summarize(latencies),
        peak_rss_bytes=peak_rss_bytes(),
    )


async def measure_bot(
    config: BenchConfig,
    plan: RulePlan,
    batches: Sequence[Batch],
    recorder: MessageRecorder,
    emulator: SlackEmulator,
    database: Database,
) -> tuple[PostStats, LoadClient]:
    """Start the bot, seed the rules, send the events and wait for every message."""
    runtime = await start_bot(config, emulator, database)
    runner: web.AppRunner | None = None
    try:
        await seed_rules(runtime, plan)
        runner, url = await serve_local(runtime.web_app)
        client = LoadClient(concurrency=config.concurrency, secret=EVENTS_SECRET)
        stats = await client.run(url, batches)
        if await wait_for_messages(recorder, config.timeout_seconds):
            await settle(runtime)
        # Messages that arrive while the bot shuts down came after the timeout, so they do not count.
        recorder.recording = False
    finally:
        if runner is not None:
            await runner.cleanup()
        await runtime.stop(delivery_timeout=STOP_TIMEOUT_SECONDS)
    return stats, client


def check_config(config: BenchConfig) -> None:
    if config.events < 1 or config.concurrency < 1 or config.workers < 1:
        raise BenchConfigError("--events, --concurrency and --workers must be at least 1")
    if not 1 <= config.batch <= MAX_BATCH_EVENTS:
        raise BenchConfigError(f"--batch must be between 1 and {MAX_BATCH_EVENTS}, got {config.batch}")
    proxies = [name for name in PROXY_VARIABLES if os.environ.get(name)]
    if proxies:
        # slack_sdk reads these variables and ignores NO_PROXY, so the bot's calls to the emulator on
        # 127.0.0.1 would go to the proxy instead.
        raise BenchConfigError(f"{proxies[0]} is set: unset the proxy variables to run the benchmark")


def peak_rss_bytes() -> int:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- Report -----------------------------------------------------------------------------------------


def format_report(result: BenchResult) -> list[str]:
    """Format the result as aligned "label  value" lines, followed by the first problems of a failed run."""
    rows = report_rows(result)
    width = max(len(label) for label, _ in rows) + 2
    return [f"{label:<{width}}{value}" for label, value in rows] + _format_problems(result)


def report_rows(result: BenchResult) -> list[tuple[str, str]]:
    config = result.config
    rows = [("store", result.store)]
    if result.in_memory:
        rows.append(("warning", MONGOMOCK_WARNING))
    rows += [
        ("events", f"{config.events} (batch {config.batch}, concurrency {config.concurrency})"),
        ("rules", _format_rules(result)),
        ("delivery workers", str(config.workers)),
        ("expected messages", str(result.check.expected)),
        ("delivered messages", _format_delivered(result.check)),
        ("bot POST", _format_post(result.bot)),
        ("baseline POST", _format_post(result.baseline)),
        ("bot / baseline", f"{result.throughput_ratio:.2f} (POST throughput ratio)"),
        ("end to end", _format_end_to_end(result)),
        ("POST to Slack latency", _format_latency(result.latency)),
        ("peak RSS", f"{result.peak_rss_bytes / 2**20:.1f} MiB (whole process: client, emulator, bot)"),
        ("result", "ok" if result.ok else "FAILED"),
    ]
    return rows


def _format_rules(result: BenchResult) -> str:
    return (
        f"{result.config.rules} ({len(MATCHING_RULES)} match each event, "
        f"{result.candidate_rules} under its agency and type)"
    )


def _format_delivered(check: DeliveryCheck) -> str:
    return (
        f"{check.delivered} (missing {len(check.missing)}, duplicated {len(check.duplicated)}, "
        f"unexpected {len(check.unexpected)})"
    )


def _format_end_to_end(result: BenchResult) -> str:
    return (
        f"{result.messages_per_second:.1f} messages/s "
        f"({result.check.delivered} messages in {result.delivery_seconds:.2f} s)"
    )


def _format_post(stats: PostStats) -> str:
    p50 = percentile(stats.latencies, 0.50) * 1000
    p99 = percentile(stats.latencies, 0.99) * 1000
    return (
        f"{stats.events_per_second:8.1f} events/s  p50 {p50:7.1f} ms  p99 {p99:7.1f} ms  "
        f"({stats.requests} requests in {stats.seconds:.2f} s, failures {len(stats.failures)})"
    )


def _format_latency(summary: LatencySummary | None) -> str:
    if summary is None:
        return "no messages arrived"
    values = {"p50": summary.p50, "p90": summary.p90, "p99": summary.p99, "max": summary.max}
    return "  ".join(f"{name} {seconds * 1000:.1f} ms" for name, seconds in values.items())


def _format_problems(result: BenchResult) -> list[str]:
    """List the first few problems of each kind, so a failed run shows what went wrong."""
    check = result.check
    problems = [f"missing: event {event} in channel {channel}" for event, channel in check.missing[:5]]
    problems += [f"duplicated: event {event} in channel {channel}" for event, channel in check.duplicated[:5]]
    problems += [f"unexpected: {message}" for message in check.unexpected[:5]]
    problems += [f"bot POST failure: {failure}" for failure in result.bot.failures[:5]]
    problems += [f"baseline POST failure: {failure}" for failure in result.baseline.failures[:5]]
    return problems


# --- Command line -----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> BenchConfig:
    defaults = BenchConfig()
    parser = argparse.ArgumentParser(
        prog="python -m bench.event_path",
        description="Measure the full event path (POST to Slack emulator) against a bare aiohttp baseline.",
    )
    parser.add_argument(
        "--events", type=int, default=defaults.events, help="outlier events to send (default %(default)s)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="requests in flight (default %(default)s)"
    )
    parser.add_argument(
        "--rules", type=int, default=defaults.rules, help="rules to seed, of which 3 match (default %(default)s)"
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=defaults.batch,
        help=f"events per request, 1 to {MAX_BATCH_EVENTS} (default %(default)s)",
    )
    parser.add_argument(
        "--workers", type=int, default=defaults.workers, help="delivery workers of the bot (default %(default)s)"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=defaults.timeout_seconds,
        help="seconds to wait for all messages after the last POST (default %(default)s)",
    )
    parser.add_argument(
        "--mongodb-uri",
        default=os.environ.get("MONGODB_URI"),
        help="MongoDB server URI (default: $MONGODB_URI, else the in-memory store). "
        "The run creates a fresh database and drops it at the end.",
    )
    args = parser.parse_args(argv)
    return BenchConfig(
        events=args.events,
        concurrency=args.concurrency,
        rules=args.rules,
        batch=args.batch,
        mongodb_uri=args.mongodb_uri or None,
        timeout_seconds=args.timeout,
        workers=args.workers,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    configure_logging(level="WARNING", fmt="text")
    try:
        result = asyncio.run(run_benchmark(config))
    except BenchConfigError as error:
        print(f"bench.event_path: {error}", file=sys.stderr)
        return 2
    for line in format_report(result):
        print(line)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
