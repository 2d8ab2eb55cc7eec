"""Retrying deliveries that ended without a message, from App Home or the command line, with an audit entry."""

from __future__ import annotations

import logging
from collections.abc import Callable

from bot.clock import Clock
from storage.store import Storage

logger = logging.getLogger(__name__)

# The user id recorded in the audit log for retries made with `missioncontrol deliveries retry`.
COMMAND_LINE_USER = "command line"


class FailedDeliveries:
    """Put failed and dead deliveries back in the queue.

    A retried delivery is pending again with its attempts reset, so it gets the full retry allowance; the
    workers of this process are woken, and other processes find it on their next poll. Each retry is
    recorded in the workspace's audit log.
    """

    def __init__(self, *, storage: Storage, clock: Clock, wake: Callable[[], None] = lambda: None) -> None:
        self._storage = storage
        self._clock = clock
        self._wake = wake

    async def retry(self, *, delivery_id: str, user_id: str, team_id: str | None = None) -> bool:
        """Requeue one delivery (only of `team_id`, when given); return False when it is not failed or dead."""
        now = self._clock.now()
        before = await self._storage.deliveries.requeue(delivery_id, now=now, team_id=team_id)
        if before is None:
            logger.info("No failed delivery to retry (delivery %s, team %s)", delivery_id, team_id)
            return False
        await self._storage.audit.record(
            team_id=before.team_id,
            user_id=user_id,
            action="retried a message",
            target=f"<#{before.channel}>",
            before={"delivery": before.id, "state": before.state.value, "last_error": before.last_error},
            after={"delivery": before.id, "state": "pending"},
            now=now,
        )
        logger.info("Delivery requeued (delivery %s, team %s, user %s)", before.id, before.team_id, user_id)
        self._wake()
        return True

    async def retry_all(self, *, user_id: str, team_id: str | None = None) -> int:
        """Requeue every failed and dead delivery of `team_id`, or of every workspace; return how many."""
        teams = [team_id] if team_id is not None else await self._storage.deliveries.teams_with_unsent()
        total = 0
        for team in teams:
            now = self._clock.now()
            count = await self._storage.deliveries.requeue_all(team_id=team, now=now)
            if not count:
                continue
            await self._storage.audit.record(
                team_id=team,
                user_id=user_id,
                action="retried all undelivered messages",
                target=f"{count} message{'' if count == 1 else 's'}",
                before=None,
                after={"requeued": count},
                now=now,
            )
            logger.info("Deliveries requeued (team %s, user %s, count %d)", team, user_id, count)
            total += count
        if total:
            self._wake()
        return total
