"""OAuth distribution: install pages, the signed install grant, and recording the workspace's account.

Bolt's state store keeps no data, and `oauth.v2.access` has already run when the callback sees the state, so
a grant is verified at `/slack/install`, before the user is sent to Slack, and kept under the new OAuth state;
the callback takes it back by that state and records the workspace as the grant says.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

from slack_bolt.error import BoltError
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.grants import Grant, GrantError, grant_from_dict, verify_grant
from storage.grants import GrantRepository
from storage.store import Storage
from views.install_pages import failure_page, success_page

logger = logging.getLogger(__name__)

GRANT_CONTEXT_KEY = "mc_install_grant"
# Matches Bolt's default state lifetime: a grant waits at most this long for its callback.
STATE_LIFETIME = timedelta(seconds=600)
REUSED_GRANT = "This install link was already used. Ask for a new link in Mission Control."
HTML: dict[str, str | Sequence[str]] = {"Content-Type": "text/html; charset=utf-8"}


class GrantRefused(BoltError):
    """The grant of this install cannot be used; the message is shown on the failure page."""


def _first(request: AsyncBoltRequest, name: str) -> str | None:
    values = request.query.get(name) or []
    return values[0] if values else None


class MissionControlOAuthFlow(AsyncOAuthFlow):
    """Bolt's OAuth flow, plus install grants and the workspace record."""

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        settings: AsyncOAuthSettings,
        storage: Storage,
        grants: GrantRepository,
        install_secrets: Sequence[str],
        clock: Clock,
        on_workspace_change: Callable[[], None],
    ) -> None:
        super().__init__(client=client, settings=settings, logger=logging.getLogger("slack_bolt.oauth"))
        self._on_workspace_change = on_workspace_change
        self._storage = storage
        self._grants = grants
        self._install_secrets = list(install_secrets)
        self._clock = clock

    async def handle_installation(self, request: AsyncBoltRequest) -> BoltResponse:
        token = _first(request, "grant")
        if token:
            try:
                grant = verify_grant(token, signing_secrets=self._install_secrets, now=self._clock.now())
            except GrantError as error:
                logger.warning("Install rejected: invalid grant (reason %s)", error)
                return BoltResponse(status=400, body=failure_page(reason="grant", detail=str(error)), headers=HTML)
            if await self._grants.is_used(grant.grant_id):
                logger.warning("Install rejected: grant already used (grant %s)", grant.grant_id)
                return BoltResponse(status=400, body=failure_page(reason="grant", detail=REUSED_GRANT), headers=HTML)
            request.context[GRANT_CONTEXT_KEY] = grant
        return await super().handle_installation(request)

    async def issue_new_state(self, request: AsyncBoltRequest) -> str:
        state = await super().issue_new_state(request)
        grant: Grant | None = request.context.get(GRANT_CONTEXT_KEY)
        if grant is not None:
            expires_at = self._clock.now() + STATE_LIFETIME
            await self._grants.remember_for_state(state, grant.as_dict(), expires_at=expires_at)
        return state

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        grant = await self._take_grant(request)
        if grant is not None:
            installation.set_custom_value("agency_id", grant.agency_id)
            installation.set_custom_value("client_id", grant.client_id)
            installation.set_custom_value("mc_user_id", grant.user_id)
        await super().store_installation(request, installation)
        await record_workspace(self._storage, installation, grant=grant, clock=self._clock)
        if grant is None:
            # A reinstall without a grant keeps the stored account; the success page should say so.
            workspace = await self._storage.workspaces.get(workspace_key(installation))
            if workspace is not None and workspace.agency_id is not None:
                installation.set_custom_value("agency_id", workspace.agency_id)
                installation.set_custom_value("client_id", workspace.client_id)
        self._on_workspace_change()

    # NOTE: Bolt exchanges the code before store_installation runs, so a grant reused in a second browser tab
    # is refused only after Slack has installed the app there; that workspace then has the app but no token
    # stored, and installing again with a fresh link fixes it.
    async def _take_grant(self, request: AsyncBoltRequest) -> Grant | None:
        state = _first(request, "state")
        pending = await self._grants.take_for_state(state) if state else None
        if pending is None:
            return None
        grant = grant_from_dict(pending)
        if not await self._grants.mark_used(grant.grant_id, expires_at=grant.expires_at):
            logger.warning("Install rejected at callback: grant already used (grant %s)", grant.grant_id)
            raise GrantRefused(REUSED_GRANT)
        return grant


def workspace_key(installation: Installation) -> str:
    """Return the id a workspace is stored under: its team, or its organisation for an org-wide install."""
    if installation.is_enterprise_install or not installation.team_id:
        return str(installation.enterprise_id)
    return str(installation.team_id)


async def record_workspace(storage: Storage, installation: Installation, *, grant: Grant | None, clock: Clock) -> None:
    """Create or reactivate the workspace; a grant sets its account, a reinstall without one keeps it."""
    now = clock.now()
    team_id = workspace_key(installation)
    existing = await storage.workspaces.get(team_id)
    agency_id: str | None = None
    client_id: str | None = None
    if grant is not None:
        agency_id, client_id = grant.agency_id, grant.client_id
    elif existing is not None:
        agency_id, client_id = existing.agency_id, existing.client_id
    name = installation.team_name or installation.enterprise_name
    await storage.workspaces.upsert(
        team_id=team_id,
        name=name,
        agency_id=agency_id,
        client_id=client_id,
        enterprise_id=installation.enterprise_id,
        now=now,
        reactivate=True,
    )
    if installation.user_id:
        await storage.workspaces.set_installer(team_id, installation.user_id, now=now)
        if grant is not None and grant.user_id:
            await storage.workspaces.link_user(team_id, installation.user_id, grant.user_id, now=now)
    logger.info(
        "Workspace installed (team %s, enterprise %s, agency %s, client %s, linked %s)",
        team_id,
        installation.enterprise_id,
        agency_id,
        client_id,
        agency_id is not None,
    )


async def on_success(args: AsyncSuccessArgs) -> BoltResponse:
    installation = args.installation
    agency_id = installation.custom_values.get("agency_id")
    client_id = installation.custom_values.get("client_id")
    account = None
    if agency_id:
        account = f"client {client_id} of agency {agency_id}" if client_id else f"agency {agency_id}"
    team = installation.team_name or installation.enterprise_name or "your"
    return BoltResponse(status=200, body=success_page(team_name=team, account=account), headers=HTML)


async def on_failure(args: AsyncFailureArgs) -> BoltResponse:
    detail = str(args.error) if isinstance(args.error, GrantRefused) else None
    status = 400 if detail else args.suggested_status_code
    logger.warning("Install failed (reason %s)", "grant reused" if detail else args.reason)
    return BoltResponse(status=status, body=failure_page(reason=args.reason, detail=detail), headers=HTML)


CALLBACK_OPTIONS = AsyncCallbackOptions(success=on_success, failure=on_failure)
