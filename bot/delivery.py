"""Delivery workers: claim pending deliveries from MongoDB, render the message and post it.

A delivery is claimed with an atomic lease, so any number of workers and processes can share the outbox.
The `ts` Slack returns is stored on the delivery. A crash after Slack accepted a message but before the
result was stored lets the lease expire and the message be posted once more: at most one duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from dataclasses import dataclass
from datetime import timedelta

import aiohttp
from pydantic import ValidationError
from pymongo.errors import PyMongoError
from slack_sdk.errors import SlackApiError

from bot.alert_messages import AlertDelivery, AlertMessenger, RetrySoon
from bot.clock import Clock
from bot.delivery_policy import Action, Verdict, backoff_seconds, classify_slack_error
from bot.mending import ChannelMending
from bot.pacing import PacingDeferred
from bot.posting import NoTokenError, Poster
from bot.rule_index import RuleIndex
from storage.database import StorageUnavailable
from storage.events_schema import event_adapter
from storage.models import Delivery, DeliveryState, RuleState, WorkspaceStatus
from storage.store import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeliveryConfig:
    workers: int = 4
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 8
    # Rate limits are Slack asking us to wait, not failures, so they get their own, larger allowance.
    max_rate_limited_attempts: int = 50
    backoff_base_seconds: float = 2.0
    backoff_cap_seconds: float = 300.0
    idle_poll_seconds: float = 1.0
    # How soon a delivery tries again while another one is posting the first message of its alert.
    claim_wait_seconds: float = 0.5


def new_owner_id() -> str:
    return f"{socket.gethostname()}-{secrets.token_hex(4)}"


class DeliveryService:
    def __init__(
        self,
        *,
        storage: Storage,
        poster: Poster,
        index: RuleIndex,
        clock: Clock,
        web_url: str | None,
        config: DeliveryConfig | None = None,
        owner: str | None = None,
        alerts: AlertMessenger | None = None,
        mending: ChannelMending | None = None,
    ) -> None:
        self._storage = storage
        self._mending = mending
        self._poster = poster
        self._index = index
        self._clock = clock
        self._web_url = web_url
        self._config = config or DeliveryConfig()
        self.owner = owner or new_owner_id()
        # Every routed event is an alert whose message lives on: posted once, then edited and threaded.
        self.alerts = alerts or AlertMessenger(storage=storage, poster=poster, clock=clock, web_url=web_url)
        self.alerts.on_rule_failing = self._rule_failing_from_edit
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    def wake(self) -> None:
        self._wakeup.set()

    def start(self) -> None:
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._work(), name=f"delivery-worker-{number}")
            for number in range(self._config.workers)
        ]
        self.alerts.start()

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Let in-flight posts finish within `timeout`, then release this process's leases."""
        self._stopping = True
        self._wakeup.set()
        await self.alerts.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            released = await self._storage.deliveries.release_leases(owner=self.owner, now=self._clock.now())
        except (StorageUnavailable, PyMongoError) as error:
            # The leases expire by themselves, and other processes claim the deliveries then.
            logger.warning("Could not release delivery leases at shutdown (owner %s, error %s)", self.owner, error)
            return
        if released:
            logger.info("Released delivery leases at shutdown (count %d)", released)

    async def run_once(self) -> bool:
        """Claim and send one due delivery; return False when none was due."""
        delivery = await self._storage.deliveries.claim_next(
            owner=self.owner, now=self._clock.now(), lease=self._config.lease
        )
        if delivery is None:
            return False
        await self._send(delivery)
        return True

    async def _work(self) -> None:
        storage_down = False
        while not self._stopping:
            try:
                found = await self.run_once()
            except (StorageUnavailable, PyMongoError) as error:
                # Log an outage once per worker, not on every poll; the worker keeps polling until storage returns.
                if not storage_down:
                    logger.warning("Delivery worker cannot reach storage (owner %s, error %s)", self.owner, error)
                storage_down = True
            except Exception:
                logger.exception("Delivery worker failed; retrying after a pause")
            else:
                if storage_down:
                    logger.info("Delivery worker reached storage again (owner %s)", self.owner)
                    storage_down = False
                if found:
                    continue
            await self._idle()

    async def _idle(self) -> None:
        self._wakeup.clear()
        timeout = self._config.idle_poll_seconds
        with contextlib.suppress(Exception):
            due = await self._storage.deliveries.next_due()
            if due is not None:
                timeout = min(timeout, max(0.0, (due - self._clock.now()).total_seconds()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), timeout=timeout)

    async def _send(self, delivery: Delivery) -> None:
        prepared = await self._prepare(delivery)
        if prepared is None:
            return
        try:
            ts = await self.alerts.deliver(prepared)
        except RetrySoon as error:
            await self._retry(delivery, Verdict(Action.RETRY_AFTER, str(error), self._config.claim_wait_seconds))
            return
        except PacingDeferred as deferred:
            # Not a Slack call: the attempt is given back and the delivery waits for its slot.
            at = self._clock.now() + timedelta(seconds=deferred.delay_seconds)
            await self._storage.deliveries.postpone(delivery, at=at, now=self._clock.now())
            return
        except SlackApiError as error:
            await self._handle_slack_error(delivery, error)
            return
        except NoTokenError as error:
            logger.warning(
                "No bot token for the workspace of a rule (team %s, rule %s)", delivery.team_id, delivery.rule_id
            )
            await self._finish(delivery, DeliveryState.FAILED, str(error))
            return
        except (aiohttp.ClientError, TimeoutError) as error:
            verdict = Verdict(Action.RETRY_BACKOFF, f"Slack connection failed ({type(error).__name__})")
            await self._retry(delivery, verdict)
            return
        except Exception as error:
            # Anything else (a token refresh that failed, a request the SDK refused) still gets the backoff and
            # the attempt limit, instead of a lease that expires and retries forever.
            logger.exception("Delivery failed unexpectedly (delivery %s, channel %s)", delivery.id, delivery.channel)
            await self._retry(delivery, Verdict(Action.RETRY_BACKOFF, f"Unexpected error ({type(error).__name__})"))
            return
        await self._storage.deliveries.mark_sent(delivery, ts=ts, now=self._clock.now())
        if ts is None:
            # No message of its own: gathered into a burst summary, or a follow-up with nothing to change.
            logger.info(
                "Delivery done without a post: gathered into a summary or nothing to change (delivery %s)", delivery.id
            )
            return
        logger.info(
            "Posted message (delivery %s, team %s, channel %s, ts %s)",
            delivery.id,
            delivery.team_id,
            delivery.channel,
            ts,
        )

    async def _prepare(self, delivery: Delivery) -> AlertDelivery | None:
        """Load what the delivery's message needs, or finish the delivery when it can no longer be sent."""
        storage = self._storage
        workspace = await storage.workspaces.get(delivery.team_id)
        if workspace is None or workspace.status is not WorkspaceStatus.ACTIVE:
            await self._finish(delivery, DeliveryState.FAILED, "The workspace is inactive or unknown.")
            return None
        rule = await storage.rules.get(delivery.rule_id)
        if rule is None:
            await self._finish(delivery, DeliveryState.FAILED, "The rule was deleted before the message was sent.")
            return None
        if self._mending is not None and await self._mending.hold_if_failing(delivery, rule):
            return None
        if rule.state is not RuleState.ACTIVE or rule.channel != delivery.channel:
            reason = f"The rule was {rule.state.value} or moved to another channel before the message was sent."
            await self._finish(delivery, DeliveryState.FAILED, reason)
            return None
        stored = await storage.events.find(delivery.event_id)
        if stored is None:
            await self._finish(delivery, DeliveryState.FAILED, "The event expired before the message was sent.")
            return None
        try:
            event = event_adapter.validate_python(stored.body)
        except ValidationError:
            logger.exception("Stored event no longer validates (event %s)", stored.id)
            await self._finish(delivery, DeliveryState.DEAD, "The stored event no longer matches the schema.")
            return None
        return AlertDelivery(
            delivery=delivery, event=event, received_at=stored.received_at, rule=rule, workspace=workspace
        )

    async def _rule_failing_from_edit(self, rule_id: str, reason: str, code: str) -> None:
        """Mark a rule failing when Slack rejects its summary post or edit for the channel, as for a rejected post."""
        await self._storage.rules.mark_failing(rule_id, reason=reason, now=self._clock.now())
        self._index.mark_stale()
        logger.warning("Rule is failing after Slack rejected an edit (rule %s, reason %s)", rule_id, reason)
        if self._mending is not None:
            await self._mending.notify_failing([rule_id], code=code)

    async def _handle_slack_error(self, delivery: Delivery, error: SlackApiError) -> None:
        response = error.response
        verdict = classify_slack_error(
            status=response.status_code,
            error=response.get("error") if isinstance(response.data, dict) else None,
            retry_after=response.headers.get("Retry-After") or response.headers.get("retry-after"),
            channel=delivery.channel,
        )
        now = self._clock.now()
        if verdict.action in (Action.RETRY_AFTER, Action.RETRY_BACKOFF):
            await self._retry(delivery, verdict)
        elif verdict.action is Action.RULE_FAILING:
            await self._storage.rules.mark_failing(delivery.rule_id, reason=verdict.reason, now=now)
            self._index.mark_stale()
            code = str(response.get("error")) if isinstance(response.data, dict) else ""
            logger.warning(
                "Rule is failing (rule %s, team %s, channel %s, code %s, reason %s)",
                delivery.rule_id,
                delivery.team_id,
                delivery.channel,
                code or "none",
                verdict.reason,
            )
            if self._mending is not None:
                await self._mending.hold_failed(delivery, reason=verdict.reason, code=code)
            else:
                await self._finish(delivery, DeliveryState.FAILED, verdict.reason)
        elif verdict.action is Action.WORKSPACE_INACTIVE:
            await self._storage.workspaces.set_status(
                delivery.team_id, WorkspaceStatus.INACTIVE, reason=verdict.reason, now=now
            )
            self._index.mark_stale()
            logger.warning("Workspace is inactive (team %s, reason %s)", delivery.team_id, verdict.reason)
            await self._finish(delivery, DeliveryState.FAILED, verdict.reason)
        else:
            await self._finish(delivery, DeliveryState.DEAD, verdict.reason)

    async def _retry(self, delivery: Delivery, verdict: Verdict) -> None:
        config = self._config
        limit = config.max_rate_limited_attempts if verdict.action is Action.RETRY_AFTER else config.max_attempts
        if delivery.attempts >= limit:
            await self._finish(
                delivery, DeliveryState.DEAD, f"{verdict.reason}; gave up after {delivery.attempts} attempts"
            )
            return
        delay = verdict.delay_seconds
        if verdict.action is Action.RETRY_BACKOFF:
            delay = backoff_seconds(delivery.attempts, base=config.backoff_base_seconds, cap=config.backoff_cap_seconds)
        at = self._clock.now() + timedelta(seconds=delay)
        await self._storage.deliveries.retry_later(delivery, at=at, error=verdict.reason, now=self._clock.now())
        logger.info(
            "Delivery will be retried (delivery %s, channel %s, attempt %d, delay %.1fs, reason %s)",
            delivery.id,
            delivery.channel,
            delivery.attempts,
            delay,
            verdict.reason,
        )

    async def _finish(self, delivery: Delivery, state: DeliveryState, reason: str) -> None:
        await self._storage.deliveries.finish(delivery, state=state, error=reason, now=self._clock.now())
        # A delivery that claimed its alert's first post and ends without it hands the post to the next one.
        await self._storage.alerts.release_post_claims(delivery.id, now=self._clock.now())
        log = logger.warning if state is DeliveryState.DEAD else logger.info
        log("Delivery ended without a message (delivery %s, state %s, reason %s)", delivery.id, state.value, reason)
