"""Wait at start until MongoDB responds, so a server that is still starting does not crash `serve`."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from storage.database import Database

logger = logging.getLogger(__name__)

# Upper bound of one ping, and the pause between attempts, in seconds.
ATTEMPT_TIMEOUT_SECONDS = 5.0
RETRY_DELAY_SECONDS = 2.0

_URI_PASSWORD = re.compile(r"(://[^:/@]+:)[^@/]*@")


class MongoUnavailable(Exception):
    """MongoDB did not respond within the start timeout; the message names MONGODB_URI and the reason."""


def redact_uri(uri: str) -> str:
    """Return `uri` with the password of its user part replaced by `***`."""
    return _URI_PASSWORD.sub(r"\1***@", uri)


def replica_set_advice(uri: str, reason: str) -> str:
    """Return what to check when the server did not respond, with a hint for a replica set not initiated."""
    advice = "check MONGODB_URI (host, port, user, password) and that the server runs and accepts connections"
    if "replicaSet=" in uri or "replica set" in reason.lower() or "no primary" in reason.lower():
        advice += (
            "; for a replica set, run rs.initiate() once on one member and wait until a member is PRIMARY "
            "(rs.status().myState == 1)"
        )
    return advice


async def wait_for_mongodb(
    database: Database,
    uri: str,
    *,
    timeout: float,
    delay: float = RETRY_DELAY_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Ping until the server responds, logging each failed attempt; raise `MongoUnavailable` after `timeout` seconds.

    At least one attempt is made, even with a timeout of 0, and the last one may end up to one attempt's
    timeout after the deadline.
    """
    deadline = monotonic() + timeout
    # A third of a short timeout per attempt leaves room for a retry within it.
    attempt_timeout = max(min(ATTEMPT_TIMEOUT_SECONDS, timeout / 3), 0.2)
    attempt = 0
    while True:
        attempt += 1
        reason = await database.ping_failure(timeout=attempt_timeout)
        if reason is None:
            if attempt > 1:
                logger.info("MongoDB responds (attempt %d)", attempt)
            return
        left = deadline - monotonic()
        if left <= 0:
            raise MongoUnavailable(
                f"MongoDB at MONGODB_URI={redact_uri(uri)} did not respond within {timeout:g} seconds ({reason}): "
                f"{replica_set_advice(uri, reason)}."
            )
        wait = min(delay, left)
        logger.warning(
            "MongoDB is not responding yet (%s); retrying in %gs (attempt %d)", reason, round(wait, 1), attempt
        )
        await sleep(wait)
