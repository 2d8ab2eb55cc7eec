"""Daily digests over days and time zones, with two schedulers racing, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.digest import DigestService
from bot.rule_index import RuleIndex
from storage.models import DigestSettings, NotificationType
from storage.rules import RuleSpec
from storage.store import Storage
from tests.conftest import TEAM_ID, BotFactory, FakeClock, single_workspace_env
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient
from views.messages import SlackMessage

WORKSPACES = {
    # team: (time zone, send time); New York changes to daylight saving time on 2027-03-14, when 02:30 does
    # not exist, and the digest then goes out at 03:00.
    "T0NEWYORK": ("America/New_York", "02:30"),
    "T0BERLIN": ("Europe/Berlin", "09:00"),
    "T0KOLKATA": ("Asia/Kolkata", "18:30"),
}
WEEK_START = datetime(2027, 3, 10, tzinfo=UTC)


class RecordingPoster:
    """A poster that keeps what it was asked to post, for checks that do not need the Slack emulator."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.posts: list[tuple[str, str, str | None, datetime, SlackMessage]] = []
        self.uploads: list[tuple[str, str]] = []

    async def post(self, *, team_id: str, channel: str, message: SlackMessage, thread_ts: str | None = None) -> str:
        self.posts.append((team_id, channel, thread_ts, self.clock.now(), message))
        return f"{len(self.posts)}.000"

    async def upload_file(
        self, *, team_id: str, channel: str, filename: str, title: str, content: bytes, thread_ts: str | None
    ) -> None:
        self.uploads.append((team_id, channel))


async def seed_workspaces(storage: Storage, now: datetime) -> None:
    for team_id, (zone, send_time) in WORKSPACES.items():
        await storage.workspaces.upsert(team_id=team_id, name=team_id, agency_id="ag-acme", client_id=None, now=now)
        await storage.workspaces.set_digest(team_id, DigestSettings(True, send_time, zone), now=now)
        await storage.rules.create(RuleSpec(team_id, f"C{team_id[1:]}", NotificationType.DAILY_DIGEST), now=now)


def service(storage: Storage, clock: FakeClock, poster: RecordingPoster, owner: str) -> DigestService:
    return DigestService(
        storage=storage, poster=poster, clock=clock, index=RuleIndex(storage), web_url=None, owner=owner
    )


async def test_week_in_three_zones_with_two_schedulers(storage: Storage) -> None:
    clock = FakeClock(WEEK_START)
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    schedulers = [service(storage, clock, poster, "replica-a"), service(storage, clock, poster, "replica-b")]
    step = timedelta(minutes=15)
    while clock.now() < WEEK_START + timedelta(days=7):
        for scheduler in schedulers:
            await scheduler.run_due()
        clock.advance(minutes=15)

    main_posts = [(team, when) for team, _, thread, when, _ in poster.posts if thread is None]
    per_day = Counter((team, when.astimezone(ZoneInfo(WORKSPACES[team][0])).date()) for team, when in main_posts)
    assert per_day, "no digest was sent"
    assert set(per_day.values()) == {1}, per_day
    assert poster.uploads == []  # no metrics were seeded, so no chart is attached
    for team, (zone_name, send_time) in WORKSPACES.items():
        zone = ZoneInfo(zone_name)
        days = sorted(day for posted_team, day in per_day if posted_team == team)
        assert len(days) >= 6, (team, days)
        for posted_team, when in main_posts:
            if posted_team != team:
                continue
            local = when.astimezone(zone)
            expected = datetime.combine(local.date(), datetime.strptime(send_time, "%H:%M").time())
            delay = local.replace(tzinfo=None) - expected
            # Sent within one clock step of the send time, or right after a daylight-saving gap.
            assert timedelta(0) <= delay < step + timedelta(hours=1), (team, local)
    new_york_spring_day = [
        when for team, when in main_posts if team == "T0NEWYORK" and when.date() == date(2027, 3, 14)
    ]
    assert [when.astimezone(ZoneInfo("America/New_York")).strftime("%H:%M") for when in new_york_spring_day] == [
        "03:00"
    ]


async def test_restart_catches_up_within_six_hours(storage: Storage) -> None:
    send_at = datetime(2027, 3, 10, 8, 0, tzinfo=UTC)  # 09:00 in Berlin
    clock = FakeClock(send_at + timedelta(hours=2))
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    await service(storage, clock, poster, "restarted").run_due()
    # Berlin's 09:00 and New York's 02:30 (07:30 UTC) were missed by under six hours; Kolkata's 18:30 the
    # day before (13:00 UTC) by more.
    assert sorted(team for team, _, thread, _, _ in poster.posts if thread is None) == ["T0BERLIN", "T0NEWYORK"]


async def test_restart_skips_after_six_hours(storage: Storage) -> None:
    clock = FakeClock(datetime(2027, 3, 10, 16, 0, tzinfo=UTC))  # Berlin's 09:00 was eight hours ago
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    for team_id in ("T0NEWYORK", "T0KOLKATA"):
        await storage.workspaces.set_digest(team_id, DigestSettings(False, "09:00", "UTC"), now=clock.now())
    await service(storage, clock, poster, "restarted").run_due()
    assert poster.posts == []


def skipped_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith("Digest skipped")]


async def test_new_workspace_not_missed(storage: Storage, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(datetime(2027, 3, 10, 16, 0, tzinfo=UTC))  # Berlin's 09:00 was eight hours ago
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())

    with caplog.at_level(logging.INFO, logger="bot.digest"):
        await service(storage, clock, poster, "first-start").run_due()

    # Berlin's and New York's send times were more than six hours ago; Kolkata's 18:30 (13:00 UTC) is sent late.
    assert [post[0] for post in poster.posts if post[0] != "T0KOLKATA"] == []
    assert skipped_lines(caplog) == []


async def test_missed_digest_after_earlier_one_warns(storage: Storage, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock(datetime(2027, 3, 10, 16, 0, tzinfo=UTC))
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    yesterday = date(2027, 3, 9)
    assert await storage.digest_runs.claim(team_id="T0BERLIN", local_date=yesterday, owner="old", now=clock.now())

    with caplog.at_level(logging.INFO, logger="bot.digest"):
        await service(storage, clock, poster, "restarted").run_due("T0BERLIN")

    assert skipped_lines(caplog) == ["Digest skipped: missed by more than six hours (team T0BERLIN, date 2027-03-10)"]


async def test_turning_off_stops_next_day(storage: Storage) -> None:
    clock = FakeClock(datetime(2027, 3, 10, 8, 0, tzinfo=UTC))
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    digest = service(storage, clock, poster, "a")
    await digest.run_due("T0BERLIN")
    assert len([post for post in poster.posts if post[0] == "T0BERLIN" and post[2] is None]) == 1
    await storage.workspaces.set_digest("T0BERLIN", DigestSettings(False, "09:00", "Europe/Berlin"), now=clock.now())
    clock.advance(days=1)
    await digest.run_due("T0BERLIN")
    assert len([post for post in poster.posts if post[0] == "T0BERLIN" and post[2] is None]) == 1


async def test_preview_never_claims_the_day(storage: Storage) -> None:
    clock = FakeClock(datetime(2027, 3, 10, 7, 0, tzinfo=UTC))  # an hour before Berlin's send time
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    digest = service(storage, clock, poster, "a")
    assert await digest.send_preview("T0BERLIN", user_id="U0ADMIN") is None
    assert poster.posts[0][1] == "U0ADMIN"
    clock.advance(hours=1)
    await digest.run_due("T0BERLIN")
    assert [post[1] for post in poster.posts if post[2] is None] == ["U0ADMIN", "C0BERLIN"]
    assert await storage.digest_runs.count_for("T0BERLIN") == 1


async def test_time_changed_after_send_waits_for_tomorrow(storage: Storage) -> None:
    clock = FakeClock(datetime(2027, 3, 10, 8, 0, tzinfo=UTC))
    poster = RecordingPoster(clock)
    await seed_workspaces(storage, clock.now())
    digest = service(storage, clock, poster, "a")
    await digest.run_due("T0BERLIN")
    await storage.workspaces.set_digest("T0BERLIN", DigestSettings(True, "09:30", "Europe/Berlin"), now=clock.now())
    clock.advance(minutes=30)
    await digest.run_due("T0BERLIN")
    assert len([post for post in poster.posts if post[2] is None]) == 1
    workspace = await storage.workspaces.get("T0BERLIN")
    assert workspace is not None
    slot = await digest.next_slot_for(workspace)
    assert slot.local_date == date(2027, 3, 11)


# --- Through Slack: the settings, the digest message and its chart in the emulator ---------------------


@pytest.fixture
async def digest_bot(start_bot: BotFactory, emulator: SlackEmulator) -> tuple[object, SlackClient]:
    emulator.admin_users.add("U0ADMIN")
    bot = await start_bot(single_workspace_env(emulator), clock=FakeClock(datetime(2027, 3, 10, 7, 0, tzinfo=UTC)))
    storage, now = bot.runtime.storage, bot.runtime.clock.now()
    await storage.rules.create(RuleSpec(TEAM_ID, "C0DIGEST", NotificationType.DAILY_DIGEST), now=now)
    for day, spend in (("2027-03-08", 1200.0), ("2027-03-09", 1350.5)):
        await storage.metrics.apply_snapshot(
            agency_id="ag-acme",
            client_id="cl-alpha",
            date=day,
            channel="Google Ads",
            metrics={"spend": spend, "conversions": 40.0, "revenue": 5200.0},
            occurred_at=now,
        )
    return bot, SlackClient(bot.http, user_id="U0ADMIN")


async def test_digest_command_then_send(digest_bot: tuple[object, SlackClient], emulator: SlackEmulator) -> None:
    bot, admin = digest_bot
    for text in ("digest tz Europe/Berlin", "digest time 09:00", "digest on"):
        await admin.command(text, response_url=emulator.response_url(text.replace(" ", "-").replace("/", "-")))
    answers = [await emulator.wait_for_response(text.replace(" ", "-").replace("/", "-")) for text in ("digest on",)]
    assert "Next digest" in json.dumps(answers)
    runtime = bot.runtime  # type: ignore[attr-defined]
    runtime.clock.advance(hours=1)
    assert await runtime.digest.run_due() == 1
    [main] = [message for message in emulator.posted_messages("C0DIGEST") if message.thread_ts is None]
    assert main.text
    assert emulator.limit_violations == []
    assert [shared["channel"] for shared in emulator.shared_files] == ["C0DIGEST"]


async def test_digest_without_chart_when_upload_fails(
    digest_bot: tuple[object, SlackClient], emulator: SlackEmulator
) -> None:
    bot, _ = digest_bot
    runtime = bot.runtime  # type: ignore[attr-defined]
    await runtime.storage.workspaces.set_digest(
        TEAM_ID, DigestSettings(True, "09:00", "Europe/Berlin"), now=runtime.clock.now()
    )
    emulator.upload_failure_status = 500
    runtime.clock.advance(hours=1)
    assert await runtime.digest.run_due() == 1
    assert [message.channel for message in emulator.posted_messages() if message.thread_ts is None] == ["C0DIGEST"]
    assert emulator.shared_files == []


async def test_invalid_timezone_rejected(digest_bot: tuple[object, SlackClient], emulator: SlackEmulator) -> None:
    bot, admin = digest_bot
    await admin.command("digest tz Mars/Olympus", response_url=emulator.response_url("tz"))
    [answer] = await emulator.wait_for_response("tz")
    assert "Mars/Olympus" in answer["text"]
    workspace = await bot.runtime.storage.workspaces.get(TEAM_ID)  # type: ignore[attr-defined]
    assert workspace is not None
    assert not workspace.digest_configured


async def test_app_home_saves_digest_settings(digest_bot: tuple[object, SlackClient], emulator: SlackEmulator) -> None:
    bot, admin = digest_bot
    runtime = bot.runtime  # type: ignore[attr-defined]
    await admin.home_action({"type": "button", "action_id": "home_section:connection", "value": "connection"})
    await emulator.wait_for_calls("views.publish", 1)
    home = json.dumps(emulator.home_views["U0ADMIN"])
    assert "digest_save" in home
    assert "Europe/Berlin" in home  # the viewer's own Slack time zone is proposed before anything is saved

    def chosen(action_id: str, value: str) -> dict[str, object]:
        return {action_id: {"type": "static_select", "selected_option": {"value": value}}}

    values = {"digest_settings": chosen("digest_enabled", "on") | chosen("digest_time", "10:30")}
    values["digest_settings"] |= chosen("digest_timezone", "Asia/Kolkata")
    view = {"id": "VHOME", "type": "home", "private_metadata": json.dumps({"section": "connection", "page": 0})}
    await admin.interaction(
        {
            "type": "block_actions",
            "trigger_id": "trigger-save",
            "container": {"type": "view", "view_id": "VHOME"},
            "view": view | {"state": {"values": values}},
            "actions": [{"type": "button", "action_id": "digest_save", "block_id": "digest_settings"}],
        }
    )
    await emulator.wait_for_calls("views.publish", 2)
    workspace = await runtime.storage.workspaces.get(TEAM_ID)
    assert workspace is not None
    assert (workspace.digest.enabled, workspace.digest.send_time, workspace.digest.timezone) == (
        True,
        "10:30",
        "Asia/Kolkata",
    )
    assert "Next digest" in json.dumps(emulator.home_views["U0ADMIN"])
    [entry, *_] = await runtime.storage.audit.latest(TEAM_ID)
    assert entry.action == "digest settings changed"
