"""Domain models that storage returns: frozen dataclasses, never raw MongoDB documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from storage.events_schema import Severity


class NotificationType(str, Enum):
    """Kind of event a rule routes; the values are the spelling in rule files and in the database."""

    SYSTEM_ERRORS = "system_errors"
    OUTLIER_ALERTS = "outlier_alerts"
    TASK_FAILURES = "task_failures"
    DAILY_DIGEST = "daily_digest"
    NOTE_CREATED = "note_created"
    NOTE_UPDATED = "note_updated"


# Event types that post a message, and the rule type that routes each. The other event types only keep
# state current (clients, metrics, notes, outliers) for the digest and Houston.
ROUTED_EVENT_TYPES: dict[str, NotificationType] = {
    "system.error": NotificationType.SYSTEM_ERRORS,
    "outlier.detected": NotificationType.OUTLIER_ALERTS,
    "task.failed": NotificationType.TASK_FAILURES,
    "note.created": NotificationType.NOTE_CREATED,
    "note.updated": NotificationType.NOTE_UPDATED,
}


class RuleState(str, Enum):
    ACTIVE = "active"
    PAUSED = "paused"
    FAILING = "failing"


class WorkspaceStatus(str, Enum):
    ACTIVE = "active"
    INACTIVE = "inactive"


@dataclass(frozen=True)
class DigestSettings:
    """When a workspace's daily digest goes out: local `send_time` ("HH:MM", 30-minute steps) in `timezone`."""

    enabled: bool = False
    send_time: str = "09:00"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Workspace:
    """A Slack workspace the app is installed in, and the Mission Control account it belongs to.

    An agency workspace has an `agency_id` and no `client_id`; a client workspace has both. A workspace
    with neither is installed but not linked, and receives no events.
    """

    team_id: str
    name: str | None
    agency_id: str | None
    client_id: str | None
    status: WorkspaceStatus
    status_reason: str | None = None
    # The Slack user who installed the app, and the users an admin made managers; with the workspace's
    # admins and owners, they may change rules and settings.
    installer_user_id: str | None = None
    managers: tuple[str, ...] = ()
    enterprise_id: str | None = None
    digest: DigestSettings = field(default_factory=lambda: DigestSettings())
    # False until someone saves digest settings; the form then proposes the viewer's own time zone.
    digest_configured: bool = False
    # Houston stays off until a manager turns it on, because questions and data go to the model endpoint.
    houston_enabled: bool = False

    @property
    def is_client_workspace(self) -> bool:
        return self.client_id is not None

    @property
    def is_linked(self) -> bool:
        return self.agency_id is not None


@dataclass(frozen=True)
class Rule:
    """A notification rule: events of one type go to one channel of one workspace.

    `client_id` None means all clients of the agency. In a client workspace it is always the workspace's
    own client. `min_severity` applies to outlier alerts only.
    """

    id: str
    team_id: str
    channel: str
    type: NotificationType
    client_id: str | None
    min_severity: Severity | None
    state: RuleState
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    # Floods: after `burst_threshold` new alerts of one client within `burst_window_seconds` of each other,
    # further new alerts are gathered into one summary message. Rules stored without them use these defaults.
    burst_window_seconds: int = 60
    burst_threshold: int = 1
    # The Slack user who added the rule in Slack; None for rules from the CLI, a seed file or older versions.
    created_by: str | None = None


class DeliveryState(str, Enum):
    PENDING = "pending"
    SENT = "sent"
    # Not sent and not retried: the rule, channel or workspace cannot receive it (reason in last_error).
    FAILED = "failed"
    # Retries exhausted on an error that might have passed.
    DEAD = "dead"
    # Kept while its rule is failing because of its channel; sent once the channel works again.
    HELD = "held"


@dataclass(frozen=True)
class Delivery:
    """One message to post: an event for one rule. Unique on (event_id, rule_id)."""

    id: str
    event_id: str
    rule_id: str
    team_id: str
    channel: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    ts: str | None
    last_error: str | None
    created_at: datetime
    # When the state last changed: for a failed or dead delivery, when it ended.
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Channel:
    """A Slack channel as the bot last saw it. `is_shared` means shared with another organisation."""

    team_id: str
    channel_id: str
    name: str
    is_private: bool
    is_shared: bool
    is_member: bool
    is_archived: bool


@dataclass(frozen=True)
class AuditEntry:
    """Who changed what, when: `before` and `after` are the changed object's fields (None when absent)."""

    team_id: str
    user_id: str
    action: str
    target: str
    before: dict[str, object] | None
    after: dict[str, object] | None
    at: datetime
