"""Build the Slack side of the bot for its mode: the Web API client, the Bolt app and the token source.

Single-workspace mode takes one token from the environment. OAuth mode keeps every workspace's tokens in
MongoDB (encrypted when MISSIONCONTROL_ENCRYPTION_KEY is set) and passes explicit `oauth_settings`, because
without them `AsyncApp` builds file-based stores that keep tokens in plain text.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.listener.async_builtins import AsyncTokenRevocationListeners
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.oauth import CALLBACK_OPTIONS, MissionControlOAuthFlow
from bot.posting import InstallationTokens, SingleWorkspaceTokens, TokenSource
from bot.settings import Settings, SlackMode
from storage.crypto import TokenCipher
from storage.database import Database
from storage.grants import GrantRepository
from storage.installations import MongoInstallationStore
from storage.oauth_states import MongoOAuthStateStore
from storage.store import Storage

logger = logging.getLogger(__name__)

SLACK_TIMEOUT_SECONDS = 10
# The bot scopes of manifest.yml; a test keeps the two lists equal.
BOT_SCOPES = [
    "chat:write",
    "commands",
    "channels:read",
    "groups:read",
    "users:read",
    "files:write",
    "channels:join",
    "im:write",
    "app_mentions:read",
    "channels:history",
    "groups:history",
    "im:history",
]
STATE_EXPIRATION_SECONDS = 600


@dataclass
class SlackSide:
    client: AsyncWebClient
    app: AsyncApp
    tokens: TokenSource
    single_workspace_tokens: SingleWorkspaceTokens | None = None
    oauth_flow: MissionControlOAuthFlow | None = None
    grants: GrantRepository | None = None
    revocation: AsyncTokenRevocationListeners | None = None
    # Index builders of the collections this mode adds, run at start with the others.
    ensure_indexes: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def build_slack_side(
    settings: Settings,
    *,
    storage: Storage,
    database: Database,
    clock: Clock,
    on_workspace_change: Callable[[], None],
) -> SlackSide | None:
    """Build the Slack side; `on_workspace_change` runs after an install changes a workspace record."""
    if settings.slack_mode is SlackMode.LOCAL:
        return None
    if settings.slack_mode is SlackMode.OAUTH:
        return _oauth_side(
            settings, storage=storage, database=database, clock=clock, on_workspace_change=on_workspace_change
        )
    return _single_workspace_side(settings)


def _client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=SLACK_TIMEOUT_SECONDS,
        logger=logging.getLogger("slack_sdk.web"),
    )


def _signing_secret(settings: Settings) -> str | None:
    return settings.SLACK_SIGNING_SECRET.get_secret_value() if settings.SLACK_SIGNING_SECRET else None


class _SkipClientTokenWarning(logging.Filter):
    """Drop Bolt's "`token` will be unused" warning, which every single-workspace start would log.

    slack_bolt 1.30 `AsyncApp.__init__` falls back to the SLACK_BOT_TOKEN environment variable when no `token`
    is given, and warns when a `client` is given too. The bot passes a client, because only a client carries
    SLACK_API_URL and the timeout, and that client contains the same token, so the warning is always noise.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


def _single_workspace_side(settings: Settings) -> SlackSide:
    assert settings.SLACK_BOT_TOKEN is not None
    token = settings.SLACK_BOT_TOKEN.get_secret_value()
    client = _client(settings, token)
    bolt_logger = logging.getLogger("slack_bolt")
    if not any(isinstance(existing, _SkipClientTokenWarning) for existing in bolt_logger.filters):
        bolt_logger.addFilter(_SkipClientTokenWarning())
    app = AsyncApp(client=client, signing_secret=_signing_secret(settings), logger=bolt_logger)
    tokens = SingleWorkspaceTokens(token)
    return SlackSide(client=client, app=app, tokens=tokens, single_workspace_tokens=tokens)


def _oauth_side(
    settings: Settings,
    *,
    storage: Storage,
    database: Database,
    clock: Clock,
    on_workspace_change: Callable[[], None],
) -> SlackSide:
    assert settings.SLACK_CLIENT_ID is not None and settings.SLACK_CLIENT_SECRET is not None
    client_id, client_secret = settings.SLACK_CLIENT_ID, settings.SLACK_CLIENT_SECRET.get_secret_value()
    client = _client(settings)
    if not settings.encryption_keys:
        logger.warning(
            "MISSIONCONTROL_ENCRYPTION_KEY is not set: Slack tokens are stored unencrypted. "
            "Set it to a Fernet key to encrypt them."
        )
    installations = MongoInstallationStore(database, cipher=TokenCipher(settings.encryption_keys), clock=clock.now)
    states = MongoOAuthStateStore(database, expiration_seconds=STATE_EXPIRATION_SECONDS, clock=clock.now)
    grants = GrantRepository(database, clock=clock.now)
    oauth_settings = AsyncOAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=BOT_SCOPES,
        redirect_uri=settings.SLACK_REDIRECT_URI,
        install_path="/slack/install",
        redirect_uri_path="/slack/oauth_redirect",
        # Straight to Slack: the Mission Control link is the "Add to Slack" button already.
        install_page_rendering_enabled=False,
        installation_store=installations,
        state_store=states,
        state_expiration_seconds=STATE_EXPIRATION_SECONDS,
        callback_options=CALLBACK_OPTIONS,
    )
    flow = MissionControlOAuthFlow(
        client=client,
        settings=oauth_settings,
        storage=storage,
        grants=grants,
        install_secrets=settings.install_secrets,
        clock=clock,
        on_workspace_change=on_workspace_change,
    )
    bolt_logger = logging.getLogger("slack_bolt")
    authorize = AsyncInstallationStoreAuthorize(
        logger=bolt_logger,
        installation_store=installations,
        client_id=client_id,
        client_secret=client_secret,
        # Without the cache Bolt calls auth.test on every request.
        cache_enabled=True,
        client=client,
    )
    app = AsyncApp(
        client=client,
        signing_secret=_signing_secret(settings),
        logger=bolt_logger,
        oauth_flow=flow,
        installation_store=installations,
        # AsyncApp accepts an AsyncAuthorize instance, though its annotation names only callables.
        authorize=authorize,  # type: ignore[arg-type]
    )
    rotator = AsyncTokenRotator(client_id=client_id, client_secret=client_secret, client=client)
    return SlackSide(
        client=client,
        app=app,
        tokens=InstallationTokens(store=installations, rotator=rotator),
        oauth_flow=flow,
        grants=grants,
        revocation=AsyncTokenRevocationListeners(installations),
        ensure_indexes=[installations.ensure_indexes, states.ensure_indexes, grants.ensure_indexes],
    )
