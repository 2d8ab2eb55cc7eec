"""Sample events for test messages: realistic content, marked as samples in their ids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.events_schema import PlatformEvent, event_adapter
from storage.models import NotificationType

SAMPLE_CLIENT_ID = "sample-client"

_SAMPLES: dict[NotificationType, tuple[str, dict[str, Any]]] = {
    NotificationType.SYSTEM_ERRORS: (
        "system.error",
        {
            "service": "reporting-api",
            "exception_type": "TimeoutError",
            "message": "Sample: the metrics warehouse did not answer within 30 seconds.",
        },
    ),
    NotificationType.OUTLIER_ALERTS: (
        "outlier.detected",
        {
            "outlier_id": "sample-outlier",
            "definition": "CPA spike (sample)",
            "metric": "cpa",
            "channel": "Google Ads",
            "severity": "high",
            "observed": 84.2,
            "expected": 31.5,
        },
    ),
    NotificationType.TASK_FAILURES: (
        "task.failed",
        {
            "task_id": "sample-task",
            "task_name": "Meta Ads daily import (sample)",
            "state": "failed",
            "error": "Sample: the ad account access token has expired.",
            "attempts": 3,
        },
    ),
    NotificationType.NOTE_CREATED: (
        "note.created",
        {
            "note_id": "sample-note",
            "title": "Budget shift for Cyber Week (sample)",
            "body": "Moving 20% of the Meta budget to Google Shopping until Monday.",
            "author": "Mission Control",
            "status": "open",
        },
    ),
    NotificationType.NOTE_UPDATED: (
        "note.updated",
        {
            "note_id": "sample-note",
            "title": "Budget shift for Cyber Week (sample)",
            "body": "Moving 25% of the Meta budget to Google Shopping until Monday.",
            "author": "Mission Control",
            "status": "in_progress",
            "changed_fields": ["body", "status"],
        },
    ),
}


def sample_event(kind: NotificationType, *, agency_id: str, client_id: str | None, now: datetime) -> PlatformEvent:
    """Build a sample event that a rule of `kind` would route; raise KeyError for the daily digest."""
    event_type, data = _SAMPLES[kind]
    return event_adapter.validate_python(
        {
            "id": f"sample-{kind.value}",
            "type": event_type,
            "occurred_at": now.isoformat(),
            "agency_id": agency_id,
            "client_id": client_id or SAMPLE_CLIENT_ID,
            "data": data,
        }
    )
