"""What the delivery benchmarks share: a bot in single-workspace mode against the Slack emulator, on 127.0.0.1.

Each benchmark prints its figures, the store it ran on and a baseline measured in the same run. mongomock
scans every document on each query, so figures on the in-memory store say nothing about MongoDB's indexes.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import secrets
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.event_path import close_bench_database, open_bench_database, serve_local
from bot.app import Runtime, build_runtime
from bot.delivery import DeliveryConfig
from bot.pacing import PacingConfig
from bot.settings import load_settings
from bot.signing import signed_headers
from storage.models import DeliveryState
from tests.slack_emulator import RecordedCall, SlackEmulator

TEAM_ID = "T0001"
BOT_TOKEN = "xoxb-bench-token"
EVENTS_SECRET = "bench-events-secret"
AGENCY_ID = "ag-acme"
EXAMPLE_EVENT = Path(__file__).resolve().parent.parent / "examples" / "events" / "outlier_detected.json"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")
MONGOMOCK_NOTE = "mongomock scans every document on each query: these figures say nothing about MongoDB's indexes"


class BenchSetupError(Exception):
    """The environment would send the bot's Slack calls past 127.0.0.1 (a proxy is set)."""


def check_no_proxy() -> None:
    # slack_sdk sends Web API calls through HTTP(S)_PROXY and ignores NO_PROXY, which would leave 127.0.0.1.
    present = [name for name in PROXY_VARIABLES if os.environ.get(name)]
    if present:
        raise BenchSetupError(
            f"{present[0]} is set: unset it, because slack_sdk would send the emulator calls through it."
        )


def outlier_events(count: int, *, client_id: str = "cl-alpha", run_id: str | None = None) -> list[dict[str, Any]]:
    """Copy the outlier example `count` times with unique event and outlier ids; the definition names the event."""
    template = json.loads(EXAMPLE_EVENT.read_text(encoding="utf-8"))
    run = run_id or secrets.token_hex(3)
    occurred_at = datetime.now(UTC).isoformat(timespec="seconds")
    events = []
    for number in range(count):
        key = f"{run}-{number:06d}"
        data = {**template["data"], "outlier_id": f"out-{key}", "definition": f"Bench {key}"}
        events.append(
            {**template, "id": f"evt-{key}", "occurred_at": occurred_at, "client_id": client_id, "data": data}
        )
    return events


def event_key(call: RecordedCall) -> str | None:
    """Return the event key a recorded chat.postMessage announced, from the definition in its blocks."""
    text = json.dumps(call.params.get("blocks") or [])
    marker = text.find("Bench ")
    if marker < 0:
        return None
    end = marker + len("Bench ")
    while end < len(text) and (text[end].isalnum() or text[end] == "-"):
        end += 1
    return text[marker + len("Bench ") : end]


class MessageLog:
    """Records when each event's successful chat.postMessage arrived, and every call's status."""

    def __init__(self) -> None:
        self.posted: dict[str, list[float]] = {}
        self.statuses: list[tuple[float, int]] = []

    def on_call(self, call: RecordedCall) -> None:
        if call.method != "chat.postMessage":
            return
        self.statuses.append((call.received_at, call.status))
        if call.ok:
            key = event_key(call)
            if key is not None:
                self.posted.setdefault(key, []).append(call.received_at)

    @property
    def duplicates(self) -> int:
        return sum(len(times) - 1 for times in self.posted.values())

    def peak_per_second(self) -> int:
        """Return the most messages posted within any one-second window."""
        times = sorted(time_ for times in self.posted.values() for time_ in times)
        peak, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= 1.0:
                start += 1
            peak = max(peak, end - start + 1)
        return peak


@dataclass
class BenchBot:
    runtime: Runtime
    emulator: SlackEmulator
    url: str
    store: str
    in_memory: bool

    def store_line(self) -> str:
        if self.in_memory:
            return f"store: mongomock-motor (in memory); {MONGOMOCK_NOTE}"
        return "store: MongoDB"

    async def count(self, state: DeliveryState) -> int:
        return await self.runtime.storage.deliveries.count_for_team(TEAM_ID, state)


@asynccontextmanager
async def running_bot(
    *,
    mongodb_uri: str | None,
    pacing: PacingConfig | None = None,
    delivery: DeliveryConfig | None = None,
    rules_seed: Sequence[tuple[str, str | None]] = (),
    start_workers: bool = True,
    on_call: Callable[[RecordedCall], None] | None = None,
    burst_threshold: int | None = None,
) -> AsyncIterator[BenchBot]:
    """Start the emulator and a served bot; `rules_seed` lists (channel, client id) outlier rules to add.

    `burst_threshold` replaces the rules' default (1) when given.
    """
    check_no_proxy()
    database, name = open_bench_database(mongodb_uri)
    try:
        async with SlackEmulator(team_id=TEAM_ID, bot_token=BOT_TOKEN, on_call=on_call) as emulator:
            env = {
                "SLACK_BOT_TOKEN": BOT_TOKEN,
                "SLACK_SIGNING_SECRET": "bench-signing-secret",
                "SLACK_API_URL": emulator.base_url,
                "MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET,
                "MISSIONCONTROL_AGENCY_ID": AGENCY_ID,
            }
            runtime = build_runtime(
                load_settings(env), database=database, delivery_config=delivery, pacing=pacing, digest_scheduler=False
            )
            await runtime.start()
            await seed_outlier_rules(runtime, rules_seed, burst_threshold=burst_threshold)
            if not start_workers:
                await runtime.delivery.stop(timeout=0)
            runner, url = await serve_local(runtime.web_app)
            try:
                yield BenchBot(
                    runtime=runtime,
                    emulator=emulator,
                    url=url,
                    store="mongomock-motor" if database.in_memory else "MongoDB",
                    in_memory=database.in_memory,
                )
            finally:
                await runner.cleanup()
                await runtime.stop(delivery_timeout=2.0)
    finally:
        await close_bench_database(database, name)


async def seed_outlier_rules(
    runtime: Runtime, rules: Sequence[tuple[str, str | None]], *, burst_threshold: int | None = None
) -> None:
    from storage.models import NotificationType
    from storage.rules import RuleSpec

    now = runtime.clock.now()
    for channel, client_id in rules:
        rule = await runtime.storage.rules.create(
            RuleSpec(TEAM_ID, channel, NotificationType.OUTLIER_ALERTS, client_id=client_id), now=now
        )
        if burst_threshold is not None:
            await runtime.storage.rules.set_burst_policy(
                rule.id, window_seconds=rule.burst_window_seconds, threshold=burst_threshold, now=now
            )
    runtime.index.mark_stale()
    await runtime.index.reload()


async def post_events(session: aiohttp.ClientSession, url: str, events: Sequence[dict[str, Any]]) -> int:
    """POST one signed batch and return the HTTP status."""
    body = json.dumps({"events": list(events)} if len(events) > 1 else events[0]).encode()
    headers = signed_headers(EVENTS_SECRET, body, now=time.time())
    async with session.post(url, data=body, headers=headers) as response:
        await response.read()
        return response.status


def peak_rss_mib() -> float:
    """Return the process's peak resident set size (VmHWM), in MiB."""
    return _status_mib("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_rss_mib() -> float:
    """Return the process's resident set size now (VmRSS), in MiB; both come from the same kernel counters."""
    return _status_mib("VmRSS") or float("nan")


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def machine_line() -> str:
    model = _cpu_model() or platform.machine()
    return f"machine: {os.cpu_count()} CPUs, {model}, {_memory_gib():.1f} GiB RAM, Python {platform.python_version()}"


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        return None
    return None


def _memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3


async def serve_app(app: web.Application) -> tuple[web.AppRunner, str]:
    return await serve_local(app)
