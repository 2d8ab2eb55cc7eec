"""The served OpenAPI document: equal to the models, and schemathesis finds no failure against the live bot.

schemathesis generates requests from the document (valid ones, and for the platform endpoint invalid bodies
too), signs each like the platform does, and checks every response: no 5xx, a documented status code and
content type, and a body matching the documented schema. The invalid run uses the document without its
signature headers, because the signer overwrites them, so a mutated header would reach the bot as a valid
one. The bot runs in local mode on 127.0.0.1 with the
in-memory store; schemathesis calls it from a worker thread, because its client blocks while the bot's
event loop has to keep serving.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from bot.ingest import MAX_BODY_BYTES
from bot.openapi import (
    OPENAPI_PATH,
    REF_TEMPLATE,
    RESPONSE_MODELS,
    ErrorBody,
    ValidationErrorBody,
    build_openapi,
)
from bot.signing import signed_headers
from storage.events_schema import EventBatch, OutlierDetectedEvent, SystemErrorEvent
from tests.conftest import EVENTS_SECRET, BotFactory, load_example

# Examples per operation and generation mode. The platform endpoint runs in two modes and the GET endpoints
# have no inputs (one request each), so a run sends about 100 requests in a few seconds. Raise it locally
# for a deeper search.
MAX_EXAMPLES = 50
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


class PlatformSignature(requests.auth.AuthBase):
    """Sign the exact body bytes that requests sends, as the Mission Control platform signs its requests."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        raw = body.encode() if isinstance(body, str) else body
        headers = signed_headers(EVENTS_SECRET, raw, now=time.time())
        headers.pop("Content-Type")
        request.headers.update(headers)
        return request


def without_header_parameters(spec: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of `spec` whose operations have no header parameters, so a negative run mutates bodies only."""
    copy = json.loads(json.dumps(spec))
    for operations in copy["paths"].values():
        for operation in operations.values():
            parameters = [parameter for parameter in operation.get("parameters", []) if parameter["in"] != "header"]
            if "parameters" in operation:
                operation["parameters"] = parameters
    return copy


def fuzz(spec: dict[str, Any], base_url: str) -> dict[str, Counter[int]]:
    """Run schemathesis over every operation; return the response status codes per operation and mode.

    Every operation runs in positive mode. POST operations run in negative mode too, with invalid bodies only.
    """
    session = requests.Session()
    statuses: dict[str, Counter[int]] = {}
    runs = [
        (GenerationMode.POSITIVE, schemathesis.openapi.from_dict(spec)),
        (GenerationMode.NEGATIVE, schemathesis.openapi.from_dict(without_header_parameters(spec))),
    ]
    for mode, schema in runs:
        for result in schema.get_all_operations():
            operation = result.ok()
            if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
                continue
            label = f"{operation.method.upper()} {operation.path} ({mode.value})"
            statuses[label] = Counter()
            run_operation(operation.as_strategy(generation_mode=mode), base_url, session, statuses[label])
    session.close()
    return statuses


def run_operation(strategy: Any, base_url: str, session: requests.Session, statuses: Counter[int]) -> None:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def send(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=base_url, session=session, auth=PlatformSignature(), checks=CHECKS)
        statuses[response.status_code] += 1

    send()


async def test_served_openapi_matches_models(start_bot: BotFactory) -> None:
    bot = await start_bot()

    response = await bot.http.get(OPENAPI_PATH)
    served = await response.json()
    components = served["components"]["schemas"]

    assert response.status == 200
    assert served == build_openapi()
    assert served["openapi"] == "3.1.0"
    for model in (EventBatch, OutlierDetectedEvent, SystemErrorEvent, *RESPONSE_MODELS):
        schema = model.model_json_schema(ref_template=REF_TEMPLATE)
        schema.pop("$defs", None)
        assert components[model.__name__] == schema, model.__name__
    responses = served["paths"]["/platform/events"]["post"]["responses"]
    assert sorted(responses) == ["202", "400", "401", "413", "415", "503"]
    headers = {parameter["name"] for parameter in served["paths"]["/platform/events"]["post"]["parameters"]}
    assert headers == {"X-MissionControl-Request-Timestamp", "X-MissionControl-Signature"}


def keys_of(document: Any) -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            yield key
            yield from keys_of(value)
    elif isinstance(document, list):
        for item in document:
            yield from keys_of(item)


def test_openapi_has_no_pydantic_keywords() -> None:
    # pydantic writes a constraint it cannot map onto a union as its own keyword, which validators ignore.
    found = {key for key in keys_of(build_openapi()["components"]) if key in {"ge", "gt", "le", "lt"}}

    assert found == set()


async def test_whole_float_count_accepted(start_bot: BotFactory) -> None:
    bot = await start_bot()
    event = load_example("task_failed.json")
    event["data"]["attempts"] = 3.0

    response = await bot.post_events(event)

    assert response.status == 202


def test_openapi_valid_for_3_1() -> None:
    # schemathesis ships the OpenAPI 3.1 meta-schema; its module path is internal and may move in a release.
    from schemathesis.specs.openapi.definitions import OPENAPI_31

    errors = [error.message for error in jsonschema.Draft202012Validator(OPENAPI_31).iter_errors(build_openapi())]

    assert errors == []


async def test_schemathesis_finds_no_failure(start_bot: BotFactory, capsys: pytest.CaptureFixture[str]) -> None:
    bot = await start_bot()
    spec = await (await bot.http.get(OPENAPI_PATH)).json()
    base_url = str(bot.http.make_url("")).rstrip("/")

    statuses = await asyncio.to_thread(fuzz, spec, base_url)

    total = sum(sum(counter.values()) for counter in statuses.values())
    with capsys.disabled():
        print(f"\nschemathesis sent {total} requests")
        for label, counter in statuses.items():
            print(f"  {label}: {sum(counter.values())} requests, status codes {dict(sorted(counter.items()))}")
    assert set(statuses) == {
        "POST /platform/events (positive)",
        "POST /platform/events (negative)",
        "GET /healthz (positive)",
        "GET /readyz (positive)",
        f"GET {OPENAPI_PATH} (positive)",
    }
    assert all(statuses.values()), statuses
    # Every body the document calls valid is accepted: a 400 here means the published schema admits a body that
    # the endpoint's validator rejects.
    assert set(statuses["POST /platform/events (positive)"]) == {202}
    # Every invalid body is rejected as invalid, with the signature headers valid.
    assert set(statuses["POST /platform/events (negative)"]) == {400}


ERROR_REQUESTS = [
    pytest.param(b"x" * (MAX_BODY_BYTES + 1), "application/json", True, 413, id="413-too-large"),
    pytest.param(b"{}", "text/plain", True, 415, id="415-not-json"),
    pytest.param(b"{}", "application/json", False, 401, id="401-unsigned"),
    pytest.param(b"{", "application/json", True, 400, id="400-invalid-json"),
]


@pytest.mark.parametrize(("body", "content_type", "sign", "status"), ERROR_REQUESTS)
async def test_error_answers_match_spec(
    start_bot: BotFactory, body: bytes, content_type: str, sign: bool, status: int
) -> None:
    bot = await start_bot()
    headers = signed_headers(EVENTS_SECRET, body, now=time.time()) if sign else {}
    headers["Content-Type"] = content_type

    response = await bot.http.post("/platform/events", data=io.BytesIO(body), headers=headers)
    answer = await response.json()
    documented = build_openapi()["paths"]["/platform/events"]["post"]["responses"][str(status)]
    model = ValidationErrorBody if status == 400 else ErrorBody

    assert response.status == status
    assert documented["content"]["application/json"]["schema"] == {"$ref": REF_TEMPLATE.format(model=model.__name__)}
    assert model.model_validate(answer).error
