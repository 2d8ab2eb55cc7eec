"""MongoDB unreachable: the platform endpoint answers 503 and stores nothing; /readyz answers 503.

The database is a real pymongo client pointed at a closed port on 127.0.0.1, so the failure is the one
the driver raises in production, after a short server selection timeout.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import StartError, build_runtime
from bot.openapi import ErrorBody, NotReady
from bot.settings import load_settings
from storage.database import Database, open_database
from tests.conftest import EVENTS_SECRET, load_example, signed


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def unreachable_database() -> AsyncIterator[Database]:
    uri = f"mongodb://127.0.0.1:{closed_port()}/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    database = open_database(uri, "missioncontrol_down")
    yield database
    await database.close()


@pytest.fixture
async def http(unreachable_database: Database) -> AsyncIterator[TestClient]:
    settings = load_settings({"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET})
    runtime = build_runtime(settings, database=unreachable_database)
    client = TestClient(TestServer(runtime.web_app))
    await client.start_server()
    yield client
    await client.close()


async def test_events_answer_503_when_storage_down(http: TestClient) -> None:
    body = json.dumps(load_example("outlier_detected.json")).encode()
    response = await http.post("/platform/events", data=body, headers=signed(body))
    assert response.status == 503
    answer = await response.json()
    assert "nothing was stored" in answer["error"]
    assert "details" not in answer
    assert ErrorBody.model_validate(answer).details is None


async def test_readyz_answers_503_when_storage_down(http: TestClient) -> None:
    response = await http.get("/readyz")
    assert response.status == 503
    assert NotReady.model_validate(await response.json()).status == "unavailable"
    health = await http.get("/healthz")
    assert health.status == 200


async def test_checks_before_storage_still_answer(http: TestClient) -> None:
    # A bad signature is rejected before storage is touched, so the platform learns its real mistake.
    body = json.dumps(load_example("outlier_detected.json")).encode()
    response = await http.post("/platform/events", data=body, headers=signed(body, secret="wrong"))
    assert response.status == 401


async def test_start_reports_index_failure(unreachable_database: Database) -> None:
    settings = load_settings({"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET})
    runtime = build_runtime(settings, database=unreachable_database)

    with pytest.raises(StartError, match=r"^Creating the MongoDB indexes failed \(127\.0\.0\.1:\d+: "):
        await runtime.start()
