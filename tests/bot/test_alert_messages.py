"""AlertMessenger against the ledger: concurrent first posts, crashed claims, and edits Slack refused."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from bot.alert_messages import AlertDelivery, AlertMessenger, RetrySoon
from bot.posting import ConsolePoster
from storage.alerts import NewAlert
from storage.events import NewEvent
from storage.events_schema import event_adapter
from storage.models import Delivery, DeliveryState, NotificationType, Rule, Workspace
from storage.rules import RuleSpec
from storage.store import Storage
from tests.conftest import FakeClock, load_example
from views.messages import SlackMessage


class RecordingPoster:
    """Records posts and updates; `delay` holds each post open, `fail_updates` rejects that many updates."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.posts: list[tuple[str, str | None]] = []
        self.updates: list[tuple[str, str]] = []
        self.delay = delay
        self.fail_updates = 0
        self.update_error = ("ratelimited", 429)

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        await asyncio.sleep(self.delay)
        self.posts.append((channel, thread_ts))
        return f"1.{len(self.posts):06d}"

    async def update(self, *, team_id: str, channel: str, ts: str, message: SlackMessage) -> None:
        if self.fail_updates:
            self.fail_updates -= 1
            response = SlackResponse(
                client=None,
                http_verb="POST",
                api_url="chat.update",
                req_args={},
                data={"ok": False, "error": self.update_error[0]},
                headers={"Retry-After": "1"},
                status_code=self.update_error[1],
            )
            raise SlackApiError(self.update_error[0], response)
        self.updates.append((channel, ts))

    async def upload_file(self, **kwargs: Any) -> None:
        raise AssertionError("no files here")

    def top_level(self) -> int:
        return sum(1 for _, thread in self.posts if thread is None)


@pytest.fixture
async def setup(storage: Storage, clock: FakeClock) -> tuple[Rule, Workspace]:
    now = clock.now()
    workspace = await storage.workspaces.upsert(team_id="T0001", name="T", agency_id="ag-acme", client_id=None, now=now)
    rule = await storage.rules.create(RuleSpec("T0001", "C0ALERTS", NotificationType.OUTLIER_ALERTS), now=now)
    return rule, workspace


async def delivery_for(
    storage: Storage, clock: FakeClock, rule: Rule, workspace: Workspace, event_id: str
) -> AlertDelivery:
    body = {**load_example("outlier_detected.json"), "id": event_id}
    parsed = event_adapter.validate_python(body)
    new = NewEvent(event_id, parsed.type, parsed.agency_id, parsed.client_id, parsed.occurred_at, body)
    await storage.events.insert_batch([new], now=clock.now())
    delivery = Delivery(
        id=f"{rule.id}:{event_id}",
        event_id=event_id,
        rule_id=rule.id,
        team_id=rule.team_id,
        channel=rule.channel,
        state=DeliveryState.PENDING,
        attempts=1,
        next_attempt_at=clock.now(),
        lease_owner="test",
        lease_until=None,
        ts=None,
        last_error=None,
        created_at=clock.now(),
    )
    return AlertDelivery(delivery=delivery, event=parsed, received_at=clock.now(), rule=rule, workspace=workspace)


async def test_concurrent_first_posts_post_once(
    storage: Storage, clock: FakeClock, setup: tuple[Rule, Workspace]
) -> None:
    rule, workspace = setup
    poster = RecordingPoster(delay=0.05)
    messenger = AlertMessenger(storage=storage, poster=poster, clock=clock, web_url=None)
    first = await delivery_for(storage, clock, rule, workspace, "evt_a")
    second = await delivery_for(storage, clock, rule, workspace, "evt_b")
    results = await asyncio.gather(messenger.deliver(first), messenger.deliver(second), return_exceptions=True)
    assert sum(isinstance(result, RetrySoon) for result in results) == 1
    assert poster.top_level() == 1
    # The loser's retry finds the stored ts and becomes a repeat.
    clock.advance(seconds=2)
    assert await messenger.deliver(second) == "1.000001"
    assert poster.top_level() == 1
    assert poster.updates == [("C0ALERTS", "1.000001")]


async def test_crashed_claim_is_taken_over(storage: Storage, clock: FakeClock, setup: tuple[Rule, Workspace]) -> None:
    rule, workspace = setup
    poster = RecordingPoster()
    messenger = AlertMessenger(storage=storage, poster=poster, clock=clock, web_url=None)
    crashed = await delivery_for(storage, clock, rule, workspace, "evt_a")
    await storage.alerts.claim_post(_new_alert(crashed), claim=timedelta(seconds=60), now=clock.now())
    waiting = await delivery_for(storage, clock, rule, workspace, "evt_b")
    with pytest.raises(RetrySoon):
        await messenger.deliver(waiting)
    clock.advance(seconds=61)
    await messenger.deliver(waiting)
    assert poster.top_level() == 1


async def test_refused_edit_stays_pending(storage: Storage, clock: FakeClock, setup: tuple[Rule, Workspace]) -> None:
    rule, workspace = setup
    poster = RecordingPoster()
    messenger = AlertMessenger(storage=storage, poster=poster, clock=clock, web_url=None)
    await messenger.deliver(await delivery_for(storage, clock, rule, workspace, "evt_a"))
    clock.advance(seconds=5)
    poster.fail_updates = 1
    await messenger.deliver(await delivery_for(storage, clock, rule, workspace, "evt_b"))
    assert poster.updates == []
    assert await storage.alerts.pending_count() == 1
    clock.advance(seconds=1)
    assert await messenger.flush_due() == 1
    assert poster.updates == [("C0ALERTS", "1.000001")]
    assert await storage.alerts.pending_count() == 0


def _new_alert(item: AlertDelivery) -> NewAlert:
    return NewAlert(
        rule_id=item.rule.id,
        team_id=item.rule.team_id,
        channel=item.rule.channel,
        kind="outlier",
        key="out_alpha_gads_cpa_3k9x",
        group="cl-alpha",
        event_id=item.event.id,
        label="x",
        severity=2,
        at=item.received_at,
        agency_id="ag-acme",
        client_id="cl-alpha",
        claimed_by="a crashed delivery",
    )


async def test_console_poster_prints_update() -> None:
    stream = io.StringIO()
    poster = ConsolePoster(stream)
    message = SlackMessage(text="Resolved: CPA spike", blocks=[])
    await poster.update(team_id="T0LOCAL", channel="C0ALERTS", ts="local.000001", message=message)
    assert "C0ALERTS, update of local.000001" in stream.getvalue()
    assert "Resolved: CPA spike" in stream.getvalue()


async def test_edit_of_missing_message_dropped(
    storage: Storage, clock: FakeClock, setup: tuple[Rule, Workspace]
) -> None:
    rule, workspace = setup
    poster = RecordingPoster()
    messenger = AlertMessenger(storage=storage, poster=poster, clock=clock, web_url=None)
    await messenger.deliver(await delivery_for(storage, clock, rule, workspace, "evt_a"))
    clock.advance(seconds=5)
    poster.fail_updates = 1
    poster.update_error = ("message_not_found", 200)
    await messenger.deliver(await delivery_for(storage, clock, rule, workspace, "evt_b"))
    assert await storage.alerts.pending_count() == 0
    clock.advance(seconds=5)
    assert await messenger.flush_due() == 0
    assert poster.updates == []
