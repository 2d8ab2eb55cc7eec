"""`houston_threads`: Houston's memory of one Slack thread, its active client and its trimmed history."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError, PyMongoError

from storage.database import Database, utc

logger = logging.getLogger(__name__)

# Feedback entries kept per thread; older ones are dropped first.
MAX_FEEDBACK = 100
MAX_FEEDBACK_VALUE_CHARS = 64


def thread_key(team_id: str, channel_id: str, thread_ts: str) -> str:
    """Return the key of a Slack thread; a `thread_ts` is unique only within its channel."""
    return f"{team_id}:{channel_id}:{thread_ts}"


@dataclass(frozen=True)
class HoustonFeedback:
    user_id: str
    value: str
    at: datetime


@dataclass(frozen=True)
class HoustonThread:
    """One thread's memory. `messages` are LangChain message dicts (`messages_to_dict`), oldest first."""

    key: str
    team_id: str
    active_client_id: str | None
    messages: tuple[dict[str, Any], ...]
    updated_at: datetime
    expires_at: datetime
    feedback: tuple[HoustonFeedback, ...]


class HoustonThreadRepository:
    """Houston threads, unique on `key` and removed by a TTL index `retention` after their last save.

    Every read and write also matches `team_id`: `load` returns None and `save` and `add_feedback` return
    False when the stored thread belongs to another team, so one workspace never reads or extends another
    workspace's thread. A driver error is logged with the key and re-raised.
    """

    def __init__(self, database: Database, *, retention: timedelta) -> None:
        self._collection = database.collection("houston_threads")
        self._retention = retention

    async def ensure_indexes(self) -> None:
        await self._collection.create_index("key", unique=True, name="thread_key")
        await self._collection.create_index("expires_at", expireAfterSeconds=0)
        await self._collection.create_index([("team_id", ASCENDING), ("updated_at", ASCENDING)])

    async def load(self, key: str, team_id: str) -> HoustonThread | None:
        try:
            document = await self._collection.find_one({"key": key})
        except PyMongoError as error:
            logger.error("Failed to load Houston thread (key %s, error %s)", key, type(error).__name__)
            raise
        if document is None:
            return None
        if document["team_id"] != team_id:
            logger.warning("Houston thread belongs to another team (key %s, team %s)", key, team_id)
            return None
        return _to_thread(document)

    async def save(
        self,
        key: str,
        *,
        team_id: str,
        active_client_id: str | None,
        messages: Sequence[Mapping[str, Any]],
        now: datetime,
    ) -> bool:
        """Replace the thread's messages and active client and extend its expiry; False when another team owns it."""
        fields = {
            "active_client_id": active_client_id,
            "messages": [dict(message) for message in messages],
            "updated_at": now,
            "expires_at": now + self._retention,
        }
        update = {"$set": fields, "$setOnInsert": {"created_at": now, "feedback": []}}
        try:
            await self._collection.update_one({"key": key, "team_id": team_id}, update, upsert=True)
        except DuplicateKeyError:
            logger.warning("Houston thread not saved, it belongs to another team (key %s, team %s)", key, team_id)
            return False
        except PyMongoError as error:
            logger.error("Failed to save Houston thread (key %s, error %s)", key, type(error).__name__)
            raise
        return True

    async def add_feedback(self, key: str, team_id: str, user_id: str, value: str, *, now: datetime) -> bool:
        """Append a user's feedback on Houston's replies in the thread; False when the team has no thread at `key`."""
        entry = {"user_id": user_id, "value": value[:MAX_FEEDBACK_VALUE_CHARS], "at": now}
        update = {"$push": {"feedback": {"$each": [entry], "$slice": -MAX_FEEDBACK}}}
        try:
            result = await self._collection.update_one({"key": key, "team_id": team_id}, update)
        except PyMongoError as error:
            logger.error("Failed to store Houston feedback (key %s, error %s)", key, type(error).__name__)
            raise
        return bool(result.matched_count)

    async def delete_for_team(self, team_id: str) -> int:
        """Delete every thread of a team, for example when its data retention ends; return how many."""
        result = await self._collection.delete_many({"team_id": team_id})
        return int(result.deleted_count)


def _to_thread(document: dict[str, Any]) -> HoustonThread:
    feedback = tuple(
        HoustonFeedback(user_id=entry["user_id"], value=entry["value"], at=utc(entry["at"]))
        for entry in document.get("feedback", [])
    )
    return HoustonThread(
        key=document["key"],
        team_id=document["team_id"],
        active_client_id=document.get("active_client_id"),
        messages=tuple(document.get("messages", [])),
        updated_at=utc(document["updated_at"]),
        expires_at=utc(document["expires_at"]),
        feedback=feedback,
    )
