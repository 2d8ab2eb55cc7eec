"""`rules`: notification rules, unique on (workspace, channel, type, client)."""

from __future__ import annotations

import builtins
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from storage.database import Database, utc
from storage.events_schema import Severity
from storage.models import NotificationType, Rule, RuleState

logger = logging.getLogger(__name__)

# True once the rule's creator was sent the direct message about the current failure.
FAILURE_NOTICE = "failure_notice_sent"

RULE_KEY = [("team_id", ASCENDING), ("channel", ASCENDING), ("type", ASCENDING), ("client_id", ASCENDING)]


class RuleConflict(Exception):
    """A rule with the same workspace, channel, type and client exists already."""

    def __init__(self, existing: Rule) -> None:
        super().__init__(f"rule {existing.id} already routes this")
        self.existing = existing


@dataclass(frozen=True)
class RuleSpec:
    """What a rule says, without its id and state: the input of `create` and `upsert`."""

    team_id: str
    channel: str
    type: NotificationType
    client_id: str | None = None
    min_severity: Severity | None = None


@dataclass(frozen=True)
class UpsertResult:
    rule: Rule
    created: bool


def new_rule_id() -> str:
    return "rule_" + secrets.token_hex(5)


class RuleRepository:
    """Reads and writes rules.

    `create` raises `RuleConflict` when the (team, channel, type, client) key exists. `upsert` matches by
    `rule_id` when given, otherwise by that key, and keeps the state of an existing rule unless
    `reactivate` is set. Every write moves `updated_at`, which the in-process rule index polls.
    """

    def __init__(self, database: Database) -> None:
        self._collection = database.collection("rules")

    async def ensure_indexes(self) -> None:
        await self._collection.create_index(RULE_KEY, unique=True, name="rule_key")
        await self._collection.create_index("updated_at")

    async def create(
        self, spec: RuleSpec, *, now: datetime, rule_id: str | None = None, created_by: str | None = None
    ) -> Rule:
        document = {"_id": rule_id or new_rule_id(), **_spec_fields(spec), **_active(now), "created_at": now}
        if created_by is not None:
            document["created_by"] = created_by
        try:
            await self._collection.insert_one(document)
        except DuplicateKeyError:
            existing = await self.find_by_key(spec)
            if existing is None:
                raise
            raise RuleConflict(existing) from None
        return _to_rule(document)

    async def upsert(
        self, spec: RuleSpec, *, now: datetime, rule_id: str | None = None, reactivate: bool = False
    ) -> UpsertResult:
        existing = await self.get(rule_id) if rule_id else await self.find_by_key(spec)
        if existing is None:
            return UpsertResult(rule=await self.create(spec, now=now, rule_id=rule_id), created=True)
        fields = {**_spec_fields(spec), "updated_at": now}
        if reactivate:
            fields.update(_active(now))
        await self._collection.update_one({"_id": existing.id}, {"$set": fields})
        rule = await self.get(existing.id)
        assert rule is not None  # written just above
        return UpsertResult(rule=rule, created=False)

    async def get(self, rule_id: str) -> Rule | None:
        document = await self._collection.find_one({"_id": rule_id})
        return _to_rule(document) if document else None

    async def find_by_key(self, spec: RuleSpec) -> Rule | None:
        key = {name: value for name, value in _spec_fields(spec).items() if name != "min_severity"}
        document = await self._collection.find_one(key)
        return _to_rule(document) if document else None

    async def list(self, *, team_id: str | None = None) -> list[Rule]:
        query = {"team_id": team_id} if team_id else {}
        cursor = self._collection.find(query).sort([("team_id", 1), ("channel", 1), ("type", 1)])
        return [_to_rule(document) async for document in cursor]

    async def delete(self, rule_id: str) -> bool:
        result = await self._collection.delete_one({"_id": rule_id})
        return bool(result.deleted_count)

    async def mark_failing(self, rule_id: str, *, reason: str, now: datetime) -> bool:
        """Mark an active rule failing; return True when this call changed it."""
        result = await self._collection.update_one(
            {"_id": rule_id, "state": RuleState.ACTIVE.value},
            {"$set": _failing(reason, now)},
        )
        return bool(result.modified_count)

    async def update_spec(self, rule_id: str, spec: RuleSpec, *, now: datetime) -> Rule | None:
        """Change what a rule routes, keeping its id and state; raise `RuleConflict` on a duplicate key."""
        try:
            result = await self._collection.update_one(
                {"_id": rule_id}, {"$set": {**_spec_fields(spec), "updated_at": now}}
            )
        except DuplicateKeyError:
            existing = await self.find_by_key(spec)
            if existing is None:
                raise
            raise RuleConflict(existing) from None
        return await self.get(rule_id) if result.matched_count else None

    async def set_state(self, rule_id: str, state: RuleState, *, reason: str | None, now: datetime) -> Rule | None:
        await self._collection.update_one(
            {"_id": rule_id}, {"$set": {"state": state.value, "failure_reason": reason, "updated_at": now}}
        )
        return await self.get(rule_id)

    async def set_burst_policy(self, rule_id: str, *, window_seconds: int, threshold: int, now: datetime) -> bool:
        """Set how a rule gathers floods of new alerts; return False when the rule does not exist.

        Raises ValueError when the window is under one second or the threshold under one alert.
        """
        if window_seconds < 1:
            raise ValueError(f"Invalid burst window {window_seconds}: use at least 1 second")
        if threshold < 1:
            raise ValueError(f"Invalid burst threshold {threshold}: use at least 1 alert")
        fields = {"burst_window_seconds": window_seconds, "burst_threshold": threshold, "updated_at": now}
        result = await self._collection.update_one({"_id": rule_id}, {"$set": fields})
        return bool(result.matched_count)

    async def fail_channel(self, team_id: str, channel: str, *, reason: str, now: datetime) -> int:
        """Mark the active rules on a channel failing; return how many changed."""
        result = await self._collection.update_many(
            {"team_id": team_id, "channel": channel, "state": RuleState.ACTIVE.value},
            {"$set": _failing(reason, now)},
        )
        return int(result.modified_count)

    async def resume_channel(self, team_id: str, channel: str, *, now: datetime) -> int:
        """Set the failing rules on a channel active again (paused ones stay paused); return how many."""
        result = await self._collection.update_many(
            {"team_id": team_id, "channel": channel, "state": RuleState.FAILING.value},
            {"$set": {"state": RuleState.ACTIVE.value, "failure_reason": None, "updated_at": now}},
        )
        return int(result.modified_count)

    async def list_failing(self, team_id: str, channel: str) -> builtins.list[Rule]:
        """Return the failing rules that post to a channel."""
        query = {"team_id": team_id, "channel": channel, "state": RuleState.FAILING.value}
        return [_to_rule(document) async for document in self._collection.find(query)]

    async def claim_failure_notice(self, rule_id: str, *, now: datetime) -> bool:
        """Claim the one direct message about a failing rule; return True for the single caller that wins.

        Each transition into the failing state clears the claim, so a rule that fails again after it was
        mended is announced again. The claim does not move `updated_at`, so the rule index does not reload.
        """
        result = await self._collection.update_one(
            {"_id": rule_id, "state": RuleState.FAILING.value, FAILURE_NOTICE: {"$ne": True}},
            {"$set": {FAILURE_NOTICE: True, "failure_notice_at": now}},
        )
        return bool(result.modified_count)

    async def last_change(self) -> tuple[int, datetime | None]:
        """Return the count and latest `updated_at`, so a cache can tell whether anything changed."""
        count = await self._collection.estimated_document_count()
        latest = await self._collection.find_one({}, sort=[("updated_at", -1)], projection={"updated_at": 1})
        return count, utc(latest["updated_at"]) if latest else None


def _spec_fields(spec: RuleSpec) -> dict[str, Any]:
    return {
        "team_id": spec.team_id,
        "channel": spec.channel,
        "type": spec.type.value,
        "client_id": spec.client_id,
        "min_severity": spec.min_severity.value if spec.min_severity else None,
    }


def _failing(reason: str, now: datetime) -> dict[str, Any]:
    return {"state": RuleState.FAILING.value, "failure_reason": reason, "updated_at": now, FAILURE_NOTICE: False}


def _active(now: datetime) -> dict[str, Any]:
    return {"state": RuleState.ACTIVE.value, "failure_reason": None, "updated_at": now}


def _to_rule(document: dict[str, Any]) -> Rule:
    severity = document.get("min_severity")
    return Rule(
        id=document["_id"],
        team_id=document["team_id"],
        channel=document["channel"],
        type=NotificationType(document["type"]),
        client_id=document.get("client_id"),
        min_severity=Severity(severity) if severity else None,
        state=RuleState(document["state"]),
        failure_reason=document.get("failure_reason"),
        created_at=utc(document["created_at"]),
        updated_at=utc(document["updated_at"]),
        burst_window_seconds=int(document.get("burst_window_seconds") or 60),
        burst_threshold=int(document.get("burst_threshold") or 1),
        created_by=document.get("created_by"),
    )
