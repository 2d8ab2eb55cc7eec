"""`POST /platform/events` over HTTP: the status, error body and stored state for each input of the contract.

Delivery of accepted events end to end is covered in tests/scenarios. These tests check the response of the
endpoint and what it stores.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from pymongo.errors import AutoReconnect

from bot.ingest import MAX_BODY_BYTES, MAX_ERROR_DETAILS, EventIngest
from bot.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER
from storage.database import Database, StorageUnavailable
from storage.events import EventRepository, InsertOutcome, NewEvent, StoredEvent
from storage.store import Storage
from tests.conftest import EVENTS_SECRET, BotFactory, FakeClock, RunningBot, load_example, signed

HeaderBuilder = Callable[[bytes, float], dict[str, str]]


def outlier(event_id: str = "evt-ingest-1", **changes: Any) -> dict[str, Any]:
    event = load_example("outlier_detected.json")
    event["id"] = event_id
    event.update(changes)
    return event


def outlier_without_severity(event_id: str = "evt-ingest-1") -> dict[str, Any]:
    event = outlier(event_id)
    del event["data"]["severity"]
    return event


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


# Header builders: each receives the body that is sent and the server's clock in Unix seconds.


def sign_now(body: bytes, now: float) -> dict[str, str]:
    return signed(body, now=now)


def sign_at(offset_seconds: float) -> HeaderBuilder:
    return lambda body, now: signed(body, now=now + offset_seconds)


def sign_without(header: str) -> HeaderBuilder:
    def build(body: bytes, now: float) -> dict[str, str]:
        headers = signed(body, now=now)
        del headers[header]
        return headers

    return build


def sign_replacing(header: str, value: Callable[[str], str]) -> HeaderBuilder:
    def build(body: bytes, now: float) -> dict[str, str]:
        headers = signed(body, now=now)
        headers[header] = value(headers[header])
        return headers

    return build


def sign_with_content_type(content_type: str) -> HeaderBuilder:
    return sign_replacing("Content-Type", lambda _: content_type)


def sign_other_secret(body: bytes, now: float) -> dict[str, str]:
    return signed(body, secret="some-other-secret", now=now)


def sign_before_change(body: bytes, now: float) -> dict[str, str]:
    # The signature covers the body as it was before someone changed the severity.
    return signed(body.replace(b'"high"', b'"low"'), now=now)


@dataclass(frozen=True)
class BadRequest:
    """A request the endpoint must reject, and what its error response must contain."""

    status: int
    body: bytes
    headers: HeaderBuilder = sign_now
    # A text the `error` sentence must contain (such as the header at fault).
    mentions: str = ""
    # 400 only: a path that one of the `details` entries must name.
    path: str | None = None


GOOD_BODY = encode(outlier("evt-body-of-bad-request"))
OVERSIZED_BODY = b" " * (MAX_BODY_BYTES + 1)

TOO_LARGE = {
    "over-1-mib": BadRequest(413, OVERSIZED_BODY, mentions="1 MiB"),
    "over-1-mib-and-text-plain": BadRequest(
        413, OVERSIZED_BODY, sign_with_content_type("text/plain"), mentions="1 MiB"
    ),
}

UNSUPPORTED_TYPE = {
    "text-plain": BadRequest(415, GOOD_BODY, sign_with_content_type("text/plain"), mentions="application/json"),
    "form-encoded": BadRequest(
        415, GOOD_BODY, sign_with_content_type("application/x-www-form-urlencoded"), mentions="application/json"
    ),
    "no-content-type": BadRequest(415, GOOD_BODY, sign_without("Content-Type"), mentions="application/json"),
    "text-plain-and-bad-signature": BadRequest(
        415, GOOD_BODY, lambda body, now: {**sign_other_secret(body, now), "Content-Type": "text/plain"}
    ),
}

UNAUTHORIZED = {
    "missing-timestamp": BadRequest(401, GOOD_BODY, sign_without(TIMESTAMP_HEADER), mentions=TIMESTAMP_HEADER),
    "non-numeric-timestamp": BadRequest(
        401, GOOD_BODY, sign_replacing(TIMESTAMP_HEADER, lambda _: "yesterday"), mentions=TIMESTAMP_HEADER
    ),
    "fractional-timestamp": BadRequest(
        401, GOOD_BODY, sign_replacing(TIMESTAMP_HEADER, lambda value: value + ".5"), mentions=TIMESTAMP_HEADER
    ),
    "timestamp-301s-old": BadRequest(401, GOOD_BODY, sign_at(-301), mentions=TIMESTAMP_HEADER),
    "timestamp-301s-ahead": BadRequest(401, GOOD_BODY, sign_at(301), mentions=TIMESTAMP_HEADER),
    "missing-signature": BadRequest(401, GOOD_BODY, sign_without(SIGNATURE_HEADER), mentions=SIGNATURE_HEADER),
    "wrong-prefix": BadRequest(
        401,
        GOOD_BODY,
        sign_replacing(SIGNATURE_HEADER, lambda value: "v0=" + value.removeprefix("v1=")),
        mentions=SIGNATURE_HEADER,
    ),
    "other-secret": BadRequest(401, GOOD_BODY, sign_other_secret, mentions=SIGNATURE_HEADER),
    "body-changed-after-signing": BadRequest(401, GOOD_BODY, sign_before_change, mentions=SIGNATURE_HEADER),
    "bad-signature-and-invalid-json": BadRequest(401, b'{"id": ', sign_other_secret, mentions=SIGNATURE_HEADER),
}

INVALID_BODY = {
    "invalid-json": BadRequest(400, b'{"id": "evt-1", ', path="$", mentions="JSON"),
    "nan-number": BadRequest(
        400, encode(outlier(data={**outlier()["data"], "observed": float("nan")})), path="$", mentions="JSON"
    ),
    "invalid-utf-8": BadRequest(400, b'{"id": "evt-\xff"}', path="$", mentions="JSON"),
    "top-level-array": BadRequest(400, encode([outlier()]), path="$"),
    "top-level-string": BadRequest(400, encode("outlier"), path="$"),
    "empty-batch": BadRequest(400, encode({"events": []}), path="events", mentions="1 to 100"),
    "batch-of-101": BadRequest(
        400, encode({"events": [outlier(f"evt-{index}") for index in range(101)]}), path="events", mentions="1 to 100"
    ),
    "events-not-array": BadRequest(400, encode({"events": outlier()}), path="events"),
    "extra-key-next-to-events": BadRequest(400, encode({"events": [outlier()], "source": "platform"}), path="source"),
    "unknown-type": BadRequest(400, encode(outlier(type="outlier.exploded")), path="type"),
    "missing-type": BadRequest(400, encode({k: v for k, v in outlier().items() if k != "type"}), path="type"),
    "missing-data-field": BadRequest(400, encode(outlier_without_severity()), path="data.severity"),
    "missing-data-field-in-batch": BadRequest(
        400,
        encode({"events": [outlier("evt-0"), outlier("evt-1"), outlier("evt-2"), outlier_without_severity("evt-3")]}),
        path="events[3].data.severity",
        mentions="nothing was stored",
    ),
    "occurred-at-without-offset": BadRequest(
        400, encode(outlier(occurred_at="2026-11-30T14:05:00")), path="occurred_at"
    ),
    "null-client-on-outlier": BadRequest(400, encode(outlier(client_id=None)), path="client_id"),
    "empty-id": BadRequest(400, encode(outlier("")), path="id"),
    "id-of-129-characters": BadRequest(400, encode(outlier("e" * 129)), path="id"),
}


def params(cases: dict[str, BadRequest]) -> list[Any]:
    return [pytest.param(case, id=name) for name, case in cases.items()]


def all_bad_requests() -> list[BadRequest]:
    return [*TOO_LARGE.values(), *UNSUPPORTED_TYPE.values(), *UNAUTHORIZED.values(), *INVALID_BODY.values()]


@pytest.fixture
def server_clock() -> FakeClock:
    # Whole seconds, so that the edges of the 300-second window are exact.
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def bot(start_bot: BotFactory, server_clock: FakeClock) -> RunningBot:
    return await start_bot(clock=server_clock)


async def send(bot: RunningBot, clock: FakeClock, body: bytes, headers: HeaderBuilder = sign_now) -> ClientResponse:
    # A file-like body, because aiohttp warns about raw bytes over 1 MiB.
    data = io.BytesIO(body)
    return await bot.http.post("/platform/events", data=data, headers=headers(body, clock.now().timestamp()))


async def send_bad(bot: RunningBot, clock: FakeClock, case: BadRequest) -> ClientResponse:
    return await send(bot, clock, case.body, case.headers)


async def error_body(response: ClientResponse) -> dict[str, Any]:
    body = await response.json()
    assert isinstance(body, dict)
    assert isinstance(body.get("error"), str)
    assert body["error"].endswith(".")
    return body


@pytest.mark.parametrize("case", params(TOO_LARGE))
async def test_ingest_too_large_is_413(bot: RunningBot, server_clock: FakeClock, case: BadRequest) -> None:
    response = await send_bad(bot, server_clock, case)
    body = await error_body(response)

    assert response.status == 413
    assert case.mentions in body["error"]
    assert "details" not in body


async def test_ingest_chunked_oversize_is_413(bot: RunningBot, server_clock: FakeClock) -> None:
    chunk = b" " * (64 * 1024)
    count = MAX_BODY_BYTES // len(chunk) + 1

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(count):
            yield chunk

    # An async iterator is sent with Transfer-Encoding: chunked and no Content-Length.
    headers = signed(chunk * count, now=server_clock.now().timestamp())
    response = await bot.http.post("/platform/events", data=chunks(), headers=headers)
    body = await error_body(response)

    assert response.status == 413
    assert "details" not in body


async def test_ingest_chunked_small_body_accepted(bot: RunningBot, server_clock: FakeClock) -> None:
    payload = encode(outlier("evt-chunked"))

    async def chunks() -> AsyncIterator[bytes]:
        yield payload[:10]
        yield payload[10:]

    headers = signed(payload, now=server_clock.now().timestamp())
    response = await bot.http.post("/platform/events", data=chunks(), headers=headers)

    assert response.status == 202
    assert await bot.runtime.storage.events.find("evt-chunked") is not None


async def test_ingest_exactly_1_mib_accepted(bot: RunningBot, server_clock: FakeClock) -> None:
    event = outlier("evt-one-mib", padding="")
    event["padding"] = "x" * (MAX_BODY_BYTES - len(encode(event)))
    payload = encode(event)
    assert len(payload) == MAX_BODY_BYTES

    response = await send(bot, server_clock, payload)

    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}


@pytest.mark.parametrize("case", params(UNSUPPORTED_TYPE))
async def test_ingest_wrong_content_type_is_415(bot: RunningBot, server_clock: FakeClock, case: BadRequest) -> None:
    response = await send_bad(bot, server_clock, case)
    body = await error_body(response)

    assert response.status == 415
    assert case.mentions in body["error"]
    assert "details" not in body


async def test_ingest_json_with_charset_accepted(bot: RunningBot, server_clock: FakeClock) -> None:
    headers = sign_with_content_type("application/json; charset=utf-8")
    response = await send(bot, server_clock, encode(outlier("evt-charset")), headers)

    assert response.status == 202


@pytest.mark.parametrize("case", params(UNAUTHORIZED))
async def test_ingest_bad_signature_is_401(bot: RunningBot, server_clock: FakeClock, case: BadRequest) -> None:
    response = await send_bad(bot, server_clock, case)
    body = await error_body(response)

    assert response.status == 401
    assert case.mentions in body["error"]
    assert "details" not in body


@pytest.mark.parametrize("offset", [-300, 300], ids=["300s-old", "300s-ahead"])
async def test_ingest_timestamp_edge_accepted(bot: RunningBot, server_clock: FakeClock, offset: int) -> None:
    response = await send(bot, server_clock, encode(outlier(f"evt-edge-{offset}")), sign_at(offset))

    assert response.status == 202


@pytest.mark.parametrize("case", params(INVALID_BODY))
async def test_ingest_invalid_body_is_400(bot: RunningBot, server_clock: FakeClock, case: BadRequest) -> None:
    response = await send_bad(bot, server_clock, case)
    body = await error_body(response)

    assert response.status == 400
    assert case.mentions in body["error"]
    assert case.path in [detail["path"] for detail in body["details"]]
    assert all(set(detail) == {"path", "reason"} for detail in body["details"])
    assert all(detail["reason"] for detail in body["details"])


async def test_ingest_null_client_reason_names_system_error(bot: RunningBot, server_clock: FakeClock) -> None:
    response = await send_bad(bot, server_clock, INVALID_BODY["null-client-on-outlier"])
    [detail] = (await response.json())["details"]

    assert "system.error" in detail["reason"]


async def test_ingest_null_client_on_system_error_accepted(bot: RunningBot) -> None:
    event = load_example("system_error.json") | {"id": "evt-platform-wide", "client_id": None}

    response = await bot.post_events(event)

    assert response.status == 202


async def test_ingest_details_are_capped(bot: RunningBot) -> None:
    batch = {"events": [outlier_without_severity(f"evt-{index}") for index in range(100)]}

    response = await bot.post_events(batch)
    body = await response.json()

    assert response.status == 400
    assert len(body["details"]) == MAX_ERROR_DETAILS
    assert body["error"].startswith("100 of 100 events")


async def test_ingest_bad_batch_stores_nothing(bot: RunningBot) -> None:
    good_ids = ["evt-good-0", "evt-good-1", "evt-good-2"]
    batch = {"events": [*(outlier(event_id) for event_id in good_ids), outlier_without_severity("evt-bad-3")]}

    response = await bot.post_events(batch)
    await bot.settle()

    assert response.status == 400
    for event_id in good_ids:
        assert await bot.runtime.storage.events.find(event_id) is None, event_id
    assert bot.stdout.getvalue() == ""


def repeated_id_batch() -> dict[str, Any]:
    first = outlier("evt-twice")
    second = outlier("evt-twice", data={**first["data"], "severity": "critical"})
    return {"events": [first, second]}


async def test_ingest_repeated_id_counts(bot: RunningBot) -> None:
    response = await bot.post_events(repeated_id_batch())

    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 1}


async def test_ingest_repeated_id_keeps_first(bot: RunningBot) -> None:
    batch = repeated_id_batch()

    response = await bot.post_events(batch)
    stored = await bot.runtime.storage.events.find("evt-twice")

    assert response.status == 202
    assert stored is not None
    assert stored.body == batch["events"][0]


async def test_ingest_repeated_id_routed_once(bot: RunningBot) -> None:
    await bot.post_events(repeated_id_batch())
    await bot.settle()
    printed = bot.stdout.getvalue()

    # The local-mode console shows one message, built from the first occurrence (severity high).
    assert printed.count("=== Slack message to channel") == 1
    assert "High outlier" in printed
    assert "Critical outlier" not in printed


async def test_ingest_batch_mixes_new_and_seen(bot: RunningBot) -> None:
    await bot.post_events(outlier("evt-seen"))

    response = await bot.post_events({"events": [outlier("evt-seen"), outlier("evt-new")]})

    assert await response.json() == {"accepted": 1, "duplicates": 1}


@pytest.mark.parametrize("secret", ["new-secret", "old-secret"], ids=["new", "old"])
async def test_ingest_rotated_secrets_accepted(start_bot: BotFactory, secret: str) -> None:
    bot = await start_bot({"MISSIONCONTROL_EVENTS_SECRET": "new-secret,old-secret"})

    response = await bot.post_events(outlier(f"evt-{secret}"), secret=secret)

    assert response.status == 202


async def test_ingest_rotation_rejects_other_secret(start_bot: BotFactory) -> None:
    bot = await start_bot({"MISSIONCONTROL_EVENTS_SECRET": "new-secret,old-secret"})

    response = await bot.post_events(outlier(), secret=EVENTS_SECRET)

    assert response.status == 401


async def test_ingest_survives_every_bad_request(bot: RunningBot, server_clock: FakeClock) -> None:
    before = await bot.post_events(outlier("evt-before"))
    assert before.status == 202

    statuses = [(await send_bad(bot, server_clock, case)).status for case in all_bad_requests()]
    after = await bot.post_events(outlier("evt-after"))

    assert statuses == [case.status for case in all_bad_requests()]
    assert after.status == 202
    assert await bot.runtime.storage.events.find("evt-before") is not None
    assert await bot.runtime.storage.events.find("evt-after") is not None


# Bodies and headers that the checks above do not expect. Each should still get a 4xx response.


async def test_ingest_superscript_timestamp_is_401(bot: RunningBot, server_clock: FakeClock) -> None:
    headers = sign_replacing(TIMESTAMP_HEADER, lambda _: "²")

    response = await send(bot, server_clock, GOOD_BODY, headers)

    assert response.status == 401


async def test_ingest_5000_digit_timestamp_is_401(bot: RunningBot, server_clock: FakeClock) -> None:
    headers = sign_replacing(TIMESTAMP_HEADER, lambda _: "1" * 5000)

    response = await send(bot, server_clock, GOOD_BODY, headers)

    assert response.status == 401


async def test_ingest_deeply_nested_body_is_400(bot: RunningBot, server_clock: FakeClock) -> None:
    depth = 100_000
    response = await send(bot, server_clock, b"[" * depth + b"]" * depth)

    assert response.status == 400


# 503: storage fails. These build the handler directly around a repository that cannot write.


class UnavailableEvents:
    """An event repository whose every write fails with the given error."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def insert_batch(self, events: Sequence[NewEvent], *, now: datetime) -> InsertOutcome:
        raise self.error


class DisconnectedCollection:
    """A MongoDB collection whose writes fail as they do when the primary goes away."""

    async def insert_many(self, documents: list[dict[str, Any]], *, ordered: bool) -> None:
        raise AutoReconnect("connection closed")


def disconnected_repository() -> EventRepository:
    database = Database({"missioncontrol": {"events": DisconnectedCollection()}}, "missioncontrol", in_memory=True)
    return EventRepository(database, retention=timedelta(days=30))


@dataclass
class DirectIngest:
    http: TestClient
    clock: FakeClock
    routed: list[StoredEvent]

    async def post(self, document: Any) -> ClientResponse:
        body = encode(document)
        headers = signed(body, now=self.clock.now().timestamp())
        return await self.http.post("/platform/events", data=body, headers=headers)


@pytest.fixture
async def serve_ingest(clock: FakeClock) -> AsyncIterator[Callable[[Any], Any]]:
    clients: list[TestClient] = []

    async def start(events: Any) -> DirectIngest:
        routed: list[StoredEvent] = []
        ingest = EventIngest(events=events, secrets=[EVENTS_SECRET], clock=clock, on_stored=routed.extend)
        app = web.Application()
        app.router.add_post("/platform/events", ingest.handle)
        http = TestClient(TestServer(app))
        await http.start_server()
        clients.append(http)
        return DirectIngest(http=http, clock=clock, routed=routed)

    yield start
    for http in clients:
        await http.close()


STORAGE_FAILURES = [
    pytest.param(lambda: UnavailableEvents(StorageUnavailable("no primary")), id="storage-unavailable"),
    pytest.param(lambda: UnavailableEvents(AutoReconnect("connection closed")), id="auto-reconnect"),
    pytest.param(disconnected_repository, id="insert-many-auto-reconnect"),
]


@pytest.mark.parametrize("make_events", STORAGE_FAILURES)
async def test_ingest_storage_failure_is_503(
    serve_ingest: Callable[[Any], Any], make_events: Callable[[], Any]
) -> None:
    direct = await serve_ingest(make_events())

    response = await direct.post(outlier())
    body = await error_body(response)

    assert response.status == 503
    assert "nothing was stored" in body["error"]
    assert "details" not in body
    assert direct.routed == []


async def test_ingest_routes_only_new_events(serve_ingest: Callable[[Any], Any], storage: Storage) -> None:
    direct = await serve_ingest(storage.events)
    await direct.post(outlier("evt-old"))
    direct.routed.clear()

    response = await direct.post({"events": [outlier("evt-old"), outlier("evt-new")]})

    assert response.status == 202
    assert [event.id for event in direct.routed] == ["evt-new"]
