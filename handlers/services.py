"""Services that handlers find in Bolt's request context, put there by `bot/` when it wires the app.

Handlers never import `bot/`: each service is described here by the small protocol the handlers use.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from slack_bolt.async_app import AsyncBoltContext

from handlers.permissions import AdminCache
from storage.events_schema import Severity
from storage.models import DigestSettings, NotificationType, Rule, Workspace
from storage.snoozes import AlertRef, Snooze
from storage.store import Storage
from views.messages import SlackMessage
from views.rule_preview import RulePreview

STORAGE = "mc_storage"
CLOCK = "mc_clock"
SERVICES = "mc_services"
# True when Slack marked the request as coming from a channel shared with another organisation.
EXT_SHARED = "mc_ext_shared"


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class TestOutcome:
    ok: bool
    error: str | None = None


class TestMessageSender(Protocol):
    async def send_test(self, rule: Rule, *, user_id: str) -> TestOutcome:
        """Post a sample message of the rule's type to its channel, labelled as a test."""
        ...


class DigestControl(Protocol):
    async def reschedule(self, team_id: str) -> Any:
        """Rebuild the workspace's digest trigger from its stored settings; return the next slot or None."""
        ...

    async def next_slot_for(self, workspace: Workspace) -> Any:
        """Return the next digest slot (with `send_at`) of an enabled workspace."""
        ...

    def check_settings(self, settings: DigestSettings) -> str | None:
        """Return what is wrong with a send time or time zone, as a sentence for the user, or None."""
        ...

    async def send_preview(self, team_id: str, *, user_id: str) -> str | None:
        """Post today's digest to the user without claiming the day; return an error sentence or None."""
        ...


@dataclass(frozen=True)
class HoustonRequest:
    """A question for Houston and where it was asked.

    `client_hint` names the client an alert is about. `thread_context` is plain text quoting the thread's
    earlier messages, for a question asked in a thread that Houston has not answered in yet. The model
    receives it before the question, but it plays no part in choosing the client.
    """

    team_id: str
    channel_id: str
    thread_ts: str
    user_id: str
    question: str
    client_hint: str | None = None
    thread_context: str | None = None


# Receives the model's text while an answer runs, in pieces as the model streams them.
HoustonTextCallback = Callable[[str], Awaitable[None]]


class HoustonAsker(Protocol):
    endpoint: str

    @property
    def configured(self) -> bool:
        """Tell whether a model is configured at all."""
        ...

    async def unavailable(self, *, team_id: str, user_id: str) -> SlackMessage | None:
        """Return the notice to post instead of an answer (off, no model, cap reached), or None to go ahead."""
        ...

    async def ask(self, request: HoustonRequest, on_text: HoustonTextCallback | None = None) -> SlackMessage:
        """Answer the question; return the message to post in the thread (an answer, an error or a notice).

        While the model writes an answer, `on_text` receives its text, unsanitized, in pieces. The returned
        message is the final, sanitized answer and replaces that text. Notices never call `on_text`.
        """
        ...

    async def retry(
        self,
        *,
        team_id: str,
        channel_id: str,
        thread_ts: str,
        user_id: str,
        on_text: HoustonTextCallback | None = None,
    ) -> SlackMessage | None:
        """Ask the thread's last unanswered question again, passing the model's text to `on_text` as `ask` does."""
        ...

    async def record_feedback(self, *, key: str, team_id: str, user_id: str, value: str) -> bool: ...

    async def has_thread(self, *, team_id: str, channel_id: str, thread_ts: str) -> bool:
        """Tell whether Houston has answered in this thread, so replies there continue the conversation."""
        ...


@dataclass(frozen=True)
class LinkOutcome:
    ok: bool
    message: str


class WorkspaceLinker(Protocol):
    async def link(self, *, team_id: str, user_id: str, token: str) -> LinkOutcome:
        """Verify an install grant and set the workspace's Mission Control account from it."""
        ...


class TokenRevocation(Protocol):
    """Bolt's default revocation handlers, which delete the affected tokens from the installation store."""

    async def handle_app_uninstalled_events(self, context: AsyncBoltContext) -> None: ...

    async def handle_tokens_revoked_events(self, event: dict[str, Any], context: AsyncBoltContext) -> None: ...


class RulePreviewer(Protocol):
    async def preview(
        self,
        *,
        workspace: Workspace,
        type: NotificationType | None,
        client_id: str | None,
        min_severity: Severity | None,
        burst_threshold: int | None = None,
        burst_window_seconds: int | None = None,
    ) -> RulePreview:
        """Count the messages a draft rule would have posted over the last seven days of stored events.

        Burst settings left out take the defaults of a new rule.
        """
        ...


class DeliveryRetrier(Protocol):
    async def retry(self, *, delivery_id: str, user_id: str, team_id: str | None = None) -> bool:
        """Queue a failed or dead delivery again (only of `team_id`, when given); False when there is none."""
        ...

    async def retry_all(self, *, user_id: str, team_id: str | None = None) -> int:
        """Queue every failed and dead delivery of `team_id` again; return how many."""
        ...


class RulesChanged(Protocol):
    def __call__(self) -> None:
        """Tell routing that rules changed, so the next event sees the change."""
        ...


class SnoozeControl(Protocol):
    async def end(self, snooze_id: str, *, user_id: str) -> Snooze | None:
        """End an active snooze now and post its end reply; return None when it had already ended."""
        ...

    async def describe_subject(self, snooze: Snooze) -> str | None:
        """Describe a subject snooze's client and metric (task, service) as mrkdwn."""
        ...

    async def alert_resolved(self, alert: AlertRef, *, since: datetime) -> bool:
        """Tell whether an outlier is resolved, or a task recovered after `since`."""
        ...


class FailingRuleNotifier(Protocol):
    async def notify_failing(self, rule_ids: Iterable[str], *, code: str) -> int:
        """Send each failing rule's creator the one direct message about this failure; return how many."""
        ...


@dataclass(frozen=True)
class Services:
    test_messages: TestMessageSender
    rules_changed: RulesChanged
    admin_cache: AdminCache
    # OAuth mode only: single-workspace mode takes its account and token from the environment.
    linker: WorkspaceLinker | None = None
    revocation: TokenRevocation | None = None
    digest: DigestControl | None = None
    houston: HoustonAsker | None = None
    rule_preview: RulePreviewer | None = None
    snoozes: SnoozeControl | None = None
    mending: FailingRuleNotifier | None = None
    deliveries: DeliveryRetrier | None = None


async def workspace_of(context: AsyncBoltContext) -> Workspace | None:
    """Find the workspace a request came from: its team, or its organisation for an org-wide install."""
    workspaces = storage_of(context).workspaces
    workspace = await workspaces.get(context.team_id) if context.team_id else None
    if workspace is None and context.enterprise_id:
        workspace = await workspaces.get(context.enterprise_id)
    return workspace


async def team_key(context: AsyncBoltContext) -> str | None:
    """Return the id that rules, channels and settings of the request's workspace are stored under."""
    workspace = await workspace_of(context)
    return workspace.team_id if workspace is not None else context.team_id


def storage_of(context: AsyncBoltContext) -> Storage:
    storage: Storage = context[STORAGE]
    return storage


def clock_of(context: AsyncBoltContext) -> Clock:
    clock: Clock = context[CLOCK]
    return clock


def services_of(context: AsyncBoltContext) -> Services:
    services: Services = context[SERVICES]
    return services
