"""Peer: the ingest, flood and fault workloads through Prometheus Alertmanager, next to the bot's figures.

Runs only where Debian's `prometheus-alertmanager` is installed (`apt-get install prometheus-alertmanager`).
Alertmanager listens on 127.0.0.1 with clustering off, and its routes mirror the bot's rules: one route per
channel, matched on the alert's `channel` label, each with a Slack receiver whose `api_url` is a webhook
recorder on 127.0.0.1. `group_by: ['...']` gives every alert its own group, so each alert becomes one Slack
message, as each event does in the bot. The bot's figures come from `bench.ingest`, `bench.flood` and
`bench.fault`, run in the same process with the same sizes.

    python -m bench.peer [--events 2000] [--flood-events 1000] [--flood-rate 10] [--fault-scale 1]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench import fault, flood, ingest
from bench.common import machine_line, serve_app

ALERTMANAGER = "prometheus-alertmanager"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_SECONDS = 20.0


class PeerUnavailable(Exception):
    """Alertmanager is not installed, or did not start."""


@dataclass
class WebhookRecorder:
    """A Slack incoming-webhook stand-in: records each message's alerts and fails during scripted windows."""

    posted: Counter[str] = field(default_factory=Counter)
    arrivals: list[float] = field(default_factory=list)
    statuses: list[tuple[float, int]] = field(default_factory=list)
    failures: list[tuple[float, float, int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        body = await request.json()
        for start, end, status in self.failures:
            if start <= now < end:
                self.statuses.append((now, status))
                headers = {"Retry-After": "2"} if status == 429 else {}
                return web.Response(status=status, text="rate_limited" if status == 429 else "error", headers=headers)
        self.statuses.append((now, 200))
        text = " ".join(attachment.get("text", "") for attachment in body.get("attachments", []))
        for key in text.split():
            self.posted[key] += 1
        self.arrivals.append(now)
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook/{channel}", self.handle)
        return app


def config_yaml(webhook_base: str, channels: Sequence[str]) -> str:
    routes = "\n".join(
        f"    - matchers: ['channel=\"{channel}\"']\n      receiver: slack-{channel}" for channel in channels
    )
    receivers = "\n".join(
        f"  - name: slack-{channel}\n"
        "    slack_configs:\n"
        f"      - api_url: {webhook_base}/hook/{channel}\n"
        f"        channel: '#{channel}'\n"
        "        send_resolved: false\n"
        "        text: '{{ range .Alerts }}{{ .Labels.event }} {{ end }}'"
        for channel in channels
    )
    return (
        "route:\n"
        "  receiver: default\n"
        "  group_by: ['...']\n"
        "  group_wait: 0s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 24h\n"
        "  routes:\n"
        f"{routes}\n"
        "receivers:\n"
        "  - name: default\n"
        f"{receivers}\n"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class Alertmanager:
    def __init__(self, config: str) -> None:
        if shutil.which(ALERTMANAGER) is None:
            raise PeerUnavailable(f"{ALERTMANAGER} is not installed: apt-get install prometheus-alertmanager")
        self._directory = tempfile.TemporaryDirectory(prefix="bench-alertmanager-")
        path = Path(self._directory.name)
        (path / "alertmanager.yml").write_text(config, encoding="utf-8")
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self._stderr = (path / "stderr.txt").open("w")
        self._process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={path / 'alertmanager.yml'}",
                f"--storage.path={path / 'data'}",
                f"--web.listen-address={HOST}:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    async def ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self._process.poll() is not None:
                    raise PeerUnavailable(f"{ALERTMANAGER} exited with status {self._process.returncode}")
                try:
                    async with session.get(f"{self.url}/-/ready") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise PeerUnavailable(f"{ALERTMANAGER} was not ready within {STARTUP_TIMEOUT_SECONDS} seconds")

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()
        self._directory.cleanup()


def alerts(count: int, channels: Sequence[str], prefix: str) -> list[dict[str, Any]]:
    now = datetime.now(UTC).isoformat()
    return [
        {
            "labels": {
                "alertname": "OutlierDetected",
                "event": f"{prefix}-{number:06d}",
                "channel": channels[number % len(channels)],
            },
            "annotations": {"summary": "CPA spike"},
            "startsAt": now,
        }
        for number in range(count)
    ]


async def post_alerts(session: aiohttp.ClientSession, url: str, batch: Sequence[dict[str, Any]]) -> int:
    async with session.post(f"{url}/api/v2/alerts", json=list(batch)) as response:
        await response.read()
        return response.status


@dataclass(frozen=True)
class PeerFigures:
    ingest_per_second: float
    flood_posted: int
    flood_duplicates: int
    flood_seconds: float
    flood_peak: int
    fault_accepted: int
    fault_posted: int
    fault_duplicates: int
    fault_rejected_429: int


async def _with_peer(channels: Sequence[str], recorder: WebhookRecorder) -> tuple[Alertmanager, web.AppRunner]:
    runner, url = await serve_app(recorder.app())
    base = url.removesuffix("/platform/events")
    manager = Alertmanager(config_yaml(base, channels))
    await manager.ready()
    return manager, runner


async def peer_ingest(events: int) -> float:
    recorder = WebhookRecorder()
    manager, runner = await _with_peer(["C0INGEST"], recorder)
    try:
        batches = [alerts(events, ["C0INGEST"], "ingest")[start : start + 10] for start in range(0, events, 10)]
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            pending = iter(batches)

            async def work() -> None:
                for batch in pending:
                    await post_alerts(session, manager.url, batch)

            await asyncio.gather(*(work() for _ in range(20)))
            return events / (time.monotonic() - started)
    finally:
        manager.stop()
        await runner.cleanup()


async def peer_flood(events: int, window: float, timeout: float) -> tuple[int, int, float, int]:
    recorder = WebhookRecorder()
    manager, runner = await _with_peer(["C0FLOOD"], recorder)
    try:
        batch_alerts = alerts(events, ["C0FLOOD"], "flood")
        batches = [batch_alerts[start : start + 10] for start in range(0, events, 10)]
        interval = window / max(1, len(batches))
        async with aiohttp.ClientSession() as session:
            started = time.monotonic()
            for number, batch in enumerate(batches):
                await asyncio.sleep(max(0.0, started + number * interval - time.monotonic()))
                await post_alerts(session, manager.url, batch)
            while len(recorder.posted) < events and time.monotonic() < started + timeout:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
        last = max(recorder.arrivals, default=started)
        duplicates = sum(count - 1 for count in recorder.posted.values())
        return len(recorder.posted), duplicates, last - started, _peak(recorder.arrivals)
    finally:
        manager.stop()
        await runner.cleanup()


async def peer_fault(events: int, channels: int, scale: float, timeout: float) -> tuple[int, int, int, int]:
    recorder = WebhookRecorder()
    names = [f"C0FAULT{number:02d}" for number in range(channels)]
    manager, runner = await _with_peer(names, recorder)
    try:
        start = time.monotonic()
        recorder.failures = [(start, start + 20 * scale, 500), (start + 20 * scale, start + 30 * scale, 429)]
        batch_alerts = alerts(events, names, "fault")
        batches = [batch_alerts[offset : offset + 5] for offset in range(0, events, 5)]
        interval = 25 * scale / max(1, len(batches))
        accepted = 0
        async with aiohttp.ClientSession() as session:
            for number, batch in enumerate(batches):
                await asyncio.sleep(max(0.0, start + number * interval - time.monotonic()))
                if await post_alerts(session, manager.url, batch) == 200:
                    accepted += len(batch)
            while len(recorder.posted) < accepted and time.monotonic() < start + timeout:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
        duplicates = sum(count - 1 for count in recorder.posted.values())
        rejected = sum(1 for _, status in recorder.statuses if status == 429)
        return accepted, len(recorder.posted), duplicates, rejected
    finally:
        manager.stop()
        await runner.cleanup()


def _peak(times: Sequence[float]) -> int:
    ordered = sorted(times)
    peak, first = 0, 0
    for last, moment in enumerate(ordered):
        while moment - ordered[first] >= 1.0:
            first += 1
        peak = max(peak, last - first + 1)
    return peak


@dataclass(frozen=True)
class PeerConfig:
    events: int = 2_000
    flood_events: int = 1_000
    flood_rate: float = 10.0
    fault_events: int = 200
    fault_scale: float = 1.0
    timeout_seconds: float = 300.0


async def run(config: PeerConfig) -> list[str]:
    bot_ingest = await ingest.run(ingest.IngestConfig(events=config.events, quiet_pipeline=True))
    peer_rate = await peer_ingest(config.events)
    bot_flood = await flood.run(flood.FloodConfig(events=config.flood_events, rate=config.flood_rate))
    peer_posted, peer_dup, peer_seconds, peer_peak = await peer_flood(config.flood_events, 10.0, config.timeout_seconds)
    bot_fault = await fault.run(fault.FaultConfig(events=config.fault_events, scale=config.fault_scale))
    accepted, posted, duplicates, rejected = await peer_fault(
        config.fault_events, 5, config.fault_scale, config.timeout_seconds
    )
    return [
        machine_line(),
        bot_ingest.store_line,
        f"{'workload':<44} {'bot':>22} {'Alertmanager 0.25':>22}",
        _row("ingest events/s (POST, 10 per request)", f"{bot_ingest.bot.events_per_second:.0f}", f"{peer_rate:.0f}"),
        # The bot shows the flood as living messages (a post and an edited burst summary), Alertmanager as one
        # message per alert: both rows count top-level messages, and the bot's calls include its edits.
        _row(
            f"flood: top-level messages for {config.flood_events} events",
            str(bot_flood.tally.top_level),
            str(peer_posted),
        ),
        _row("flood: duplicates", str(bot_flood.duplicates), str(peer_dup)),
        _row("flood: peak calls in one second", str(bot_flood.tally.peak_calls_per_second), str(peer_peak)),
        _row("flood: seconds until all visible", f"{bot_flood.seconds_to_visible:.1f}", f"{peer_seconds:.1f}"),
        _row(f"fault: accepted of {config.fault_events}", str(bot_fault.accepted), str(accepted)),
        _row("fault: posted (bot: before Retry all)", str(bot_fault.posted_before_retry), str(posted)),
        _row("fault: lost (bot: neither posted nor listed)", str(bot_fault.lost), str(accepted - posted)),
        _row("fault: duplicates", str(bot_fault.duplicates), str(duplicates)),
        _row("fault: calls rejected with 429", str(bot_fault.rejected_429), str(rejected)),
        f"bot flood pacing: {config.flood_rate:g} messages/s per channel; Alertmanager does not pace.",
    ]


def _row(label: str, bot: str, peer: str) -> str:
    return f"{label:<44} {bot:>22} {peer:>22}"


def parse_args(argv: Sequence[str] | None) -> PeerConfig:
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000, help="events for the ingest workload (default 2000)")
    parser.add_argument("--flood-events", type=int, default=1_000, help="events for the flood (default 1000)")
    parser.add_argument("--flood-rate", type=float, default=10.0, help="the bot's pacing in the flood (default 10)")
    parser.add_argument("--fault-events", type=int, default=200, help="events for the fault run (default 200)")
    parser.add_argument("--fault-scale", type=float, default=1.0, help="multiplies the fault timeline (default 1)")
    args = parser.parse_args(argv)
    if min(args.events, args.flood_events, args.fault_events) < 1 or args.flood_rate <= 0 or args.fault_scale <= 0:
        parser.error("event counts must be at least 1, and --flood-rate and --fault-scale above 0")
    return PeerConfig(
        events=args.events,
        flood_events=args.flood_events,
        flood_rate=args.flood_rate,
        fault_events=args.fault_events,
        fault_scale=args.fault_scale,
    )


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    try:
        lines = asyncio.run(run(config))
    except PeerUnavailable as error:
        print(f"peer benchmark skipped: {error}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
