"""`missioncontrol serve`: run the web server, routing and delivery until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from aiohttp import web

from bot.app import Runtime, StartError, build_runtime
from bot.logs import AccessLogger, configure_logging
from bot.seed import SeedError
from bot.settings import Settings, SlackMode

logger = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_SECONDS = 10.0


def serve(settings: Settings, *, seed_path: Path | None = None) -> int:
    configure_logging(level=settings.LOG_LEVEL, fmt=settings.LOG_FORMAT)
    try:
        return asyncio.run(_serve(settings, seed_path=seed_path))
    except (StartError, SeedError) as error:
        report_fatal(settings, str(error))
        return 1
    except KeyboardInterrupt:
        return 0


def report_fatal(settings: Settings, message: str) -> None:
    """Write why the start failed: one JSON log record with LOG_FORMAT=json, else one plain line on stderr."""
    if settings.LOG_FORMAT == "json":
        logger.critical(message)
    else:
        print(f"missioncontrol: {message}", file=sys.stderr)


async def _serve(settings: Settings, *, seed_path: Path | None) -> int:
    runtime = build_runtime(settings)
    _announce(settings, runtime)
    await runtime.start(seed_path=seed_path)
    runner = web.AppRunner(runtime.web_app, access_log_class=AccessLogger, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.HOST, settings.PORT)
    try:
        await site.start()
    except OSError as error:
        await runtime.stop()
        raise StartError(
            f"Cannot listen on {settings.HOST}:{settings.PORT} ({error.strerror}): set HOST to an address of this "
            "machine and PORT to a free port."
        ) from None
    # With PORT=0 the system picks the port, so the address comes from the bound socket.
    for address in runner.addresses:
        logger.info("Listening (address http://%s:%d)", address[0], address[1])

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()

    logger.info("Shutting down: no new requests; in-flight messages get %.0f seconds", SHUTDOWN_TIMEOUT_SECONDS)
    await site.stop()
    await runtime.stop(delivery_timeout=SHUTDOWN_TIMEOUT_SECONDS)
    await runner.cleanup()
    logger.info("Stopped")
    return 0


def _announce(settings: Settings, runtime: Runtime) -> None:
    mode = settings.slack_mode
    if mode is SlackMode.LOCAL:
        logger.warning(
            "Local mode: no Slack credentials are set, so messages are printed to standard output instead of "
            "being posted. Set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, MISSIONCONTROL_AGENCY_ID and "
            "MISSIONCONTROL_EVENTS_SECRET to post to Slack."
        )
    else:
        logger.info("Slack mode %s (API %s)", mode.value, settings.slack_api_url)
    if settings.uses_local_events_secret:
        logger.warning(
            "MISSIONCONTROL_EVENTS_SECRET is not set: /platform/events accepts the local development secret, "
            "which `missioncontrol send-event` also uses."
        )
    if runtime.storage.database.in_memory:
        logger.warning(
            "MONGODB_URI is not set: using an in-memory store; rules, events, deliveries and Slack installations "
            "are lost at exit."
        )
