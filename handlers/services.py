"""What handlers find in Bolt's request context, put there by `bot/` when it wires the app.

Handlers never import `bot/`: each service is described here by the small protocol the handlers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from slack_bolt.async_app import AsyncBoltContext

from handlers.permissions import AdminCache
from storage.models import Rule
from storage.store import Storage

STORAGE = "mc_storage"
CLOCK = "mc_clock"
SERVICES = "mc_services"


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


class RulesChanged(Protocol):
    def __call__(self) -> None:
        """Tell routing that rules changed, so the next event sees the change."""
        ...


@dataclass(frozen=True)
class Services:
    test_messages: TestMessageSender
    rules_changed: RulesChanged
    admin_cache: AdminCache


def storage_of(context: AsyncBoltContext) -> Storage:
    storage: Storage = context[STORAGE]
    return storage


def clock_of(context: AsyncBoltContext) -> Clock:
    clock: Clock = context[CLOCK]
    return clock


def services_of(context: AsyncBoltContext) -> Services:
    services: Services = context[SERVICES]
    return services
