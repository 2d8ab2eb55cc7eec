"""`oauth_states`: Bolt's OAuth state store, which makes every OAuth `state` single-use and short-lived."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from storage.database import Database, utc

logger = logging.getLogger(__name__)

COLLECTION = "oauth_states"
# 32 random bytes, 43 URL-safe characters.
STATE_BYTES = 32
# Characters of a state that logs show: enough to match log lines, too few to replay the state.
LOGGED_STATE_CHARACTERS = 6


class MongoOAuthStateStore(AsyncOAuthStateStore):
    """OAuth states, one document each, keyed by the state.

    `async_issue` stores and returns a new random URL-safe state. `async_consume` deletes the state
    atomically and returns True only when it existed and was issued at most `expiration_seconds` ago, so
    each state succeeds at most once, even when two callbacks race. A TTL index on `expires_at` removes
    states nobody consumed. Driver errors are logged with the first characters of the state and re-raised.
    """

    def __init__(self, database: Database, *, expiration_seconds: int = 600, clock: Callable[[], datetime]) -> None:
        self._collection = database.collection(COLLECTION)
        self._expiration = timedelta(seconds=expiration_seconds)
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        return logger

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("expires_at", expireAfterSeconds=0, name="oauth_state_ttl")

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        """Store and return a new state. Bolt passes no arguments, and any given are ignored."""
        state = secrets.token_urlsafe(STATE_BYTES)
        now = self._clock()
        with _logged_failure("issue", state):
            await self._collection.insert_one({"_id": state, "created_at": now, "expires_at": now + self._expiration})
        return state

    async def async_consume(self, state: str) -> bool:
        with _logged_failure("consume", state):
            document = await self._collection.find_one_and_delete({"_id": state})
        if document is None:
            logger.info("OAuth state is unknown or already used (state %s…)", _hint(state))
            return False
        # MongoDB's TTL monitor runs about once a minute, so an expired state can still be stored.
        age = self._clock() - utc(document["created_at"])
        if age > self._expiration:
            logger.info("OAuth state expired (state %s…, age %d s)", _hint(state), age.total_seconds())
            return False
        return True


def _hint(state: str) -> str:
    return state[:LOGGED_STATE_CHARACTERS]


@contextmanager
def _logged_failure(operation: str, state: str) -> Iterator[None]:
    try:
        yield
    except PyMongoError as error:
        # Log only the error type, because a duplicate-key message would quote the whole state.
        logger.error(
            "OAuth state store failed (operation %s, state %s…, error %s)",
            operation,
            _hint(state),
            type(error).__name__,
        )
        raise
