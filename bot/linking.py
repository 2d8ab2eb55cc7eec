"""`/missioncontrol link <grant>`: link or re-link an installed workspace to a Mission Control account."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bot.clock import Clock
from bot.grants import GrantError, verify_grant
from handlers.services import LinkOutcome
from storage.grants import GrantRepository
from storage.store import Storage

logger = logging.getLogger(__name__)

USED = "This grant was already used. Ask for a new one in Mission Control."
UNKNOWN_WORKSPACE = "Mission Control does not know this workspace yet. Reinstall the app from Mission Control."


class LinkService:
    """Implements the handlers' `WorkspaceLinker` with install grants."""

    def __init__(
        self,
        *,
        storage: Storage,
        grants: GrantRepository,
        install_secrets: Sequence[str],
        clock: Clock,
        on_change: Callable[[], None],
    ) -> None:
        self._storage = storage
        self._grants = grants
        self._install_secrets = list(install_secrets)
        self._clock = clock
        self._on_change = on_change

    async def link(self, *, team_id: str, user_id: str, token: str) -> LinkOutcome:
        now = self._clock.now()
        try:
            grant = verify_grant(token, signing_secrets=self._install_secrets, now=now)
        except GrantError as error:
            return LinkOutcome(ok=False, message=str(error))
        before = await self._storage.workspaces.get(team_id)
        if before is None:
            return LinkOutcome(ok=False, message=UNKNOWN_WORKSPACE)
        if not await self._grants.mark_used(grant.grant_id, expires_at=grant.expires_at):
            return LinkOutcome(ok=False, message=USED)
        await self._storage.workspaces.upsert(
            team_id=team_id, name=None, agency_id=grant.agency_id, client_id=grant.client_id, now=now
        )
        if grant.user_id:
            await self._storage.workspaces.link_user(team_id, user_id, grant.user_id, now=now)
        await self._storage.audit.record(
            team_id=team_id,
            user_id=user_id,
            action="linked",
            target="Mission Control account",
            before={"agency_id": before.agency_id, "client_id": before.client_id},
            after={"agency_id": grant.agency_id, "client_id": grant.client_id},
            now=now,
        )
        self._on_change()
        logger.info("Workspace linked (team %s, agency %s, client %s)", team_id, grant.agency_id, grant.client_id)
        account = f"client {grant.client_id} of agency {grant.agency_id}" if grant.client_id else grant.agency_id
        return LinkOutcome(ok=True, message=f"This workspace is now linked to {account}.")
