"""`POST /platform/events`: check, validate and store platform events, then hand them to routing.

Requests are checked in a fixed order and the first failure answers: 413 over 1 MiB, 415 not JSON, 401 bad
signature or timestamp, 400 invalid body. A batch is validated whole before anything is stored, so a batch
with one bad event stores nothing. The 202 answer comes only after every event is stored.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pymongo.errors import PyMongoError

from bot.clock import Clock
from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, check_signature
from storage.database import StorageUnavailable
from storage.events import EventRepository, NewEvent, StoredEvent
from storage.events_schema import EVENT_TYPES, MAX_BATCH_EVENTS, event_adapter

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# A 400 lists at most this many problems, so one broken batch of 100 events stays readable.
MAX_ERROR_DETAILS = 20


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str


class InvalidBody(Exception):
    def __init__(self, message: str, details: Sequence[Problem]) -> None:
        super().__init__(message)
        self.details = list(details)


def error_response(status: int, message: str, details: Sequence[Problem] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message}
    if details is not None:
        body["details"] = [{"path": problem.path, "reason": problem.reason} for problem in details]
    return web.json_response(body, status=status)


class EventIngest:
    """The request handler; `on_stored` receives the newly stored events for routing."""

    def __init__(
        self,
        *,
        events: EventRepository,
        secrets: Sequence[str],
        clock: Clock,
        on_stored: Callable[[list[StoredEvent]], None],
        on_received: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self._events = events
        self._secrets = list(secrets)
        self._clock = clock
        self._on_stored = on_stored
        # Receives (event type, outcome, count) for metrics; a rejected request has the type "unknown".
        self._on_received = on_received or (lambda event_type, outcome, count: None)

    async def handle(self, request: web.Request) -> web.Response:
        body = await _read_body(request)
        if body is None:
            self._on_received("unknown", "rejected", 1)
            return error_response(413, f"The request body is larger than {MAX_BODY_BYTES} bytes (1 MiB).")
        if request.content_type != "application/json":
            self._on_received("unknown", "rejected", 1)
            return error_response(415, "The Content-Type must be application/json.")
        problem = check_signature(
            secrets=self._secrets,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            now=self._clock.now().timestamp(),
        )
        if problem is not None:
            logger.warning("Rejected platform request (remote %s, reason %s)", request.remote, problem.name)
            self._on_received("unknown", "rejected", 1)
            return error_response(401, problem.value)
        try:
            new_events = parse_body(body)
        except InvalidBody as error:
            logger.info("Rejected invalid platform request (problems %d)", len(error.details))
            self._on_received("unknown", "rejected", 1)
            return error_response(400, str(error), error.details[:MAX_ERROR_DETAILS])
        return await self._store(new_events)

    async def _store(self, new_events: list[NewEvent]) -> web.Response:
        now = self._clock.now()
        try:
            outcome = await self._events.insert_batch(new_events, now=now)
        except (StorageUnavailable, PyMongoError):
            self._count_by_type(new_events, "unavailable")
            return error_response(503, "Storage is unavailable and nothing was stored; retry the request later.")
        accepted = set(outcome.accepted)
        stored: list[StoredEvent] = []
        repeated: list[NewEvent] = []
        for event in new_events:
            # A repeated id inside the batch was stored with its first body only.
            if event.id in accepted:
                stored.append(_as_stored(event, now))
                accepted.discard(event.id)
            else:
                repeated.append(event)
        logger.info("Stored platform events (accepted %d, duplicates %d)", len(stored), len(outcome.duplicates))
        self._count_by_type(stored, "accepted")
        self._count_by_type(repeated, "duplicate")
        self._on_stored(stored)
        return web.json_response({"accepted": len(stored), "duplicates": len(outcome.duplicates)}, status=202)

    def _count_by_type(self, events: Sequence[NewEvent | StoredEvent], outcome: str) -> None:
        counts = Counter(event.type for event in events)
        for event_type, count in counts.items():
            self._on_received(event_type, outcome, count)


async def _read_body(request: web.Request) -> bytes | None:
    """Read the body, or return None as soon as it is known to exceed the limit."""
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def parse_body(body: bytes) -> list[NewEvent]:
    """Parse and validate a request body: one event, or `{"events": [...]}` with 1 to 100 events."""
    try:
        document = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise InvalidBody("The body is not valid JSON.", [Problem("$", str(error))]) from None
    except RecursionError:
        raise InvalidBody("The body is not valid JSON.", [Problem("$", "is nested too deeply")]) from None
    if not isinstance(document, dict):
        raise InvalidBody(
            'The body must be a JSON object: one event or {"events": [...]}.',
            [Problem("$", f"expected an object, got {_json_type(document)}")],
        )
    if "events" in document:
        return _parse_batch(document)
    return [_parse_event(document, prefix="")]


def _parse_batch(document: dict[str, Any]) -> list[NewEvent]:
    extra = sorted(key for key in document if key != "events")
    if extra:
        raise InvalidBody(
            "A batch must contain only the events field.",
            [Problem(key, "is not allowed next to events") for key in extra],
        )
    items = document["events"]
    if not isinstance(items, list):
        raise InvalidBody(
            "events must be an array of events.", [Problem("events", f"expected an array, got {_json_type(items)}")]
        )
    if not 1 <= len(items) <= MAX_BATCH_EVENTS:
        raise InvalidBody(
            f"A batch must contain 1 to {MAX_BATCH_EVENTS} events.",
            [Problem("events", f"contains {len(items)} events")],
        )
    parsed: list[NewEvent] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_parse_event(item, prefix=f"events[{index}]"))
        except InvalidBody as error:
            problems.extend(error.details)
    if problems:
        count = len({problem.path.split(".")[0] for problem in problems})
        raise InvalidBody(f"{count} of {len(items)} events are invalid; nothing was stored.", problems)
    return parsed


def _parse_event(item: Any, *, prefix: str) -> NewEvent:
    try:
        event = event_adapter.validate_python(item)
    except ValidationError as error:
        problems = [_problem(detail, prefix) for detail in error.errors(include_url=False)]
        where = prefix or "The event"
        raise InvalidBody(f"{where} does not match the event schema.", problems) from None
    return NewEvent(
        id=event.id,
        type=event.type,
        agency_id=event.agency_id,
        client_id=event.client_id,
        occurred_at=event.occurred_at,
        body=item,
    )


def _problem(detail: ErrorDetails, prefix: str) -> Problem:
    kind = detail["type"]
    location = list(detail["loc"])
    if kind == "union_tag_invalid":
        return Problem(_join(prefix, ["type"]), "must be one of: " + ", ".join(EVENT_TYPES))
    if kind == "union_tag_not_found":
        return Problem(_join(prefix, ["type"]), "is required")
    if kind in ("model_type", "model_attributes_type", "dict_type") and not location:
        return Problem(prefix or "$", "must be an object")
    # A discriminated union puts the matched tag first, as in ("outlier.detected", "data", "severity").
    if location and location[0] in EVENT_TYPES:
        location = location[1:]
    return Problem(_join(prefix, location), _reason(detail))


def _reason(detail: ErrorDetails) -> str:
    kind = detail["type"]
    if kind == "missing":
        return "is required"
    if kind == "timezone_aware":
        return "must be an RFC 3339 timestamp with an offset, such as 2026-12-01T09:30:00Z"
    if kind in ("datetime_parsing", "datetime_from_date_parsing", "datetime_type"):
        return "must be an RFC 3339 timestamp with an offset, such as 2026-12-01T09:30:00Z"
    if kind == "string_type" and detail.get("input") is None:
        if detail["loc"] and detail["loc"][-1] == "client_id":
            return "must be a string; null is allowed only on system.error events"
        return "must be a string, not null"
    message = str(detail["msg"]).removeprefix("Value error, ")
    return message[0].lower() + message[1:] if message else kind


def _join(prefix: str, location: Sequence[int | str]) -> str:
    path = prefix
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path = f"{path}.{part}" if path else str(part)
    return path or "$"


def _json_type(value: Any) -> str:
    names = {
        dict: "an object",
        list: "an array",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _as_stored(event: NewEvent, received_at: Any) -> StoredEvent:
    return StoredEvent(
        id=event.id,
        type=event.type,
        agency_id=event.agency_id,
        client_id=event.client_id,
        occurred_at=event.occurred_at,
        body=event.body,
        received_at=received_at,
        routed_at=None,
    )
