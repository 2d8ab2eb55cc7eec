"""Wiring: build every part from the settings, start them in order, stop them in reverse.

Clients (database, Slack, clock, stdout) are created here or passed in, never at import time, so tests
build a complete `Runtime` around an emulator and an in-memory store.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from langchain_core.language_models import BaseChatModel
from pymongo.errors import PyMongoError
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.delivery import DeliveryConfig, DeliveryService
from bot.digest import DigestService
from bot.failed_deliveries import FailedDeliveries
from bot.houston_service import HoustonLimits, HoustonService
from bot.ingest import EventIngest
from bot.linking import LinkService
from bot.mending import ChannelMending
from bot.metrics import MeteredPoster, Metrics, metered_houston, metered_storage, metrics_handler
from bot.mongo_wait import MongoUnavailable, wait_for_mongodb
from bot.pacing import PacedPoster, Pacer, PacingConfig
from bot.posting import ConsolePoster, Poster, SingleWorkspaceTokens, SlackPoster
from bot.routing import Router
from bot.rule_index import RuleIndex
from bot.rule_preview import RulePreviewService
from bot.seed import SeedWorkspace, apply_seed, load_seed_file
from bot.settings import Settings, SlackMode
from bot.slack_setup import SlackSide, build_slack_side
from bot.snoozing import SnoozeService
from bot.stop_report import log_unsent_at_stop
from bot.test_messages import TestMessageService
from bot.web import create_web_app
from handlers import alert_bursts, channels, commands, deliveries, home, houston, lifecycle, rules
from handlers import digest as digest_handlers
from handlers import mending as mending_handlers
from handlers import snooze as snooze_handlers
from handlers.errors import on_error
from handlers.permissions import AdminCache
from handlers.services import CLOCK, EXT_SHARED, SERVICES, STORAGE, Services
from houston.agent import Houston, build_chat_model
from storage.database import Database, driver_reason, open_database
from storage.events import StoredEvent
from storage.store import Storage

logger = logging.getLogger(__name__)

EXAMPLES_SEED = Path(__file__).resolve().parent.parent / "examples" / "seed.yaml"


class StartError(Exception):
    """The bot cannot start; the message says why and what to do."""


@dataclass
class Identity:
    """The workspace a single-workspace bot token belongs to, from `auth.test`."""

    team_id: str
    team_name: str | None
    bot_user_id: str | None


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    storage: Storage
    index: RuleIndex
    router: Router
    delivery: DeliveryService
    digest: DigestService
    ingest: EventIngest
    bolt_app: AsyncApp | None
    slack_client: AsyncWebClient | None
    web_app: web.Application
    slack: SlackSide | None = None
    tokens: SingleWorkspaceTokens | None = None
    socket_mode: AsyncSocketModeHandler | None = None
    identity: Identity | None = None
    owns_database: bool = True
    snoozes: SnoozeService | None = None
    pacer: Pacer | None = None
    metrics: Metrics | None = None

    async def start(self, *, seed_path: Path | None = None) -> None:
        """Prepare storage, seed, identify the workspace, then start routing and delivery."""
        uri = self.settings.mongodb_uri
        if uri is not None and self.owns_database:
            try:
                await wait_for_mongodb(self.storage.database, uri, timeout=self.settings.MONGODB_START_TIMEOUT_SECONDS)
            except MongoUnavailable as error:
                raise StartError(str(error)) from None
        try:
            await self.storage.ensure_indexes()
            for ensure in self.slack.ensure_indexes if self.slack else []:
                await ensure()
        except PyMongoError as error:
            raise StartError(
                f"Creating the MongoDB indexes failed ({driver_reason(error)}): check that the MONGODB_URI user "
                "may create indexes in MONGODB_DATABASE, and that the server answers."
            ) from None
        if self.settings.slack_mode is SlackMode.SINGLE_WORKSPACE:
            self.identity = await self._identify_workspace()
        seed = seed_path
        if seed is None and self.settings.slack_mode is SlackMode.LOCAL and self.storage.database.in_memory:
            seed = EXAMPLES_SEED if EXAMPLES_SEED.exists() else None
        if seed is not None:
            await self._apply_seed(seed)
        await self.index.reload()
        self.index.start()
        # Events a previous process stored but did not route, and its pending deliveries, go out now.
        await self.router.sweep()
        self.router.start()
        self.delivery.start()
        if self.snoozes is not None:
            self.snoozes.start()
        await self.digest.start()
        if self.socket_mode is not None:
            # Slack traffic arrives over a WebSocket that the bot opens, instead of at /slack/events.
            await self.socket_mode.connect_async()
            logger.info("Socket Mode connected")

    async def stop(self, *, delivery_timeout: float = 10.0) -> None:
        """Stop routing, let in-flight posts finish within `delivery_timeout`, then close what this runtime owns."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        self.digest.stop()
        if self.snoozes is not None:
            await self.snoozes.stop()
        await self.router.stop()
        await self.delivery.stop(timeout=delivery_timeout)
        await log_unsent_at_stop(self.storage, self.clock)
        await self.index.stop()
        if self.slack_client is not None and self.slack_client.session is not None:
            await self.slack_client.session.close()
        if self.owns_database:
            await self.storage.database.close()

    async def _identify_workspace(self) -> Identity:
        assert self.slack_client is not None
        try:
            response = await self.slack_client.auth_test()
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            raise StartError(
                f"Slack rejected SLACK_BOT_TOKEN in auth.test ({code or error.response.status_code}): "
                "set the bot token of an installed app."
            ) from None
        except Exception as error:
            raise StartError(
                f"Cannot reach Slack at {self.settings.slack_api_url} ({type(error).__name__}): check SLACK_API_URL "
                "and the network."
            ) from None
        identity = Identity(
            team_id=str(response["team_id"]), team_name=response.get("team"), bot_user_id=response.get("user_id")
        )
        await self.storage.workspaces.upsert(
            team_id=identity.team_id,
            name=identity.team_name,
            agency_id=self.settings.MISSIONCONTROL_AGENCY_ID,
            client_id=self.settings.MISSIONCONTROL_CLIENT_ID,
            now=self.clock.now(),
            reactivate=True,
        )
        if self.tokens is not None:
            self.tokens.team_id = identity.team_id
        logger.info("Slack workspace identified (team %s, bot user %s)", identity.team_id, identity.bot_user_id)
        return identity

    async def _apply_seed(self, path: Path) -> None:
        seed = load_seed_file(path)
        default_workspace = None
        if self.identity is not None:
            default_workspace = SeedWorkspace(
                team_id=self.identity.team_id,
                name=self.identity.team_name,
                agency_id=self.settings.MISSIONCONTROL_AGENCY_ID,
                client_id=self.settings.MISSIONCONTROL_CLIENT_ID,
            )
        result = await apply_seed(
            seed,
            storage=self.storage,
            clock=self.clock,
            default_team_id=self.identity.team_id if self.identity else None,
            default_workspace=default_workspace,
        )
        logger.info(
            "Seed file loaded (file %s, workspaces %d, rules created %d, rules updated %d)",
            path,
            result.workspaces,
            result.rules_created,
            result.rules_updated,
        )
        self.index.mark_stale()


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    poster: Poster | None = None,
    stdout: TextIO | None = None,
    delivery_config: DeliveryConfig | None = None,
    digest_scheduler: bool = True,
    houston_model: BaseChatModel | None = None,
    pacing: PacingConfig | None = None,
) -> Runtime:
    """Create every part; nothing connects until `Runtime.start`.

    `digest_scheduler=False` leaves digests to explicit `runtime.digest.run_due()` calls (tests move a fake
    clock instead of waiting for APScheduler's wall-clock triggers). `houston_model` replaces the model the
    settings configure (tests pass a scripted one). `pacing` sets the per-channel rate of Slack calls.
    """
    clock = clock or SystemClock()
    owns_database = database is None
    database = database or open_database(settings.mongodb_uri, settings.MONGODB_DATABASE)
    storage = Storage.create(
        database,
        retention_days=settings.MISSIONCONTROL_RETENTION_DAYS,
        delivery_retention_days=settings.delivery_retention_days,
        houston_retention_days=settings.houston_retention_days,
    )
    index = RuleIndex(storage)
    slack = build_slack_side(
        settings, storage=storage, database=database, clock=clock, on_workspace_change=index.mark_stale
    )
    metrics = Metrics()
    pacer = None
    if poster is None:
        poster = SlackPoster(client=slack.client, tokens=slack.tokens) if slack else ConsolePoster(stdout)
    # Pacing sits outside the timing, so the latency metric measures Slack, not the wait for a slot.
    poster = MeteredPoster(poster, metrics)
    delivery_poster: Poster = poster
    if slack is not None or pacing is not None:
        # One pacer per process: every worker and every interactive post shares the buckets and 429 pauses.
        pacer = Pacer(pacing)
        delivery_poster = PacedPoster(poster, pacer, defer_after=pacer.config.defer_after_seconds)
        poster = PacedPoster(poster, pacer)
    counted_storage = metered_storage(storage, metrics)
    mending = ChannelMending(
        storage=storage, clock=clock, client=slack.client if slack else None, tokens=slack.tokens if slack else None
    )
    delivery = DeliveryService(
        storage=counted_storage,
        poster=delivery_poster,
        index=index,
        clock=clock,
        web_url=settings.web_url,
        config=delivery_config,
        mending=mending,
    )
    snoozes = SnoozeService(storage=storage, poster=poster, clock=clock)
    router = Router(storage=storage, index=index, clock=clock, on_deliveries=delivery.wake)
    digest = DigestService(
        storage=counted_storage,
        poster=poster,
        clock=clock,
        index=index,
        web_url=settings.web_url,
        owner=delivery.owner,
        # A busy event loop may fire a trigger late; APScheduler's default grace of one second would then skip
        # the day's digest, so late triggers still run (the claim keeps them to one per day).
        scheduler=AsyncIOScheduler(timezone="UTC", job_defaults={"misfire_grace_time": None, "coalesce": True})
        if digest_scheduler
        else None,
    )
    houston_service = _build_houston(settings, storage=storage, clock=clock, model=houston_model, metrics=metrics)
    if slack is not None:
        _wire_handlers(
            slack,
            settings=settings,
            storage=storage,
            clock=clock,
            poster=poster,
            index=index,
            digest=digest,
            houston_service=houston_service,
            snoozes=snoozes,
            mending=mending,
            failed=FailedDeliveries(storage=storage, clock=clock, wake=delivery.wake),
        )

    def on_stored(events: list[StoredEvent]) -> None:
        router.submit(events)

    ingest = EventIngest(
        events=storage.events,
        secrets=settings.events_secrets,
        clock=clock,
        on_stored=on_stored,
        on_received=metrics.event_received,
    )
    web_app = create_web_app(
        ingest=ingest,
        bolt_app=slack.app if slack else None,
        oauth_flow=slack.oauth_flow if slack else None,
        ready=database.ping,
        metrics=metrics_handler(
            metrics,
            storage=storage,
            clock=clock,
            token=settings.METRICS_TOKEN.get_secret_value() if settings.METRICS_TOKEN else None,
        ),
    )
    return Runtime(
        settings=settings,
        clock=clock,
        storage=storage,
        index=index,
        router=router,
        delivery=delivery,
        digest=digest,
        ingest=ingest,
        bolt_app=slack.app if slack else None,
        slack_client=slack.client if slack else None,
        web_app=web_app,
        slack=slack,
        tokens=slack.single_workspace_tokens if slack else None,
        socket_mode=_build_socket_mode(settings, slack),
        owns_database=owns_database,
        snoozes=snoozes,
        pacer=pacer,
        metrics=metrics,
    )


def _build_houston(
    settings: Settings, *, storage: Storage, clock: Clock, model: BaseChatModel | None, metrics: Metrics
) -> HoustonService:
    """Build Houston with the configured model (or the given one); without a model it answers how to set one."""
    if model is None and settings.houston_configured:
        assert settings.HOUSTON_MODEL is not None
        # A local OpenAI-compatible server (OPENAI_BASE_URL) may need no key, but the client insists on one.
        api_key = settings.OPENAI_API_KEY.get_secret_value() if settings.OPENAI_API_KEY else "not-needed"
        model = build_chat_model(api_key=api_key, base_url=settings.OPENAI_BASE_URL, model_name=settings.HOUSTON_MODEL)
    limits = HoustonLimits(
        per_user_hour=settings.HOUSTON_QUESTIONS_PER_USER_HOUR,
        per_workspace_hour=settings.HOUSTON_QUESTIONS_PER_WORKSPACE_HOUR,
        timeout_seconds=settings.HOUSTON_TIMEOUT_SECONDS,
    )
    agent = metered_houston(Houston.create(model, storage), metrics) if model is not None else None
    return HoustonService(
        storage=storage, houston=agent, clock=clock, limits=limits, endpoint=settings.houston_endpoint
    )


def _build_socket_mode(settings: Settings, slack: SlackSide | None) -> AsyncSocketModeHandler | None:
    if settings.SLACK_APP_TOKEN is None or slack is None:
        return None
    token = settings.SLACK_APP_TOKEN.get_secret_value()
    return AsyncSocketModeHandler(slack.app, app_token=token, web_client=slack.client)


def _wire_handlers(
    slack: SlackSide,
    *,
    settings: Settings,
    storage: Storage,
    clock: Clock,
    poster: Poster,
    index: RuleIndex,
    digest: DigestService,
    houston_service: HoustonService,
    snoozes: SnoozeService,
    mending: ChannelMending,
    failed: FailedDeliveries,
) -> None:
    test_messages = TestMessageService(
        storage=storage, poster=poster, clock=clock, index=index, web_url=settings.web_url
    )
    linker = None
    if slack.grants is not None:
        linker = LinkService(
            storage=storage,
            grants=slack.grants,
            install_secrets=settings.install_secrets,
            clock=clock,
            on_change=index.mark_stale,
        )
    services = Services(
        test_messages=test_messages,
        rules_changed=index.mark_stale,
        admin_cache=AdminCache(),
        linker=linker,
        revocation=slack.revocation,
        digest=digest,
        houston=houston_service,
        rule_preview=RulePreviewService(storage=storage, clock=clock),
        snoozes=snoozes,
        mending=mending,
        deliveries=failed,
    )

    @slack.app.middleware
    async def inject_services(context: AsyncBoltContext, body: dict[str, Any], next: Any) -> None:
        # Handlers never import bot/: they find what they need in Bolt's context.
        context[STORAGE] = storage
        context[CLOCK] = clock
        context[SERVICES] = services
        context[EXT_SHARED] = body.get("is_ext_shared_channel") is True
        await next()

    slack.app.error(on_error)
    commands.register(slack.app)
    home.register(slack.app)
    rules.register(slack.app)
    channels.register(slack.app)
    lifecycle.register(slack.app)
    houston.register(slack.app)
    digest_handlers.register(slack.app)
    alert_bursts.register(slack.app)
    snooze_handlers.register(slack.app)
    mending_handlers.register(slack.app)
    deliveries.register(slack.app)


__all__ = ["Runtime", "StartError", "build_runtime"]
