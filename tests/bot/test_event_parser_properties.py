"""Properties of `parse_body`: any body gets events or `InvalidBody`, and valid events come back unchanged."""

from __future__ import annotations

import json
import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.ingest import InvalidBody, parse_body
from storage.events_schema import MAX_BATCH_EVENTS, Severity
from tests.conftest import load_example

# Keys of the envelope and of batches, mixed with arbitrary ones, so generated objects reach the schema
# checks instead of failing on the first missing field.
KNOWN_KEYS = st.sampled_from(
    ["events", "id", "type", "occurred_at", "agency_id", "client_id", "data", "severity", "outlier.detected"]
)
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(KNOWN_KEYS | st.text(max_size=10), children, max_size=6)
    ),
    max_leaves=30,
)

# Fields of the envelope and of outlier.detected data. Unknown fields use other names.
EVENT_FIELDS = {"id", "type", "occurred_at", "agency_id", "client_id", "data"}
OUTLIER_FIELDS = {"outlier_id", "definition", "metric", "channel", "severity", "observed", "expected", "url"}


def short_text(max_size: int = 500) -> st.SearchStrategy[str]:
    return st.text(min_size=1, max_size=max_size)


NUMBERS = st.integers(min_value=-(10**15), max_value=10**15) | st.floats(allow_nan=False, allow_infinity=False)
OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
TIMESTAMPS = st.builds(
    lambda instant, offset: instant.astimezone(offset).isoformat(),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
    OFFSETS,
)
URLS = st.text(alphabet=string.ascii_letters + string.digits + "-._~/?=&%#", max_size=100).map(
    lambda path: "https://app.missioncontrol.example/" + path
)


def unknown_fields(known: set[str]) -> st.SearchStrategy[dict[str, Any]]:
    names = st.text(min_size=1, max_size=12).filter(lambda name: name not in known)
    return st.dictionaries(names, JSON_VALUES, max_size=3)


@st.composite
def outlier_events(
    draw: st.DrawFn, *, text_size: int = 500, id_size: int = 128, with_unknown: bool = True
) -> dict[str, Any]:
    """Draw a valid `outlier.detected` event, with unknown fields next to the known ones when `with_unknown`."""
    data: dict[str, Any] = draw(unknown_fields(OUTLIER_FIELDS)) if with_unknown else {}
    data.update(
        outlier_id=draw(short_text(text_size)),
        definition=draw(short_text(text_size)),
        metric=draw(short_text(text_size)),
        channel=draw(short_text(text_size)),
        severity=draw(st.sampled_from([level.value for level in Severity])),
        observed=draw(NUMBERS),
        expected=draw(NUMBERS),
    )
    if draw(st.booleans()):
        data["url"] = draw(URLS)
    event: dict[str, Any] = draw(unknown_fields(EVENT_FIELDS)) if with_unknown else {}
    event.update(
        id=draw(short_text(id_size)),
        type="outlier.detected",
        occurred_at=draw(TIMESTAMPS),
        agency_id=draw(short_text(text_size)),
        client_id=draw(short_text(text_size)),
        data=data,
    )
    return event


# Batches draw lighter events, so that 100 of them stay quick to generate.
BATCH_EVENTS = outlier_events(text_size=20, id_size=20, with_unknown=False)


def numbered_batch(count: int) -> list[dict[str, Any]]:
    return [load_example("outlier_detected.json") | {"id": f"evt-{index}"} for index in range(count)]


def check_rejection(error: InvalidBody) -> None:
    assert str(error)
    assert error.details
    for problem in error.details:
        # The path may be empty: an unknown batch key "" is reported under its own name.
        assert isinstance(problem.path, str)
        assert problem.reason


@given(JSON_VALUES)
def test_parse_any_json_events_or_invalid(value: Any) -> None:
    try:
        events = parse_body(json.dumps(value).encode())
    except InvalidBody as error:
        check_rejection(error)
    else:
        assert events


@given(st.dictionaries(KNOWN_KEYS, JSON_VALUES, max_size=6).map(lambda body: {"events": [body]}))
def test_parse_any_batch_events_or_invalid(value: dict[str, Any]) -> None:
    try:
        events = parse_body(json.dumps(value).encode())
    except InvalidBody as error:
        check_rejection(error)
    else:
        assert len(events) == 1


@given(st.binary(max_size=200))
def test_parse_any_bytes_events_or_invalid(body: bytes) -> None:
    try:
        parse_body(body)
    except InvalidBody as error:
        check_rejection(error)


@given(outlier_events())
def test_parse_valid_event_unchanged(event: dict[str, Any]) -> None:
    [parsed] = parse_body(json.dumps(event).encode())

    assert parsed.id == event["id"]
    assert parsed.type == "outlier.detected"
    assert parsed.body == event


@given(outlier_events())
def test_parse_valid_event_occurred_at(event: dict[str, Any]) -> None:
    [parsed] = parse_body(json.dumps(event).encode())

    assert parsed.occurred_at == datetime.fromisoformat(event["occurred_at"])


@settings(deadline=None, max_examples=40)
@given(st.lists(BATCH_EVENTS, min_size=1, max_size=MAX_BATCH_EVENTS))
@example(numbered_batch(MAX_BATCH_EVENTS))
def test_parse_valid_batch_all_returned(events: list[dict[str, Any]]) -> None:
    parsed = parse_body(json.dumps({"events": events}).encode())

    assert [event.id for event in parsed] == [event["id"] for event in events]
    assert [event.body for event in parsed] == events


@settings(deadline=None, max_examples=40)
@given(st.lists(BATCH_EVENTS, min_size=1, max_size=20), st.data())
def test_parse_batch_names_bad_index(events: list[dict[str, Any]], data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(events) - 1))
    del events[index]["data"]["severity"]

    try:
        parse_body(json.dumps({"events": events}).encode())
    except InvalidBody as error:
        assert [problem.path for problem in error.details] == [f"events[{index}].data.severity"]
    else:
        raise AssertionError("a batch with an event without data.severity was accepted")
