"""Prometheus metrics at `/metrics`, kept in a registry per runtime.

Each `Runtime` owns its `CollectorRegistry` instead of prometheus_client's global one, so several runtimes in
one process (tests, benchmarks) do not register the same metric twice. The counters are fed by thin wrappers
around the parts that do the work (the poster, the delivery repository, the digest run repository and
Houston's agent), so those parts stay unaware of metrics. The pending-delivery gauges are read from MongoDB
at each scrape, so every replica reports the shared outbox.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import date, datetime
from typing import Any, TypeVar, cast

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from pymongo.errors import PyMongoError
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.posting import Poster
from houston.agent import Houston, HoustonAnswer
from storage.database import StorageUnavailable
from storage.deliveries import DeliveryRepository
from storage.digest_runs import DigestRunRepository
from storage.models import Delivery, DeliveryState
from storage.store import Storage
from views.messages import SlackMessage

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Slack API calls take tens of milliseconds to seconds; Houston runs take seconds to a minute.
SLACK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HOUSTON_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)


class Metrics:
    """The runtime's metrics and the registry they are exported from."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.events_received = Counter(
            "missioncontrol_events_received",
            "Platform events received, by event type and outcome (accepted, duplicate, unavailable, rejected).",
            ["type", "outcome"],
            registry=registry,
        )
        self.deliveries = Counter(
            "missioncontrol_deliveries",
            "Delivery attempts by outcome: sent, retry, deferred (paced), failed or dead.",
            ["outcome"],
            registry=registry,
        )
        self.slack_call_seconds = Histogram(
            "missioncontrol_slack_api_call_duration_seconds",
            "Duration of Slack Web API calls that post, update or upload, by method.",
            ["method"],
            buckets=SLACK_BUCKETS,
            registry=registry,
        )
        self.slack_call_errors = Counter(
            "missioncontrol_slack_api_call_errors",
            "Slack Web API calls that failed, by method and Slack error code.",
            ["method", "error"],
            registry=registry,
        )
        self.pending_deliveries = Gauge(
            "missioncontrol_deliveries_pending",
            "Deliveries waiting to be posted, in the shared outbox.",
            registry=registry,
        )
        self.oldest_pending_age = Gauge(
            "missioncontrol_oldest_pending_delivery_age_seconds",
            "Age of the oldest delivery waiting to be posted (0 when none waits).",
            registry=registry,
        )
        self.digest_runs = Counter(
            "missioncontrol_digest_runs",
            "Daily digest runs by outcome (sent, partly failed).",
            ["outcome"],
            registry=registry,
        )
        self.houston_answers = Counter(
            "missioncontrol_houston_answers",
            "Houston runs by outcome (answered, timeout, error).",
            ["outcome"],
            registry=registry,
        )
        self.houston_seconds = Histogram(
            "missioncontrol_houston_answer_duration_seconds",
            "Duration of Houston runs, from the question to the final answer.",
            buckets=HOUSTON_BUCKETS,
            registry=registry,
        )

    def event_received(self, event_type: str, outcome: str, count: int = 1) -> None:
        if count:
            self.events_received.labels(type=event_type, outcome=outcome).inc(count)

    async def refresh_outbox(self, storage: Storage, *, now: datetime) -> None:
        """Read the pending count and the oldest pending delivery; NaN when storage does not respond."""
        try:
            pending = await storage.deliveries.count_pending()
            oldest = await storage.deliveries.oldest_pending_created_at()
        except (StorageUnavailable, PyMongoError) as error:
            logger.warning("Metrics could not read the outbox (error %s)", type(error).__name__)
            self.pending_deliveries.set(float("nan"))
            self.oldest_pending_age.set(float("nan"))
            return
        self.pending_deliveries.set(pending)
        self.oldest_pending_age.set(max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)


def metrics_handler(
    metrics: Metrics, *, storage: Storage, clock: Clock, token: str | None
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Build the `/metrics` handler: Prometheus text format, behind `Authorization: Bearer` when `token` is set."""
    expected = f"Bearer {token}".encode() if token else None

    async def handle(request: web.Request) -> web.Response:
        if expected is not None:
            given = request.headers.get("Authorization", "").encode()
            # compare_digest takes the same time wherever the first difference is, so timing reveals nothing.
            if not hmac.compare_digest(given, expected):
                logger.info("Rejected a metrics scrape (remote %s)", request.remote)
                return web.json_response(
                    {"error": "Missing or wrong bearer token: send Authorization: Bearer <METRICS_TOKEN>."},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        await metrics.refresh_outbox(storage, now=clock.now())
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


class MeteredPoster:
    """A `Poster` that times each Slack call by method and counts failures."""

    def __init__(self, inner: Poster, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        return await self._timed(
            "chat.postMessage",
            lambda: self._inner.post(team_id=team_id, channel=channel, message=message, thread_ts=thread_ts),
        )

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        await self._timed(
            "files.upload",
            lambda: self._inner.upload_file(
                team_id=team_id, channel=channel, filename=filename, title=title, content=content, thread_ts=thread_ts
            ),
        )

    async def update(self, **arguments: Any) -> Any:
        update = getattr(self._inner, "update")  # noqa: B009 - the Poster protocol gains `update` on another branch
        return await self._timed("chat.update", lambda: update(**arguments))

    async def _timed(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        started = time.perf_counter()
        try:
            return await call()
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            self._metrics.slack_call_errors.labels(
                method=method, error=code or f"http_{error.response.status_code}"
            ).inc()
            raise
        except Exception as error:
            self._metrics.slack_call_errors.labels(method=method, error=type(error).__name__).inc()
            raise
        finally:
            self._metrics.slack_call_seconds.labels(method=method).observe(time.perf_counter() - started)


class MeteredDeliveries(DeliveryRepository):
    """The delivery repository as the workers see it: each stored result also counts its outcome."""

    def __init__(self, inner: DeliveryRepository, metrics: Metrics) -> None:
        # Shares the inner repository's collection and retention; only the result methods are extended.
        self.__dict__.update(inner.__dict__)
        self._metrics = metrics

    async def mark_sent(self, delivery: Delivery, *, ts: str | None, now: datetime) -> bool:
        return self._count("sent", await super().mark_sent(delivery, ts=ts, now=now))

    async def retry_later(self, delivery: Delivery, *, at: datetime, error: str, now: datetime) -> bool:
        return self._count("retry", await super().retry_later(delivery, at=at, error=error, now=now))

    async def postpone(self, delivery: Delivery, *, at: datetime, now: datetime) -> bool:
        return self._count("deferred", await super().postpone(delivery, at=at, now=now))

    async def finish(self, delivery: Delivery, *, state: DeliveryState, error: str, now: datetime) -> bool:
        return self._count(state.value, await super().finish(delivery, state=state, error=error, now=now))

    def _count(self, outcome: str, stored: bool) -> bool:
        if stored:
            self._metrics.deliveries.labels(outcome=outcome).inc()
        return stored


class MeteredDigestRuns(DigestRunRepository):
    """The digest run repository as the digest service sees it: each finished run counts its status."""

    def __init__(self, inner: DigestRunRepository, metrics: Metrics) -> None:
        self.__dict__.update(inner.__dict__)
        self._metrics = metrics

    async def finish(
        self, *, team_id: str, local_date: date, status: str, detail: dict[str, Any], now: datetime
    ) -> None:
        await super().finish(team_id=team_id, local_date=local_date, status=status, detail=detail, now=now)
        self._metrics.digest_runs.labels(outcome=status).inc()


def metered_storage(storage: Storage, metrics: Metrics) -> Storage:
    """Return `storage` with the delivery and digest run repositories counting results into `metrics`."""
    return replace(
        storage,
        deliveries=MeteredDeliveries(storage.deliveries, metrics),
        digest_runs=MeteredDigestRuns(storage.digest_runs, metrics),
    )


class MeteredHouston:
    """Houston's agent with each run timed and counted by outcome."""

    def __init__(self, inner: Houston, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def answer(self, **arguments: Any) -> HoustonAnswer:
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = await self._inner.answer(**arguments)
            outcome = "answered"
            return answer
        except TimeoutError:
            outcome = "timeout"
            raise
        finally:
            self._metrics.houston_answers.labels(outcome=outcome).inc()
            self._metrics.houston_seconds.observe(time.perf_counter() - started)


def metered_houston(agent: Houston, metrics: Metrics) -> Houston:
    # HoustonService calls only `answer`, which the wrapper provides with the same signature.
    return cast(Houston, MeteredHouston(agent, metrics))
