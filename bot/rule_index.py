"""The in-process rule index: which active rules could receive an event, keyed by (agency, type).

Routing one event looks up one key and checks the few rules under it, so its cost does not grow with the
number of rules in the database. The index is rebuilt when this process changes a rule (`mark_stale`) and
when a poll sees that the rules or workspaces collections changed, which is how other replicas notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from storage.events_schema import Severity
from storage.models import NotificationType, Rule, RuleState, Workspace, WorkspaceStatus
from storage.store import Storage

logger = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 2.0


@dataclass(frozen=True)
class RoutingTarget:
    """A rule together with the account of the workspace that owns it."""

    rule: Rule
    workspace_client_id: str | None


@dataclass(frozen=True)
class EventFacts:
    """What routing needs to know about an event."""

    agency_id: str
    client_id: str | None
    notification_type: NotificationType
    severity: Severity | None = None


def rule_accepts(target: RoutingTarget, facts: EventFacts) -> bool:
    """Decide whether a rule, already found under the event's agency and type, receives the event."""
    if target.workspace_client_id is not None and facts.client_id != target.workspace_client_id:
        # A client workspace sees only its own client; a platform-wide error (no client) never reaches it.
        return False
    rule = target.rule
    if rule.client_id is not None and facts.client_id != rule.client_id:
        return False
    if rule.min_severity is not None:
        return facts.severity is not None and facts.severity.rank >= rule.min_severity.rank
    return True


def build_index(
    rules: list[Rule], workspaces: list[Workspace]
) -> dict[tuple[str, NotificationType], list[RoutingTarget]]:
    by_team = {workspace.team_id: workspace for workspace in workspaces}
    index: dict[tuple[str, NotificationType], list[RoutingTarget]] = defaultdict(list)
    for rule in rules:
        workspace = by_team.get(rule.team_id)
        # Failing rules stay routable: delivery holds their messages until the channel works again, so alerts
        # that arrive during the failure are sent then instead of being lost. Paused rules receive nothing.
        if rule.state not in (RuleState.ACTIVE, RuleState.FAILING) or workspace is None:
            continue
        if workspace.status is not WorkspaceStatus.ACTIVE or workspace.agency_id is None:
            continue
        target = RoutingTarget(rule=rule, workspace_client_id=workspace.client_id)
        index[(workspace.agency_id, rule.type)].append(target)
    return dict(index)


class RuleIndex:
    def __init__(self, storage: Storage, *, poll_seconds: float = DEFAULT_POLL_SECONDS) -> None:
        self._storage = storage
        self._poll_seconds = poll_seconds
        self._index: dict[tuple[str, NotificationType], list[RoutingTarget]] = {}
        self._stale = True
        self._signature: tuple[object, ...] | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def mark_stale(self) -> None:
        self._stale = True

    async def match(self, facts: EventFacts) -> list[Rule]:
        if self._stale:
            await self.reload()
        candidates = self._index.get((facts.agency_id, facts.notification_type), [])
        return [target.rule for target in candidates if rule_accepts(target, facts)]

    async def reload(self) -> None:
        async with self._lock:
            self._stale = False
            signature = await self._change_signature()
            rules = await self._storage.rules.list()
            workspaces = await self._storage.workspaces.list_all()
            self._index = build_index(rules, workspaces)
            self._signature = signature
        logger.info("Rule index loaded (rules %d, keys %d)", len(rules), len(self._index))

    async def _change_signature(self) -> tuple[int, datetime | None, int, datetime | None]:
        rules = await self._storage.rules.last_change()
        workspaces = await self._storage.workspaces.last_change()
        return (*rules, *workspaces)

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll(), name="rule-index-poll")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                if await self._change_signature() != self._signature:
                    await self.reload()
            except Exception:
                logger.exception("Rule index refresh failed; the previous index stays in use")
