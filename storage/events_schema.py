"""Pydantic schema of the events the Mission Control platform POSTs to the bot.

The models are the contract of `POST /platform/events`: the ingest endpoint validates with them, the JSON
Schema in docs/ is generated from them, and the message builders read the parsed values. Unknown fields are
kept (`extra="allow"`) so that a newer platform can add fields without breaking older bots.
"""

from __future__ import annotations

import re
from datetime import date
from enum import Enum
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    WithJsonSchema,
    field_validator,
)

MAX_BATCH_EVENTS = 100

# Short strings are names and ids; long ones are free text such as notes and tracebacks. The caps stop a
# single event from filling the 1 MiB request on its own field; the message builders truncate further.
ShortText = Annotated[str, Field(min_length=1, max_length=500)]
LongText = Annotated[str, Field(max_length=100_000)]
Url = Annotated[str, Field(max_length=2_000, pattern=r"^https?://\S+$")]


def _only_numbers(value: Any) -> Any:
    # JSON true/false and numeric strings are not numbers here, though Python's int() would accept them.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a number")
    return value


Number = Annotated[int | float, BeforeValidator(_only_numbers)]
# pydantic cannot put `ge` on the anyOf of Number's JSON Schema (it writes a bare "ge" key that validators
# ignore), so the published schema states the minimum itself.
NonNegativeNumber = Annotated[Number, Field(ge=0), WithJsonSchema({"type": "number", "minimum": 0})]


def _whole_float_to_int(value: Any) -> Any:
    # JSON Schema counts 3.0 as an integer, so a client that validates against the published schema may send it.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer that is not a JSON true/false or a numeric string; 3.0 is accepted as 3.
Count = Annotated[StrictInt, Field(ge=0), BeforeValidator(_whole_float_to_int)]


class Severity(str, Enum):
    """Outlier severity, ordered from least to most severe."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = [Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL]


class TaskState(str, Enum):
    FAILED = "failed"
    DEAD_LETTER = "dead_letter"


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class SystemErrorData(_Data):
    service: ShortText
    exception_type: ShortText
    message: LongText
    traceback: LongText | None = None
    request_id: ShortText | None = None
    url: Url | None = None


class OutlierDetectedData(_Data):
    outlier_id: ShortText
    definition: ShortText
    metric: ShortText
    channel: ShortText = Field(description='Marketing channel, such as "Google Ads".')
    severity: Severity
    observed: Number
    expected: Number
    url: Url | None = None


class OutlierResolvedData(_Data):
    outlier_id: ShortText
    observed: Number | None = None
    url: Url | None = None


class TaskFailedData(_Data):
    task_id: ShortText
    task_name: ShortText
    state: TaskState
    error: LongText
    attempts: Count
    url: Url | None = None


class TaskRecoveredData(_Data):
    task_id: ShortText
    url: Url | None = None


class NoteData(_Data):
    note_id: ShortText
    title: Annotated[str, Field(max_length=1_000)]
    body: LongText
    author: ShortText
    status: ShortText
    private: StrictBool = False
    changed_fields: list[ShortText] | None = None
    url: Url | None = None


class NoteDeletedData(_Data):
    note_id: ShortText


class MetricsSnapshotData(_Data):
    date: date
    channel: ShortText
    metrics: dict[Annotated[str, Field(min_length=1, max_length=100)], Number]

    @field_validator("date", mode="before")
    @classmethod
    def _date_is_iso(cls, value: Any) -> Any:
        if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError("must be a date in the form YYYY-MM-DD")
        return value


class ClientUpdatedData(_Data):
    name: ShortText
    industry: ShortText | None = None
    account_manager: ShortText | None = None
    monthly_budget: NonNegativeNumber | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] | None = None
    channels: list[ShortText] | None = None


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: Annotated[str, Field(min_length=1, max_length=128, description="The platform's idempotency key.")]
    occurred_at: AwareDatetime
    agency_id: ShortText
    client_id: ShortText


class SystemErrorEvent(_Envelope):
    type: Literal["system.error"]
    # A platform-wide error belongs to no client.
    client_id: ShortText | None = None  # type: ignore[assignment]
    data: SystemErrorData


class OutlierDetectedEvent(_Envelope):
    type: Literal["outlier.detected"]
    data: OutlierDetectedData


class OutlierResolvedEvent(_Envelope):
    type: Literal["outlier.resolved"]
    data: OutlierResolvedData


class TaskFailedEvent(_Envelope):
    type: Literal["task.failed"]
    data: TaskFailedData


class TaskRecoveredEvent(_Envelope):
    type: Literal["task.recovered"]
    data: TaskRecoveredData


class NoteCreatedEvent(_Envelope):
    type: Literal["note.created"]
    data: NoteData


class NoteUpdatedEvent(_Envelope):
    type: Literal["note.updated"]
    data: NoteData


class NoteDeletedEvent(_Envelope):
    type: Literal["note.deleted"]
    data: NoteDeletedData


class MetricsSnapshotEvent(_Envelope):
    type: Literal["metrics.snapshot"]
    data: MetricsSnapshotData


class ClientUpdatedEvent(_Envelope):
    type: Literal["client.updated"]
    data: ClientUpdatedData


PlatformEvent = Annotated[
    SystemErrorEvent
    | OutlierDetectedEvent
    | OutlierResolvedEvent
    | TaskFailedEvent
    | TaskRecoveredEvent
    | NoteCreatedEvent
    | NoteUpdatedEvent
    | NoteDeletedEvent
    | MetricsSnapshotEvent
    | ClientUpdatedEvent,
    Field(discriminator="type"),
]

EVENT_TYPES: tuple[str, ...] = (
    "system.error",
    "outlier.detected",
    "outlier.resolved",
    "task.failed",
    "task.recovered",
    "note.created",
    "note.updated",
    "note.deleted",
    "metrics.snapshot",
    "client.updated",
)

event_adapter: TypeAdapter[PlatformEvent] = TypeAdapter(PlatformEvent)


class EventBatch(BaseModel):
    """The batch form of the request body: `{"events": [...]}`."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[PlatformEvent], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


def platform_events_json_schema() -> dict[str, Any]:
    """Build the JSON Schema of a request body: one event, or a batch of 1 to 100 events."""
    single = event_adapter.json_schema(ref_template="#/$defs/{model}")
    batch = EventBatch.model_json_schema(ref_template="#/$defs/{model}")
    defs = {**single.pop("$defs", {}), **batch.pop("$defs", {})}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Mission Control platform event request body",
        "oneOf": [single, batch],
        "$defs": defs,
    }
