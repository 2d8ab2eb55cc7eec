"""The write shared by the collections that keep current state from events (clients, metrics, notes,
outliers): apply an event only when it is newer than the state already stored."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError


async def upsert_if_newer(
    collection: Any,
    key: Mapping[str, Any],
    *,
    occurred_at: datetime,
    update: Mapping[str, Any],
) -> bool:
    """Apply `update` to the document at `key` unless it holds state from a later instant.

    Returns False for a stale event. The filter only matches an older or missing document, so when a newer
    one exists the upsert tries to insert a second document with the same key, and the unique index on the
    key rejects it: the stale event changes nothing, without a transaction.
    """
    operations: dict[str, Any] = {operator: dict(fields) for operator, fields in update.items()}
    operations.setdefault("$set", {})["state_at"] = occurred_at
    try:
        await collection.update_one({**key, "state_at": {"$lte": occurred_at}}, operations, upsert=True)
    except DuplicateKeyError:
        return False
    return True
