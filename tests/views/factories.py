"""Parsed platform events with realistic defaults, for view tests."""

from __future__ import annotations

from typing import Any

from storage.events_schema import event_adapter

OCCURRED_AT = "2026-03-05T14:30:00+01:00"
OCCURRED_UNIX = 1772717400

DEFAULT_DATA: dict[str, dict[str, Any]] = {
    "system.error": {
        "service": "billing-api",
        "exception_type": "ValueError",
        "message": "invoice total must not be negative",
        "traceback": 'Traceback (most recent call last):\n  File "billing.py", line 12\nValueError: negative',
        "request_id": "req-7f3a",
    },
    "outlier.detected": {
        "outlier_id": "out-42",
        "definition": "CPA spike",
        "metric": "cpa",
        "channel": "Google Ads",
        "severity": "high",
        "observed": 42.5,
        "expected": 25,
    },
    "task.failed": {
        "task_id": "task-9",
        "task_name": "Import Google Ads spend",
        "state": "failed",
        "error": "TimeoutError: upstream did not answer within 30 s",
        "attempts": 3,
    },
    "note.created": {
        "note_id": "note-1",
        "title": "Q2 budget plan",
        "body": "Shift 10% of spend from Meta to Google Ads.",
        "author": "Dana Levi",
        "status": "open",
    },
    "note.updated": {
        "note_id": "note-1",
        "title": "Q2 budget plan",
        "body": "Shift 15% of spend from Meta to Google Ads.",
        "author": "Dana Levi",
        "status": "in review",
        "changed_fields": ["body", "status"],
    },
    "outlier.resolved": {"outlier_id": "out-42"},
}


def make_event(event_type: str, *, envelope: dict[str, Any] | None = None, **data: Any) -> Any:
    """Parse an event of `event_type` whose data is the default for the type updated with `data`.

    A data value of None removes that key, so optional fields can be left out.
    """
    merged = {**DEFAULT_DATA[event_type], **data}
    payload = {
        "id": f"evt-{event_type}",
        "type": event_type,
        "occurred_at": OCCURRED_AT,
        "agency_id": "ag-acme",
        "client_id": "cl-alpha",
        "data": {key: value for key, value in merged.items() if value is not None},
        **(envelope or {}),
    }
    return event_adapter.validate_python(payload)
