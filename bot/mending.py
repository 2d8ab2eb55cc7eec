"""Channels that mend themselves: keep the deliveries of a failing rule and tell its creator once.

A rule fails when its channel stops accepting messages (`not_in_channel`, `is_archived`,
`channel_not_found`). Its deliveries are then held instead of finished, so nothing more is posted to the
channel and nothing is lost. The handlers in `handlers/mending.py` requeue them when the channel works
again. The rule's creator gets one direct message, claimed atomically on the rule, so many failed
deliveries, or several replicas, still send one.

The rule index keeps routing to a failing rule, so alerts that arrive while it fails are held the same
way and sent when it works again.

Who is told: the Slack user who created the rule. Rules from the command line or a seed file have no
creator, so the workspace's installer is told, or, without one, each of its managers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.posting import TokenSource
from storage.models import Delivery, Rule, RuleState
from storage.store import Storage
from views.mending import build_failing_rule_dm

logger = logging.getLogger(__name__)


class ChannelMending:
    """Holds deliveries of failing rules and sends the one direct message per failure.

    Without a Slack client (local mode) the direct message is only logged.
    """

    def __init__(
        self, *, storage: Storage, clock: Clock, client: AsyncWebClient | None, tokens: TokenSource | None
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._client = client
        self._tokens = tokens

    async def hold_failed(self, delivery: Delivery, *, reason: str, code: str) -> None:
        """Hold a delivery whose post failed on its channel, then tell the rule's creator (once)."""
        await self._storage.deliveries.hold(delivery, reason=reason, now=self._clock.now())
        logger.info("Delivery held (delivery %s, rule %s, channel %s)", delivery.id, delivery.rule_id, delivery.channel)
        await self.notify_failing([delivery.rule_id], code=code)

    async def hold_if_failing(self, delivery: Delivery, rule: Rule) -> bool:
        """Hold a claimed delivery, without posting, when its rule is failing on the same channel."""
        if rule.state is not RuleState.FAILING or rule.channel != delivery.channel:
            return False
        await self._storage.deliveries.hold(delivery, reason=rule.failure_reason or "", now=self._clock.now())
        logger.info("Delivery held, rule failing (delivery %s, rule %s)", delivery.id, rule.id)
        return True

    async def notify_failing(self, rule_ids: Iterable[str], *, code: str) -> int:
        """Send each failing rule's direct message unless one was sent for this failure; return how many."""
        # NOTE: the claim comes before the message, so a message that Slack rejects is not sent again for
        # this failure; App Home still shows the failing rule with its reason.
        sent = 0
        for rule_id in rule_ids:
            if not await self._storage.rules.claim_failure_notice(rule_id, now=self._clock.now()):
                continue
            rule = await self._storage.rules.get(rule_id)
            if rule is not None and await self._send_notice(rule, code=code):
                sent += 1
        return sent

    async def _send_notice(self, rule: Rule, *, code: str) -> bool:
        recipients = await self._recipients(rule)
        if not recipients:
            # Rules added from the CLI or the seed in single-workspace mode have no creator to tell.
            logger.warning(
                "No one to tell about a failing rule: add a manager in App Home's Connection section so someone "
                "gets its direct message (team %s, rule %s)",
                rule.team_id,
                rule.id,
            )
            return False
        channel = await self._storage.channels.get(rule.team_id, rule.channel)
        is_private = channel.is_private if channel is not None else rule.channel.startswith("G")
        text, blocks = build_failing_rule_dm(rule, code=code, is_private=is_private)
        if self._client is None or self._tokens is None:
            logger.info("Failing rule not announced in local mode (rule %s, users %s)", rule.id, ",".join(recipients))
            return False
        token = await self._tokens.bot_token(rule.team_id)
        if token is None:
            logger.warning("No bot token to announce a failing rule (team %s, rule %s)", rule.team_id, rule.id)
            return False
        delivered = False
        for user_id in recipients:
            try:
                opened = await self._client.conversations_open(token=token, users=user_id)
                dm_channel = str((opened.get("channel") or {}).get("id"))
                await self._client.chat_postMessage(token=token, channel=dm_channel, text=text, blocks=blocks)
                delivered = True
                logger.info("Failing rule announced (team %s, rule %s, user %s)", rule.team_id, rule.id, user_id)
            except SlackApiError as error:
                logger.warning(
                    "Failing rule announcement failed (team %s, rule %s, user %s, error %s)",
                    rule.team_id,
                    rule.id,
                    user_id,
                    error.response.get("error"),
                )
        return delivered

    async def _recipients(self, rule: Rule) -> list[str]:
        if rule.created_by:
            return [rule.created_by]
        workspace = await self._storage.workspaces.get(rule.team_id)
        if workspace is None:
            return []
        if workspace.installer_user_id:
            return [workspace.installer_user_id]
        return list(dict.fromkeys(workspace.managers))
