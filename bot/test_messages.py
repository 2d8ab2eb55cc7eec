"""Test messages: post a labelled sample of a rule's type to its channel, at once, and report the result."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.delivery_policy import Action, classify_slack_error
from bot.posting import NoTokenError, Poster
from bot.rule_index import RuleIndex
from bot.samples import sample_event
from handlers.services import TestOutcome
from storage.models import NotificationType, Rule
from storage.store import Storage
from views.messages import SlackMessage, build_event_message
from views.samples import digest_sample_message
from views.test_message import label_as_test

logger = logging.getLogger(__name__)


class TestMessageService:
    """Implements the handlers' `TestMessageSender`; bypasses the outbox, because the user waits for it."""

    __test__ = False  # not a pytest test class, whatever its name

    def __init__(self, *, storage: Storage, poster: Poster, clock: Clock, index: RuleIndex, web_url: str | None):
        self._storage = storage
        self._poster = poster
        self._clock = clock
        self._index = index
        self._web_url = web_url

    async def send_test(self, rule: Rule, *, user_id: str) -> TestOutcome:
        message = label_as_test(await self._sample(rule), user_id=user_id)
        try:
            await self._poster.post(team_id=rule.team_id, channel=rule.channel, message=message)
        except SlackApiError as error:
            code = error.response.get("error") if isinstance(error.response.data, dict) else None
            await self._apply_verdict(rule, status=error.response.status_code, code=code)
            logger.info("Test message failed (rule %s, channel %s, error %s)", rule.id, rule.channel, code)
            return TestOutcome(ok=False, error=code or f"http_{error.response.status_code}")
        except NoTokenError:
            return TestOutcome(ok=False, error="not_authed")
        logger.info("Test message posted (rule %s, channel %s, user %s)", rule.id, rule.channel, user_id)
        return TestOutcome(ok=True)

    async def _sample(self, rule: Rule) -> SlackMessage:
        if rule.type is NotificationType.DAILY_DIGEST:
            return digest_sample_message()
        workspace = await self._storage.workspaces.get(rule.team_id)
        agency_id = workspace.agency_id if workspace and workspace.agency_id else "sample-agency"
        client_workspace = bool(workspace and workspace.is_client_workspace)
        event = sample_event(rule.type, agency_id=agency_id, client_id=rule.client_id, now=self._clock.now())
        return build_event_message(event, web_url=None, client_workspace=client_workspace)

    async def _apply_verdict(self, rule: Rule, *, status: int, code: str | None) -> None:
        verdict = classify_slack_error(status=status, error=code, retry_after=None, channel=rule.channel)
        if verdict.action is Action.RULE_FAILING:
            await self._storage.rules.mark_failing(rule.id, reason=verdict.reason, now=self._clock.now())
            self._index.mark_stale()
