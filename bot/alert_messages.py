"""Alert messages in Slack: apply `bot.alert_policy` decisions to the ledger and to Slack.

Delivery calls `AlertMessenger.deliver` for every routed event. A new alert is claimed in the ledger, then
posted or gathered into its burst summary. Any later change (a repeat, a resolution, a note update or
deletion) is recorded in the ledger first, as a pending edit. `flush` sends pending edits of one message with
`chat.update` and, where the change calls for it, one thread reply. It runs at most once per `pace` per message
(twice `pace` after a reply), so repeats that arrive faster are folded into one reply and a summary is edited
about once a second however many alerts it gathers. A background pass sends edits whose pace interval ended
after the event that caused them, so the last change always reaches Slack.

After a crash between Slack accepting a first post and the ledger storing its `ts`, the claim expires and the
alert is posted again: at most one duplicate, as with deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.alert_policy import (
    Action,
    AlertEvent,
    AlertKind,
    AlertState,
    AlertStatus,
    BurstPolicy,
    Change,
    MessageState,
    Placement,
    alert_of,
    decide,
    place,
)
from bot.clock import Clock
from bot.delivery_policy import Action as SlackAction
from bot.delivery_policy import classify_slack_error
from bot.pacing import PacingDeferred
from bot.posting import NoTokenError, Poster
from storage.alerts import ALERT, AlertRecord, NewAlert, SummaryRecord, rule_of_doc
from storage.events_schema import (
    NoteCreatedEvent,
    NoteDeletedEvent,
    NoteUpdatedEvent,
    OutlierDetectedEvent,
    OutlierResolvedEvent,
    PlatformEvent,
    TaskFailedEvent,
    event_adapter,
)
from storage.models import Delivery, Rule, Workspace
from storage.store import Storage
from views.alert_messages import (
    SUMMARY_TOP_COUNT,
    BurstSummary,
    GatheredItem,
    LivingStatus,
    build_burst_summary,
    build_living_message,
    build_note_gone_message,
    build_repeat_reply,
    build_resolution_reply,
    ranks_by_severity,
)
from views.limits import MAX_UPDATE_TEXT
from views.messages import SlackMessage, build_event_message, build_task_failure_message
from views.text import truncate

logger = logging.getLogger(__name__)

DEFAULT_PACE = timedelta(seconds=1)
# How long a worker may hold the first post of an alert before another worker may take it over.
DEFAULT_CLAIM = timedelta(seconds=60)
DEFAULT_FLUSH_SECONDS = 0.25
# After Slack rejects a message for its content, the summary is posted as plain text at once, and any other
# rejected change waits this long before it is tried again.
REJECTED_EDIT_DELAY = timedelta(minutes=5)
# chat.update errors meaning the message can no longer be edited (Slack's chat.update reference, "Errors").
MESSAGE_GONE_ERRORS = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# Edits of a failing rule wait for the rule to work again; this bounds the wait when the channel is never fixed.
HELD_EDIT_DELAY = timedelta(hours=6)


class RetrySoon(Exception):
    """Another delivery is posting this alert's first message; this one should try again shortly."""


@dataclass(frozen=True)
class AlertDelivery:
    """A delivery with everything loaded that deciding and rendering need."""

    delivery: Delivery
    event: PlatformEvent
    received_at: datetime
    rule: Rule
    workspace: Workspace


def policy_of(rule: Rule) -> BurstPolicy:
    return BurstPolicy(window=timedelta(seconds=rule.burst_window_seconds), threshold=rule.burst_threshold)


def state_of(record: AlertRecord | None) -> AlertState | None:
    if record is None:
        return None
    return AlertState(
        status=AlertStatus(record.status),
        message=MessageState(record.message),
        occurrences=record.occurrences,
        last_seen=record.last_seen,
        claim_until=record.claim_until,
    )


class AlertMessenger:
    def __init__(
        self,
        *,
        storage: Storage,
        poster: Poster,
        clock: Clock,
        web_url: str | None,
        pace: timedelta = DEFAULT_PACE,
        claim: timedelta = DEFAULT_CLAIM,
        flush_seconds: float = DEFAULT_FLUSH_SECONDS,
    ) -> None:
        self._storage = storage
        self._ledger = storage.alerts
        self._poster = poster
        self._clock = clock
        self._web_url = web_url
        self._pace = pace
        self._claim = claim
        self._flush_seconds = flush_seconds
        self._task: asyncio.Task[None] | None = None
        # Set by delivery: marks a rule failing when Slack rejects its channel, as a failed post would.
        self.on_rule_failing: Callable[[str, str, str], Awaitable[None]] | None = None

    # --- Deliveries -------------------------------------------------------------------------------------

    async def deliver(self, item: AlertDelivery) -> str | None:
        """Apply one delivered event to its alert's message; return the `ts` of the message it touched.

        Raises `RetrySoon` while another delivery has claimed the alert's first post. Raises slack_sdk's
        `SlackApiError` when Slack rejects a first post, and the claim stays with this delivery for its retry.
        """
        alert = alert_of(item.event)
        if alert is None:
            raise ValueError(f"event type {item.event.type} is not an alert")
        record = await self._find_record(alert, item)
        if record is not None and record.message == "posting" and record.claimed_by == item.delivery.id:
            # A retry of the delivery that claimed the first post: post it now.
            return await self._post_claimed(record, item)
        if _older_than_resolution(record, alert, item.event):
            # Task failures keep no state of their own, so a failure older than the recovery reaches here.
            # State follows occurred_at, so it must not reopen the alert.
            logger.info("Alert event older than its resolution changed nothing (delivery %s)", item.delivery.id)
            return None
        policy = policy_of(item.rule)
        state = state_of(record)
        if record is not None and record.channel != item.rule.channel and alert.kind is not AlertKind.NOTE:
            # The rule moved to another channel: its old message stays where it was, and the alert starts
            # afresh in the new channel.
            state = None
        action = decide(alert, state, policy=policy, at=item.received_at, now=self._clock.now())
        logger.debug("Alert decision (delivery %s, alert %s, action %s)", item.delivery.id, alert.key, action.value)
        if action is Action.WAIT:
            raise RetrySoon(f"alert {alert.key} is being posted by another delivery")
        if action is Action.NEW:
            return await self._new_alert(alert, record, item)
        if record is None or action in (Action.SKIP_NO_MESSAGE, Action.SKIP_ALREADY):
            logger.info("Alert event changed no message (delivery %s, reason %s)", item.delivery.id, action.value)
            return None
        await self._record_change(action, alert, record, item)
        await self._flush_after_change(record, item, repeat=action is Action.REPEAT)
        return record.ts

    async def _find_record(self, alert: AlertEvent, item: AlertDelivery) -> AlertRecord | None:
        rule = item.rule
        if alert.kind is AlertKind.NOTE:
            # A note's updates go to the thread of the message that announced it in this channel, whichever
            # rule posted that message.
            found = await self._ledger.find_note_in_channel(
                team_id=rule.team_id, channel=rule.channel, client_id=item.event.client_id, note_id=alert.key
            )
            if found is not None:
                return found
        return await self._ledger.get_alert(rule_id=rule.id, kind=alert.kind.value, group=alert.group, key=alert.key)

    async def _new_alert(self, alert: AlertEvent, record: AlertRecord | None, item: AlertDelivery) -> str | None:
        rule = item.rule
        new = NewAlert(
            rule_id=rule.id,
            team_id=rule.team_id,
            channel=rule.channel,
            kind=alert.kind.value,
            key=alert.key,
            group=alert.group,
            event_id=item.event.id,
            label=alert.label,
            severity=alert.severity,
            at=item.received_at,
            agency_id=item.event.agency_id,
            client_id=item.event.client_id,
            claimed_by=item.delivery.id,
            occurred_at=item.event.occurred_at,
        )
        now = self._clock.now()

        if record is None:
            claimed = await self._ledger.claim_post(new, claim=self._claim, now=now)
        else:
            claimed = await self._ledger.take_over(new, claim=self._claim, now=now)
        if claimed is None:
            raise RetrySoon(f"alert {alert.key} was claimed by another delivery")

        if record is not None and record.message == "posting":
            # Taken over from a delivery that claimed the first post and ended without it: that delivery was
            # already counted in the burst and placed as a post, so this one posts without counting again.
            return await self._post_claimed(claimed, item)
        # Counted only after the claim, so a lost race does not count the alert twice.
        policy = policy_of(rule)
        seq, position = await self._ledger.count_new_alert(
            rule_id=rule.id, group=alert.group, at=item.received_at, window=policy.window
        )
        summary_id = f"{rule.id}|summary|{alert.group}|{seq}"
        if place(position, kind=alert.kind, policy=policy) is Placement.POST:
            if alert.kind is not AlertKind.NOTE:
                # The burst's summary, if one follows, counts the alerts posted before it.
                await self._ledger.mark_burst_first(claimed.id, summary_id=summary_id)
            return await self._post_claimed(claimed, item)

        await self._ledger.gather_claimed(claimed.id, summary_id=summary_id)
        await self._ledger.gather(
            summary_id=summary_id,
            rule_id=rule.id,
            team_id=rule.team_id,
            channel=rule.channel,
            group=alert.group,
            notification_type=rule.type.value,
            client_label=await self._client_label(item),
            at=item.received_at,
            occurred_at=item.event.occurred_at,
            agency_id=item.event.agency_id,
        )
        logger.info("Alert gathered into a burst summary (delivery %s, summary %s)", item.delivery.id, summary_id)
        await self.flush(summary_id)
        return None

    async def _post_claimed(self, record: AlertRecord, item: AlertDelivery) -> str:
        message = build_event_message(
            item.event, web_url=self._web_url, client_workspace=item.workspace.is_client_workspace
        )
        # The rule's current channel, not the one at claim time: a first post held while its channel failed is
        # sent where the rule points now.
        channel = item.rule.channel
        ts = await self._poster.post(team_id=record.team_id, channel=channel, message=message)
        await self._ledger.store_posted(record.id, ts=ts, channel=channel, now=self._clock.now())
        return ts

    async def _record_change(self, action: Action, alert: AlertEvent, record: AlertRecord, item: AlertDelivery) -> None:
        at, occurred = item.received_at, item.event.occurred_at
        if action is Action.REPEAT:
            await self._ledger.record_repeat(
                record.id,
                event_id=item.event.id,
                label=alert.label,
                severity=alert.severity,
                at=at,
                occurred_at=occurred,
            )
        elif action is Action.RESOLVE:
            value = item.event.data.observed if isinstance(item.event, OutlierResolvedEvent) else None
            await self._ledger.record_resolution(record.id, at=at, occurred_at=occurred, value=value)
        elif action is Action.NOTE_REPLY:
            await self._ledger.record_note_event(record.id, event_id=item.event.id, at=at)
        elif action is Action.REDACT:
            reason = "deleted" if isinstance(item.event, NoteDeletedEvent) else "private"
            await self._ledger.record_redaction(record.id, reason=reason, at=at, occurred_at=occurred)

    async def _flush_after_change(self, record: AlertRecord, item: AlertDelivery, *, repeat: bool) -> None:
        if record.message == "gathered" and record.summary_id is not None:
            await self._ledger.touch_summary(record.summary_id, occurred_at=item.event.occurred_at, repeat=repeat)
            await self.flush(record.summary_id)
        else:
            await self.flush(record.id)

    async def _client_label(self, item: AlertDelivery) -> str:
        client_id = item.event.client_id
        if client_id is None:
            return "the platform"
        client = await self._storage.clients.get(agency_id=item.event.agency_id, client_id=client_id)
        return client.name if client is not None and client.name else client_id

    async def _summary_client(self, summary: SummaryRecord) -> str:
        """Name a summary's client, looking the name up again when none was stored as the burst began."""
        if summary.client_label != summary.group or summary.agency_id is None:
            return summary.client_label
        client = await self._storage.clients.get(agency_id=summary.agency_id, client_id=summary.group)
        return client.name if client is not None and client.name else summary.client_label

    # --- Paced edits ------------------------------------------------------------------------------------

    async def flush(self, doc_id: str) -> bool:
        """Send a message's pending changes when its pace interval has passed; return True when sent.

        A Slack error that may pass (rate limit, server error) keeps the changes pending for the next pass.
        Any other Slack error drops them with a warning, because retrying would fail the same way.
        """
        now = self._clock.now()
        kind = await self._ledger.take_dirty(doc_id, now=now, pace=self._pace, claim=self._claim)
        if kind is None:
            return False
        try:
            if kind == ALERT:
                await self._send_alert_changes(doc_id)
            else:
                await self._send_summary(doc_id)
        except PacingDeferred as deferred:
            # The channel's pace is used up: keep the changes and send them when its slot comes.
            await self._ledger.postpone_edit(doc_id, until=now + timedelta(seconds=deferred.delay_seconds))
            retry = True
        except SlackApiError as error:
            if kind != ALERT and _rejected_for_content(error) and await self._send_plain_summary(doc_id):
                return True
            retry = await self._after_slack_error(doc_id, error)
        except (aiohttp.ClientError, TimeoutError) as error:
            logger.info("Alert message edit will be retried (message %s, error %s)", doc_id, type(error).__name__)
            retry = True
        except NoTokenError:
            logger.warning("Alert message edit dropped: no bot token for its workspace (message %s)", doc_id)
            retry = False
        except Exception:
            logger.exception("Alert message edit dropped after an unexpected error (message %s)", doc_id)
            retry = False
        else:
            return True
        if kind != ALERT:
            await self._ledger.release_summary_claim(doc_id)
        if retry:
            await self._ledger.mark_dirty_again(doc_id)
        return False

    async def _after_slack_error(self, doc_id: str, error: SlackApiError) -> bool:
        """Tell whether the edit should be tried again, after marking its rule failing on a channel error."""
        response = error.response
        code = response.get("error") if isinstance(response.data, dict) else None
        channel = await self._ledger.channel_of(doc_id) or ""
        verdict = classify_slack_error(
            status=response.status_code,
            error=code,
            retry_after=response.headers.get("Retry-After") or response.headers.get("retry-after"),
            channel=channel,
        )

        if verdict.action in (SlackAction.RETRY_AFTER, SlackAction.RETRY_BACKOFF):
            logger.info("Alert message edit will be retried (message %s, reason %s)", doc_id, verdict.reason)
            return True

        if verdict.action is SlackAction.RULE_FAILING and self.on_rule_failing is not None:
            # A summary that cannot be posted still contains the alerts it gathered: keep its changes, and send
            # them when the rule works again (`AlertLedger.resume_rule_edits`), instead of every pass.
            await self._ledger.postpone_edit(doc_id, until=self._clock.now() + HELD_EDIT_DELAY)
            await self.on_rule_failing(rule_of_doc(doc_id), verdict.reason, str(code or ""))
            logger.warning("Alert message edit held: its rule is failing (message %s)", doc_id)
            return True

        if code in MESSAGE_GONE_ERRORS:
            # Someone deleted the message, or Slack no longer lets the bot edit it: there is nothing to change.
            logger.warning("Alert message edit dropped (message %s, reason %s)", doc_id, verdict.reason)
            return False

        # Anything else (invalid_blocks, msg_too_long, …) would fail the same way at once, but dropping the change
        # would lose what the message gathered: keep it, and try again after a long pause.
        await self._ledger.postpone_edit(doc_id, until=self._clock.now() + REJECTED_EDIT_DELAY)
        logger.error(
            "Slack rejected an alert message; its changes are kept and retried in five minutes (message %s, reason %s)",
            doc_id,
            verdict.reason,
        )
        return True

    async def flush_due(self) -> int:
        """Send every pending change whose pace interval has passed; return how many messages changed."""
        sent = 0
        for doc_id in await self._ledger.due_edits(now=self._clock.now()):
            if await self.flush(doc_id):
                sent += 1
        return sent

    async def _send_alert_changes(self, doc_id: str) -> None:
        record = await self._ledger.get_alert_by_id(doc_id)
        if record is None or record.message != "posted" or record.ts is None:
            return
        if record.status == "redacted":
            redacted = build_note_gone_message(
                deleted=record.gone_reason == "deleted", at=record.occurred_resolved or record.occurred_last
            )
            await self._poster.update(team_id=record.team_id, channel=record.channel, ts=record.ts, message=redacted)
        elif record.kind == AlertKind.NOTE.value:
            await self._reply_note_updates(record)
        else:
            await self._update_alert(record)
        await self._ledger.finish_edit(record)

    async def _update_alert(self, record: AlertRecord) -> None:
        assert record.ts is not None
        event, client_workspace = await self._load_event(record.event_id, record.team_id)
        if event is not None:
            resolved = record.status == "resolved"
            if resolved and isinstance(event, TaskFailedEvent):
                base = build_task_failure_message(event, web_url=self._web_url, recovered=True)
            else:
                shown = resolved_event(event, record) if resolved else event
                base = build_event_message(shown, web_url=self._web_url, client_workspace=client_workspace)
            status = LivingStatus(
                resolved=resolved,
                occurrences=record.occurrences,
                first_seen=record.occurred_first,
                last_seen=record.occurred_last,
                resolved_at=record.occurred_resolved,
            )
            message = build_living_message(base, status)
            await self._poster.update(team_id=record.team_id, channel=record.channel, ts=record.ts, message=message)
        reply = self._reply_for(record)
        if reply is not None:
            await self._poster.post(team_id=record.team_id, channel=record.channel, message=reply, thread_ts=record.ts)
            # Slack paces a channel's posts and edits together, at about one a second: an edit with a reply
            # used two, so the next edit of this message waits two intervals.
            await self._ledger.postpone_edit(record.id, until=self._clock.now() + 2 * self._pace)

    @staticmethod
    def _reply_for(record: AlertRecord) -> SlackMessage | None:
        repeats = None
        # A repeated system error only updates its count and last-seen time, without replies.
        if record.pending_repeats > 0 and record.kind != AlertKind.SYSTEM_ERROR.value:
            repeats = build_repeat_reply(
                count=record.pending_repeats,
                occurrences=record.occurrences,
                last_seen=record.occurred_last,
                label=record.label,
            )
        if not (record.pending_resolution and record.occurred_resolved is not None):
            return repeats
        resolution = build_resolution_reply(
            resolved_at=record.occurred_resolved, first_seen=record.occurred_first, occurrences=record.occurrences
        )
        if repeats is None:
            return resolution
        # Repeats that arrived just before the resolution share its reply, so none goes unmentioned.
        return SlackMessage(
            text=truncate(f"{repeats.text}\n{resolution.text}", MAX_UPDATE_TEXT),
            blocks=[*repeats.blocks, *resolution.blocks],
        )

    async def _reply_note_updates(self, record: AlertRecord) -> None:
        if not record.pending_note_events or record.ts is None:
            return
        # Updates that arrived faster than the pace get one reply, with the latest version.
        event, client_workspace = await self._load_event(record.pending_note_events[-1], record.team_id)
        if not isinstance(event, NoteCreatedEvent | NoteUpdatedEvent):
            return
        message = build_event_message(event, web_url=self._web_url, client_workspace=client_workspace)
        await self._poster.post(team_id=record.team_id, channel=record.channel, message=message, thread_ts=record.ts)

    async def _load_event(self, event_id: str, team_id: str) -> tuple[PlatformEvent | None, bool]:
        stored = await self._storage.events.find(event_id)
        workspace = await self._storage.workspaces.get(team_id)
        client_workspace = workspace is not None and workspace.is_client_workspace
        if stored is None:
            logger.warning("Event of an alert message expired; the message keeps its text (event %s)", event_id)
            return None, client_workspace
        return event_adapter.validate_python(stored.body), client_workspace

    async def _send_summary(self, summary_id: str) -> None:
        summary = await self._ledger.get_summary(summary_id)
        if summary is None:
            return
        message = await self._render_summary(summary)
        if summary.ts is None:
            ts = await self._poster.post(team_id=summary.team_id, channel=summary.channel, message=message)
            await self._ledger.store_summary_posted(summary_id, ts=ts)
            logger.info("Posted burst summary (summary %s, channel %s, ts %s)", summary_id, summary.channel, ts)
        else:
            await self._poster.update(team_id=summary.team_id, channel=summary.channel, ts=summary.ts, message=message)

    async def _send_plain_summary(self, summary_id: str) -> bool:
        """Send a summary as plain text after Slack rejected its blocks; return True when Slack took it."""
        summary = await self._ledger.get_summary(summary_id)
        if summary is None:
            return False
        rendered = await self._render_summary(summary)
        plain = SlackMessage(text=rendered.text, blocks=[])
        try:
            if summary.ts is None:
                ts = await self._poster.post(team_id=summary.team_id, channel=summary.channel, message=plain)
                await self._ledger.store_summary_posted(summary_id, ts=ts)
            else:
                await self._poster.update(
                    team_id=summary.team_id, channel=summary.channel, ts=summary.ts, message=plain
                )
        except (SlackApiError, PacingDeferred, aiohttp.ClientError, TimeoutError):
            return False
        logger.warning("Burst summary sent as plain text after Slack rejected its blocks (summary %s)", summary_id)
        return True

    async def _render_summary(self, summary: SummaryRecord) -> SlackMessage:
        latest_first = not ranks_by_severity(summary.notification_type)
        top = await self._ledger.list_gathered(summary.id, limit=SUMMARY_TOP_COUNT, latest_first=latest_first)
        count = await self._ledger.count_gathered(summary.id)
        resolved = await self._ledger.count_gathered(summary.id, status="resolved")
        firsts = await self._ledger.list_burst_firsts(summary.id)
        # The span covers the alerts posted before the summary too: the burst started with them.
        starts = [record.occurred_first for record in firsts] + [summary.occurred_first or summary.first_at]
        return build_burst_summary(
            BurstSummary(
                summary_id=summary.id,
                notification_type=summary.notification_type,
                client=await self._summary_client(summary),
                count=count,
                resolved=resolved,
                first_at=min(starts),
                last_at=summary.occurred_last or summary.last_at,
                top=[gathered_item(record) for record in top],
                posted_first=len(firsts),
                repeats=summary.repeats,
            )
        )

    # --- Background pass --------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._flush_forever(), name="alert-edits")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _flush_forever(self) -> None:
        while True:
            try:
                await self.flush_due()
            except Exception:
                logger.exception("Alert message edits failed; retrying at the next pass")
            await asyncio.sleep(self._flush_seconds)


def _older_than_resolution(record: AlertRecord | None, alert: AlertEvent, event: PlatformEvent) -> bool:
    """Tell whether a detection or failure occurred before the resolution its alert already shows."""
    if record is None or record.status != "resolved" or record.occurred_resolved is None:
        return False
    return alert.change is Change.RAISE and event.occurred_at <= record.occurred_resolved


def _rejected_for_content(error: SlackApiError) -> bool:
    """Tell whether Slack rejected a message for what it contains, so the same change as plain text may pass."""
    response = error.response
    code = response.get("error") if isinstance(response.data, dict) else None
    return code in {"invalid_blocks", "invalid_blocks_format", "msg_too_long", "too_many_attachments"}


def gathered_item(record: AlertRecord) -> GatheredItem:
    return GatheredItem(
        label=record.label,
        severity=record.severity,
        resolved=record.status == "resolved",
        first_seen=record.occurred_first,
        occurrences=record.occurrences,
        last_seen=record.occurred_last,
    )


def resolved_event(event: PlatformEvent, record: AlertRecord) -> PlatformEvent:
    """Return the detection as its resolved message shows it, with the value the resolution reported."""
    if isinstance(event, OutlierDetectedEvent) and record.resolved_value is not None:
        return event.model_copy(update={"data": event.data.model_copy(update={"observed": record.resolved_value})})
    return event
