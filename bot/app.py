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
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, SystemClock
from bot.delivery import DeliveryConfig, DeliveryService
from bot.ingest import EventIngest
from bot.posting import ConsolePoster, Poster, SingleWorkspaceTokens, SlackPoster
from bot.routing import Router
from bot.rule_index import RuleIndex
from bot.seed import SeedWorkspace, apply_seed, load_seed_file
from bot.settings import Settings, SlackMode
from bot.test_messages import TestMessageService
from bot.web import create_web_app
from handlers import channels, commands, home, lifecycle, rules
from handlers.permissions import AdminCache
from handlers.services import CLOCK, SERVICES, STORAGE, Services
from storage.database import Database, open_database
from storage.events import StoredEvent
from storage.store import Storage

logger = logging.getLogger(__name__)

EXAMPLES_SEED = Path(__file__).resolve().parent.parent / "examples" / "seed.yaml"
SLACK_TIMEOUT_SECONDS = 10


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
    ingest: EventIngest
    bolt_app: AsyncApp | None
    slack_client: AsyncWebClient | None
    web_app: web.Application
    tokens: SingleWorkspaceTokens | None = None
    socket_mode: AsyncSocketModeHandler | None = None
    identity: Identity | None = None
    owns_database: bool = True

    async def start(self, *, seed_path: Path | None = None) -> None:
        """Prepare storage, seed, identify the workspace, then start routing and delivery."""
        await self.storage.ensure_indexes()
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
        if self.socket_mode is not None:
            # Slack traffic arrives over a WebSocket that the bot opens, instead of at /slack/events.
            await self.socket_mode.connect_async()
            logger.info("Socket Mode connected")

    async def stop(self, *, delivery_timeout: float = 10.0) -> None:
        """Stop routing, let in-flight posts finish within `delivery_timeout`, then close what this runtime owns."""
        if self.socket_mode is not None:
            await self.socket_mode.close_async()
        await self.router.stop()
        await self.delivery.stop(timeout=delivery_timeout)
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
) -> Runtime:
    """Create every part; nothing connects until `Runtime.start`."""
    if settings.slack_mode is SlackMode.OAUTH:
        # TODO: OAuth distribution (install pages, MongoDB installation store) is not built yet.
        raise StartError("OAuth mode (SLACK_CLIENT_ID) is not available yet: set SLACK_BOT_TOKEN for one workspace.")
    clock = clock or SystemClock()
    owns_database = database is None
    database = database or open_database(settings.mongodb_uri, settings.MONGODB_DATABASE)
    storage = Storage.create(database, retention_days=settings.MISSIONCONTROL_RETENTION_DAYS)
    index = RuleIndex(storage)
    slack_client, bolt_app = _build_slack(settings)
    tokens = None
    if settings.SLACK_BOT_TOKEN is not None:
        tokens = SingleWorkspaceTokens(settings.SLACK_BOT_TOKEN.get_secret_value())
    if poster is None:
        poster = _build_poster(slack_client, tokens, stdout)
    delivery = DeliveryService(
        storage=storage, poster=poster, index=index, clock=clock, web_url=settings.web_url, config=delivery_config
    )
    router = Router(storage=storage, index=index, clock=clock, on_deliveries=delivery.wake)
    if bolt_app is not None:
        test_messages = TestMessageService(
            storage=storage, poster=poster, clock=clock, index=index, web_url=settings.web_url
        )
        services = Services(test_messages=test_messages, rules_changed=index.mark_stale, admin_cache=AdminCache())
        _wire_handlers(bolt_app, storage=storage, clock=clock, services=services)

    def on_stored(events: list[StoredEvent]) -> None:
        router.submit(events)

    ingest = EventIngest(events=storage.events, secrets=settings.events_secrets, clock=clock, on_stored=on_stored)
    web_app = create_web_app(ingest=ingest, bolt_app=bolt_app, ready=database.ping)
    return Runtime(
        settings=settings,
        clock=clock,
        storage=storage,
        index=index,
        router=router,
        delivery=delivery,
        ingest=ingest,
        bolt_app=bolt_app,
        slack_client=slack_client,
        web_app=web_app,
        tokens=tokens,
        socket_mode=_build_socket_mode(settings, bolt_app, slack_client),
        owns_database=owns_database,
    )


def _build_poster(
    slack_client: AsyncWebClient | None, tokens: SingleWorkspaceTokens | None, stdout: TextIO | None
) -> Poster:
    if slack_client is None or tokens is None:
        return ConsolePoster(stdout)
    return SlackPoster(client=slack_client, tokens=tokens)


def _build_slack(settings: Settings) -> tuple[AsyncWebClient | None, AsyncApp | None]:
    if settings.slack_mode is SlackMode.LOCAL:
        return None, None
    assert settings.SLACK_BOT_TOKEN is not None
    client = AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_SECONDS,
        logger=logging.getLogger("slack_sdk.web"),
    )
    signing_secret = settings.SLACK_SIGNING_SECRET.get_secret_value() if settings.SLACK_SIGNING_SECRET else None
    app = AsyncApp(client=client, signing_secret=signing_secret, logger=logging.getLogger("slack_bolt"))
    return client, app


def _build_socket_mode(
    settings: Settings, bolt_app: AsyncApp | None, client: AsyncWebClient | None
) -> AsyncSocketModeHandler | None:
    if settings.SLACK_APP_TOKEN is None or bolt_app is None:
        return None
    return AsyncSocketModeHandler(bolt_app, app_token=settings.SLACK_APP_TOKEN.get_secret_value(), web_client=client)


def _wire_handlers(app: AsyncApp, *, storage: Storage, clock: Clock, services: Services) -> None:
    @app.middleware
    async def inject_services(context: AsyncBoltContext, next: Any) -> None:
        # Handlers never import bot/: they find what they need in Bolt's context.
        context[STORAGE] = storage
        context[CLOCK] = clock
        context[SERVICES] = services
        await next()

    commands.register(app)
    home.register(app)
    rules.register(app)
    channels.register(app)
    lifecycle.register(app)


__all__ = ["Runtime", "StartError", "build_runtime"]
