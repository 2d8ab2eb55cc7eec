"""`install_grants_pending` and `install_grants_used`: signed install grants between `/slack/install` and the
OAuth callback.

A grant is verified when the install page is requested and kept under the OAuth state issued with it,
because Bolt's callback has already consumed the state and called `oauth.v2.access` by the time the
project's code runs. Its id is then marked used, so one grant installs at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from storage.database import Database, utc

logger = logging.getLogger(__name__)

PENDING = "install_grants_pending"
USED = "install_grants_used"
# Characters of an OAuth state that logs show: enough to match log lines, too few to replay the state.
LOGGED_STATE_CHARACTERS = 6


class GrantRepository:
    """Pending grants keyed by OAuth state, and the ids of grants already used.

    - `remember_for_state` stores a grant under a state. A state that already has a grant raises
      `DuplicateKeyError`, because states are random and a repeat means a bug.
    - `take_for_state` deletes and returns the grant atomically, so it returns a grant at most once. After
      `expires_at` it returns None, even while the document waits for the TTL monitor.
    - `mark_used` returns True for the first use of an id, and False while its marker is stored (the TTL
      index deletes it after `expires_at`). A unique `_id` decides, so two concurrent installs cannot both win.
    - `is_used` tells whether the marker is stored. It stays True past `expires_at` until the TTL monitor
      deletes the marker, which errs on the side of rejecting.

    TTL indexes on `expires_at` delete both kinds of document. Driver errors are logged with the grant id or
    the first characters of the state and re-raised.
    """

    def __init__(self, database: Database, *, clock: Callable[[], datetime] | None = None) -> None:
        self._pending = database.collection(PENDING)
        self._used = database.collection(USED)
        self._clock = clock or _utc_now

    async def ensure_indexes(self) -> None:
        await self._pending.create_index("expires_at", expireAfterSeconds=0, name="install_grant_pending_ttl")
        await self._used.create_index("expires_at", expireAfterSeconds=0, name="install_grant_used_ttl")

    async def remember_for_state(self, state: str, grant: dict[str, Any], *, expires_at: datetime) -> None:
        document = {"_id": state, "grant": dict(grant), "created_at": self._clock(), "expires_at": expires_at}
        with _logged_failure("remember grant", state=_hint(state)):
            await self._pending.insert_one(document)

    async def take_for_state(self, state: str) -> dict[str, Any] | None:
        with _logged_failure("take grant", state=_hint(state)):
            document = await self._pending.find_one_and_delete({"_id": state})
        if document is None:
            return None
        if utc(document["expires_at"]) <= self._clock():
            logger.info("Install grant expired before the OAuth callback (state %s)", _hint(state))
            return None
        return dict(document["grant"])

    async def mark_used(self, grant_id: str, *, expires_at: datetime) -> bool:
        document = {"_id": grant_id, "used_at": self._clock(), "expires_at": expires_at}
        with _logged_failure("mark grant used", grant_id=grant_id):
            try:
                await self._used.insert_one(document)
            except DuplicateKeyError:
                logger.info("Install grant was already used (grant %s)", grant_id)
                return False
        return True

    async def is_used(self, grant_id: str) -> bool:
        with _logged_failure("check grant", grant_id=grant_id):
            document = await self._used.find_one({"_id": grant_id}, projection={"_id": 1})
        return document is not None


def _hint(state: str) -> str:
    return state[:LOGGED_STATE_CHARACTERS] + "…"


def _utc_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def _logged_failure(operation: str, *, state: str = "-", grant_id: str = "-") -> Iterator[None]:
    try:
        yield
    except PyMongoError as error:
        # Log only the error type, because a driver message can quote the state.
        logger.error(
            "Install grant store failed (operation %s, state %s, grant %s, error %s)",
            operation,
            state,
            grant_id,
            type(error).__name__,
        )
        raise
