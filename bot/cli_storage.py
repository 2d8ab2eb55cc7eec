"""Open MONGODB_URI for a command-line tool, failing in one line when the server does not respond.

`deliveries`, `rules` and `rotate-key` read stored data. Without this, an unreachable server surfaces as
pymongo's ServerSelectionTimeoutError after 5 seconds with a forty-line traceback and the whole topology.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine
from typing import Any

from pymongo.errors import PyMongoError

from bot.mongo_wait import redact_uri, replica_set_advice
from bot.settings import Settings
from storage.database import Database, StorageUnavailable, driver_reason, open_database

logger = logging.getLogger(__name__)

# Seconds the first ping may wait for a server: long enough for a server on another host to respond, short
# enough that a wrong MONGODB_URI fails before the user wonders whether the command hangs.
CONNECT_TIMEOUT_SECONDS = 3.0
EXIT_STORAGE = 1


class StorageUnreachable(Exception):
    """MONGODB_URI's server did not respond. The message is the one line to print."""


async def connect(settings: Settings) -> Database:
    """Open MONGODB_URI and ping it once; raise `StorageUnreachable` when it does not respond."""
    uri = settings.mongodb_uri
    assert uri is not None, "callers handle the in-memory store first"
    database = open_database(uri, settings.MONGODB_DATABASE)
    reason = await database.ping_failure(timeout=CONNECT_TIMEOUT_SECONDS)
    if reason is None:
        return database
    await database.close()
    raise StorageUnreachable(
        f"MongoDB at MONGODB_URI={redact_uri(uri)} did not respond within {CONNECT_TIMEOUT_SECONDS:g} seconds "
        f"({redact_uri(reason)}): {replica_set_advice(uri, reason)}."
    )


def run_storage_command(command: Coroutine[Any, Any, int], *, settings: Settings) -> int:
    """Run a command that reads stored data; print one line and return 1 when MongoDB fails on the way."""
    try:
        return asyncio.run(command)
    except StorageUnreachable as error:
        print(f"missioncontrol: {error}", file=sys.stderr)
    except (PyMongoError, StorageUnavailable) as error:
        # The server responded to the first ping and failed later (it stopped, or the user lacks a permission).
        reason = driver_reason(error) if isinstance(error, PyMongoError) else str(error)
        uri = redact_uri(settings.mongodb_uri or "")
        print(f"missioncontrol: MongoDB at MONGODB_URI={uri} failed ({redact_uri(reason)}).", file=sys.stderr)
    return EXIT_STORAGE
