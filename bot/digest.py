"""Daily digests: schedule each enabled workspace's next send, claim the day's run, build and post it.

MongoDB is the source of truth: the next send instant comes from the workspace's settings and the last
date sent (a pure function, `bot.digest_schedule`), and APScheduler only fires a one-shot trigger at that
instant. A run is claimed by inserting a unique (workspace, local date) record, so with any number of
replicas each workspace gets one digest per local date.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.delivery_policy import Action, classify_slack_error
from bot.digest_chart import render_chart
from bot.digest_content import DigestData, build_digest_data
from bot.digest_schedule import DigestSlot, catch_up_slot, load_zone, local_date_of, next_slot, parse_send_time
from bot.posting import NoTokenError, Poster
from bot.rule_index import RuleIndex
from storage.models import DigestSettings, NotificationType, Rule, RuleState, Workspace, WorkspaceStatus
from storage.store import Storage
from views.digest import build_digest_messages

logger = logging.getLogger(__name__)

# A digest missed by less than this (the process was down at the send time) is sent once at start.
CATCH_UP_WINDOW = timedelta(hours=6)
# Other replicas may change settings; every replica rebuilds its triggers from MongoDB this often.
RESYNC_SECONDS = 300
CHART_FILENAME = "digest-metrics.png"
CHART_TITLE = "Key metrics, last 7 days"


@dataclass(frozen=True)
class DigestOutcome:
    posted_channels: list[str]
    failed_channels: list[str]


class DigestService:
    """Schedules, claims and posts daily digests; also posts previews that never claim a day."""

    def __init__(
        self,
        *,
        storage: Storage,
        poster: Poster,
        clock: Clock,
        index: RuleIndex,
        web_url: str | None,
        owner: str,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self._storage = storage
        self._poster = poster
        self._clock = clock
        self._index = index
        self._web_url = web_url
        self._owner = owner
        self._scheduler = scheduler

    # --- Scheduling --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Send digests missed by less than six hours, then schedule every enabled workspace."""
        await self.run_due()
        await self.reschedule_all()
        if self._scheduler is not None:
            self._scheduler.add_job(self.reschedule_all, "interval", seconds=RESYNC_SECONDS, id="digest-resync")
            self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def reschedule_all(self) -> None:
        for workspace in await self._storage.workspaces.list_digest_enabled():
            await self.reschedule(workspace.team_id)

    async def reschedule(self, team_id: str) -> DigestSlot | None:
        """Replace the workspace's trigger with one at its next send instant; return that slot."""
        job_id = f"digest:{team_id}"
        if self._scheduler is not None and self._scheduler.get_job(job_id):
            self._scheduler.remove_job(job_id)
        workspace = await self._storage.workspaces.get(team_id)
        if workspace is None or not _is_scheduled(workspace):
            return None
        slot = await self.next_slot_for(workspace)
        if self._scheduler is not None:
            trigger = DateTrigger(run_date=slot.send_at)
            self._scheduler.add_job(self.run_due, trigger=trigger, id=job_id, args=[team_id], replace_existing=True)
        logger.info("Digest scheduled (team %s, date %s, at %s)", team_id, slot.local_date, slot.send_at.isoformat())
        return slot

    async def next_slot_for(self, workspace: Workspace) -> DigestSlot:
        settings = workspace.digest
        last = await self._storage.digest_runs.last_sent_date(workspace.team_id)
        return next_slot(
            send_time=parse_send_time(settings.send_time),
            zone=load_zone(settings.timezone),
            now=self._clock.now(),
            last_sent_date=last,
        )

    async def run_due(self, team_id: str | None = None) -> int:
        """Send every digest that is due now and not yet sent (one workspace, or all); return how many."""
        workspaces = await self._storage.workspaces.list_digest_enabled()
        sent = 0
        for workspace in workspaces:
            if team_id is not None and workspace.team_id != team_id:
                continue
            if not _is_scheduled(workspace):
                continue
            try:
                slot = await self._due_slot(workspace)
                if slot is not None and await self.run_slot(workspace, slot):
                    sent += 1
            except Exception:
                logger.exception("Digest run failed (team %s)", workspace.team_id)
            if team_id is not None:
                await self.reschedule(workspace.team_id)
        return sent

    async def _due_slot(self, workspace: Workspace) -> DigestSlot | None:
        try:
            send_time = parse_send_time(workspace.digest.send_time)
            zone = load_zone(workspace.digest.timezone)
        except ValueError:
            logger.warning("Digest settings are invalid (team %s)", workspace.team_id)
            return None
        now = self._clock.now()
        last = await self._storage.digest_runs.last_sent_date(workspace.team_id)
        slot = catch_up_slot(send_time=send_time, zone=zone, now=now, last_sent_date=last, max_delay=CATCH_UP_WINDOW)
        if slot is None:
            missed = catch_up_slot(
                send_time=send_time, zone=zone, now=now, last_sent_date=last, max_delay=timedelta(days=2)
            )
            # A workspace that never sent a digest missed nothing: its digest was enabled, or it was added,
            # after that send time (a first start in local mode, for one).
            if missed is not None and last is not None:
                logger.warning(
                    "Digest skipped: missed by more than six hours (team %s, date %s)",
                    workspace.team_id,
                    missed.local_date,
                )
        return slot

    # --- Sending -----------------------------------------------------------------------------------

    async def run_slot(self, workspace: Workspace, slot: DigestSlot) -> bool:
        """Claim the slot's date and post the digest to every digest channel; return False when claimed already."""
        now = self._clock.now()
        claimed = await self._storage.digest_runs.claim(
            team_id=workspace.team_id, local_date=slot.local_date, owner=self._owner, now=now
        )
        if not claimed:
            logger.debug("Digest already claimed (team %s, date %s)", workspace.team_id, slot.local_date)
            return False
        outcome = DigestOutcome(posted_channels=[], failed_channels=[])
        for rule in await self._digest_rules(workspace):
            ok = await self._post_for_rule(workspace, rule, local_date=slot.local_date, window_end=slot.send_at)
            (outcome.posted_channels if ok else outcome.failed_channels).append(rule.channel)
        await self._storage.digest_runs.finish(
            team_id=workspace.team_id,
            local_date=slot.local_date,
            status="sent" if not outcome.failed_channels else "partly failed",
            detail={"posted": outcome.posted_channels, "failed": outcome.failed_channels},
            now=self._clock.now(),
        )
        logger.info(
            "Digest sent (team %s, date %s, channels %d, failed %d)",
            workspace.team_id,
            slot.local_date,
            len(outcome.posted_channels),
            len(outcome.failed_channels),
        )
        return True

    async def _digest_rules(self, workspace: Workspace) -> list[Rule]:
        rules = await self._storage.rules.list(team_id=workspace.team_id)
        return [rule for rule in rules if rule.type is NotificationType.DAILY_DIGEST and rule.state is RuleState.ACTIVE]

    async def _post_for_rule(self, workspace: Workspace, rule: Rule, *, local_date: date, window_end: datetime) -> bool:
        client_ids = _scope(workspace, rule)
        data = await self._data(workspace, client_ids, local_date=local_date, window_end=window_end)
        try:
            await self._post_digest(
                workspace, rule.channel, data, scope_label=await self._scope_label(workspace, client_ids)
            )
        except SlackApiError as error:
            await self._handle_error(rule, error)
            return False
        except NoTokenError:
            logger.warning("No bot token for a digest (team %s, rule %s)", workspace.team_id, rule.id)
            return False
        except Exception:
            # The day is already claimed: one channel's failure (a dropped connection, a failed token refresh)
            # must not skip the other channels.
            logger.exception(
                "Digest not posted (team %s, rule %s, channel %s)", workspace.team_id, rule.id, rule.channel
            )
            return False
        return True

    async def _data(
        self, workspace: Workspace, client_ids: list[str] | None, *, local_date: date, window_end: datetime
    ) -> DigestData:
        assert workspace.agency_id is not None  # only linked workspaces are scheduled
        return await build_digest_data(
            self._storage,
            agency_id=workspace.agency_id,
            client_ids=client_ids,
            local_date=local_date,
            window_end=window_end,
            now=self._clock.now(),
        )

    async def _post_digest(self, workspace: Workspace, channel: str, data: DigestData, *, scope_label: str) -> str:
        messages = build_digest_messages(data, web_url=self._web_url, scope_label=scope_label)
        ts = await self._poster.post(team_id=workspace.team_id, channel=channel, message=messages.main)
        for reply in messages.replies:
            await self._poster.post(team_id=workspace.team_id, channel=channel, message=reply, thread_ts=ts)
        await self._attach_chart(workspace, channel, data, thread_ts=ts)
        return ts

    async def _attach_chart(self, workspace: Workspace, channel: str, data: DigestData, *, thread_ts: str) -> None:
        """Upload the metrics chart into the digest's thread; the digest stands without it when that fails."""
        if all(day.spend is None and day.conversions is None for day in data.series):
            return  # nothing to draw: an empty chart would only add noise to the thread
        try:
            chart = await asyncio.to_thread(render_chart, data)
            await self._poster.upload_file(
                team_id=workspace.team_id,
                channel=channel,
                filename=CHART_FILENAME,
                title=CHART_TITLE,
                content=chart,
                thread_ts=thread_ts,
            )
        except Exception as error:  # the chart is optional: any failure leaves the digest in place
            logger.warning(
                "Digest chart not attached (team %s, channel %s, error %s)",
                workspace.team_id,
                channel,
                type(error).__name__,
            )

    async def _handle_error(self, rule: Rule, error: SlackApiError) -> None:
        code = error.response.get("error") if isinstance(error.response.data, dict) else None
        verdict = classify_slack_error(
            status=error.response.status_code, error=code, retry_after=None, channel=rule.channel
        )
        logger.warning(
            "Digest not posted (team %s, rule %s, channel %s, error %s)", rule.team_id, rule.id, rule.channel, code
        )
        if verdict.action is Action.RULE_FAILING:
            await self._storage.rules.mark_failing(rule.id, reason=verdict.reason, now=self._clock.now())
            self._index.mark_stale()
        elif verdict.action is Action.WORKSPACE_INACTIVE:
            await self._storage.workspaces.set_status(
                rule.team_id, WorkspaceStatus.INACTIVE, reason=verdict.reason, now=self._clock.now()
            )
            self._index.mark_stale()

    async def _scope_label(self, workspace: Workspace, client_ids: list[str] | None) -> str:
        if client_ids and len(client_ids) == 1 and workspace.agency_id:
            client = await self._storage.clients.get(agency_id=workspace.agency_id, client_id=client_ids[0])
            return client.name if client else client_ids[0]
        return workspace.name or workspace.agency_id or workspace.team_id

    def check_settings(self, settings: DigestSettings) -> str | None:
        """Return a sentence naming the invalid send time or time zone, or None when both are valid."""
        try:
            parse_send_time(settings.send_time)
            load_zone(settings.timezone)
        except ValueError as error:
            return str(error)
        return None

    # --- Preview -----------------------------------------------------------------------------------

    async def send_preview(self, team_id: str, *, user_id: str) -> str | None:
        """Post today's digest so far to the user as a preview; never claims the day. Return an error or None."""
        workspace = await self._storage.workspaces.get(team_id)
        if workspace is None or workspace.agency_id is None:
            return "This workspace is not linked to a Mission Control account, so there is nothing to summarise."
        zone = _zone_or_utc(workspace.digest.timezone)
        now = self._clock.now()
        client_ids = [workspace.client_id] if workspace.client_id else None
        data = await self._data(workspace, client_ids, local_date=local_date_of(now, zone), window_end=now)
        try:
            await self._post_digest(
                workspace, user_id, data, scope_label=await self._scope_label(workspace, client_ids)
            )
        except (SlackApiError, NoTokenError) as error:
            logger.warning("Digest preview failed (team %s, user %s, error %s)", team_id, user_id, type(error).__name__)
            return "The preview could not be posted. Please try again in a minute."
        logger.info("Digest preview sent (team %s, user %s)", team_id, user_id)
        return None


def _is_scheduled(workspace: Workspace) -> bool:
    return workspace.digest.enabled and workspace.status is WorkspaceStatus.ACTIVE and workspace.agency_id is not None


def _scope(workspace: Workspace, rule: Rule) -> list[str] | None:
    """Return the clients a digest rule covers: its workspace's own client, the rule's client, or all."""
    if workspace.client_id is not None:
        return [workspace.client_id]
    if rule.client_id is not None:
        return [rule.client_id]
    return None


def _zone_or_utc(name: str) -> ZoneInfo:
    try:
        return load_zone(name)
    except ValueError:
        return ZoneInfo("UTC")
