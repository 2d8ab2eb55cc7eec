"""Say at shutdown what was accepted and not yet posted, and whether it survives the stop."""

from __future__ import annotations

import logging

from pymongo.errors import PyMongoError

from bot.clock import Clock
from storage.database import StorageUnavailable
from storage.store import Storage

logger = logging.getLogger(__name__)

# Counting unrouted events stops here: the figure is for the log, not an inventory.
MAX_UNROUTED_COUNTED = 10_000


async def log_unsent_at_stop(storage: Storage, clock: Clock) -> int:
    """Log how many deliveries are still pending and events unrouted; return the pending deliveries.

    Called after the workers stopped and before the database closes. With the in-memory store these are
    lost with the process, so the line is a warning that says so; with MongoDB they wait for the next start
    or another replica.
    """
    try:
        pending = await storage.deliveries.count_pending()
        unrouted = len(await storage.events.find_unrouted(received_before=clock.now(), limit=MAX_UNROUTED_COUNTED))
    except (PyMongoError, StorageUnavailable) as error:
        logger.warning("Stopping without counting the unsent messages: MongoDB failed (%s)", type(error).__name__)
        return 0
    if not pending and not unrouted:
        logger.info("Stopping with every accepted message posted or ended")
        return 0
    if storage.database.in_memory:
        logger.warning(
            "Stopping with %d deliveries still pending and %d events not yet routed: the in-memory store loses "
            "them (set MONGODB_URI to keep them across restarts)",
            pending,
            unrouted,
        )
    else:
        logger.info(
            "Stopping with %d deliveries still pending and %d events not yet routed: they stay in MongoDB for the "
            "next start or another replica",
            pending,
            unrouted,
        )
    return pending
