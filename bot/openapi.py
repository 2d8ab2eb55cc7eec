"""OpenAPI 3.1 description of the platform endpoint and the health checks, built from the pydantic models.

The request body schemas come from `storage.events_schema`, the models the endpoint validates with, and the
answers from the models below, so the document cannot drift from the code that serves it. OpenAPI 3.1 uses
JSON Schema 2020-12, so pydantic's schemas go into `components/schemas` unchanged apart from their `$ref`s.
"""

from __future__ import annotations

from importlib import metadata
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.ingest import MAX_BODY_BYTES, MAX_ERROR_DETAILS
from bot.signing import MAX_CLOCK_SKEW_SECONDS, SIGNATURE_HEADER, TIMESTAMP_HEADER
from storage.events_schema import MAX_BATCH_EVENTS, EventBatch, event_adapter

OPENAPI_PATH = "/platform/openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"


class ErrorDetail(BaseModel):
    """One problem of an invalid request: where in the body, and what is wrong there."""

    path: Annotated[str, Field(description='JSON path of the value, such as "events[3].data.severity".')]
    reason: str


class ErrorBody(BaseModel):
    """An error response: one sentence, and on 400 the problems found (at most a fixed number)."""

    model_config = ConfigDict(extra="forbid")

    error: str
    details: Annotated[list[ErrorDetail], Field(max_length=MAX_ERROR_DETAILS)] | None = None


class ValidationErrorBody(ErrorBody):
    """A 400 response: the details are always present."""

    details: Annotated[list[ErrorDetail], Field(min_length=1, max_length=MAX_ERROR_DETAILS)]


class Accepted(BaseModel):
    """A 202 response: every event of the request is stored, new ones are routed."""

    model_config = ConfigDict(extra="forbid")

    accepted: Annotated[int, Field(ge=0, description="Events stored by this request.")]
    duplicates: Annotated[int, Field(ge=0, description="Events whose id was seen before; not delivered again.")]


class Health(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ok"]


class Ready(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ready"]


class NotReady(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["unavailable"]
    error: str


RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    ErrorDetail,
    ErrorBody,
    ValidationErrorBody,
    Accepted,
    Health,
    Ready,
    NotReady,
)


def build_openapi() -> dict[str, Any]:
    """Build the OpenAPI 3.1 document served at `OPENAPI_PATH`."""
    components: dict[str, Any] = {}
    event = _collect(event_adapter.json_schema(ref_template=REF_TEMPLATE), components)
    components["PlatformEvent"] = event
    components["EventBatch"] = _collect(EventBatch.model_json_schema(ref_template=REF_TEMPLATE), components)
    for model in RESPONSE_MODELS:
        components[model.__name__] = _collect(model.model_json_schema(ref_template=REF_TEMPLATE), components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Mission Control for Slack: platform API",
            "version": _version(),
            "description": (
                "The Mission Control platform POSTs its events here; the bot stores them and posts them to Slack "
                "by the workspaces' rules."
            ),
        },
        "paths": {
            "/platform/events": {"post": _events_operation()},
            "/healthz": {"get": _health_operation()},
            "/readyz": {"get": _ready_operation()},
            OPENAPI_PATH: {"get": _openapi_operation()},
        },
        "components": {"schemas": dict(sorted(components.items()))},
    }


def _collect(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Move a pydantic schema's `$defs` into `components` and return the rest."""
    components.update(schema.pop("$defs", {}))
    return schema


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF_TEMPLATE.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _events_operation() -> dict[str, Any]:
    signature_parameters = [
        {
            "name": TIMESTAMP_HEADER,
            "in": "header",
            "required": True,
            "description": f"Unix time in seconds; rejected when more than {MAX_CLOCK_SKEW_SECONDS} s from the "
            "server clock.",
            "schema": {"type": "string", "pattern": "^[0-9]{1,12}$"},
        },
        {
            "name": SIGNATURE_HEADER,
            "in": "header",
            "required": True,
            "description": 'v1= and the hex HMAC-SHA256 of "v1:" + timestamp + ":" + raw body, keyed with '
            "MISSIONCONTROL_EVENTS_SECRET.",
            "schema": {"type": "string", "pattern": "^v1=[0-9a-f]{64}$"},
        },
    ]
    return {
        "operationId": "postPlatformEvents",
        "summary": f"Store one event, or a batch of 1 to {MAX_BATCH_EVENTS}, and route them to Slack.",
        "description": (
            "Checks run in this order and the first failure answers: 413 over the size limit, 415 not JSON, "
            "401 signature, 400 body. A batch is stored whole or not at all. An event id seen before is a "
            "duplicate and is not delivered again."
        ),
        "parameters": signature_parameters,
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"oneOf": [_ref("PlatformEvent"), _ref("EventBatch")]}},
            },
        },
        "responses": {
            "202": _json("Accepted", "Every event is stored; routing may finish after the answer."),
            "400": _json("ValidationErrorBody", "Invalid JSON, wrong shape, or an event failing the schema."),
            "401": _json("ErrorBody", "Missing or wrong signature, or a timestamp too far from the server clock."),
            "413": _json("ErrorBody", f"The body is over {MAX_BODY_BYTES} bytes (1 MiB)."),
            "415": _json("ErrorBody", "The Content-Type is not application/json."),
            "503": _json("ErrorBody", "Storage is unavailable and nothing was stored: retry later."),
        },
    }


def _health_operation() -> dict[str, Any]:
    return {
        "operationId": "getHealth",
        "summary": "Liveness: 200 while the process runs.",
        "responses": {"200": _json("Health", "The process runs.")},
    }


def _ready_operation() -> dict[str, Any]:
    return {
        "operationId": "getReady",
        "summary": "Readiness: 200 when MongoDB answers, 503 otherwise.",
        "responses": {
            "200": _json("Ready", "MongoDB answers."),
            "503": _json("NotReady", "MongoDB does not answer."),
        },
    }


def _openapi_operation() -> dict[str, Any]:
    return {
        "operationId": "getOpenApi",
        "summary": "This document.",
        "responses": {
            "200": {
                "description": "The OpenAPI 3.1 document.",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    }


def _version() -> str:
    try:
        return metadata.version("missioncontrol-slack")
    except metadata.PackageNotFoundError:
        return "0"
