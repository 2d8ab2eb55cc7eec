"""The daily digest schedule: parsing settings, send instants on daylight-saving days, next and missed slots.

Expected UTC instants are worked out by hand from each zone's offsets in 2027. In New York clocks go forward
at 02:00 on 14 March and back at 02:00 on 7 November. In Berlin they go forward at 02:00 on 28 March and
back at 03:00 on 31 October. In Auckland they go back at 03:00 on 4 April and forward at 02:00 on 26 September.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.digest_schedule import (
    DigestSlot,
    catch_up_slot,
    load_zone,
    local_date_of,
    next_slot,
    parse_send_time,
    send_instant,
    slot_for,
)

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")
AUCKLAND = ZoneInfo("Pacific/Auckland")
UTC_ZONE = ZoneInfo("UTC")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local_wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def exists_locally(wall: datetime, zone: ZoneInfo) -> bool:
    """Tell whether a naive local time occurs in `zone`, by converting it to UTC and back."""
    return local_wall(wall.replace(tzinfo=zone).astimezone(UTC), zone) == wall


# parse_send_time


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("00:00", time(0, 0), id="midnight"),
        pytest.param("09:30", time(9, 30), id="half-hour"),
        pytest.param("07:15", time(7, 15), id="off-grid-minute"),
        pytest.param("23:59", time(23, 59), id="last-minute"),
    ],
)
def test_parse_send_time_valid(text: str, expected: time) -> None:
    assert parse_send_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("24:00", id="hour-24"),
        pytest.param("12:60", id="minute-60"),
        pytest.param("9:30", id="one-digit-hour"),
        pytest.param("09:30:00", id="with-seconds"),
        pytest.param("0930", id="no-colon"),
        pytest.param("", id="empty"),
        pytest.param(" 09:30", id="leading-space"),
        pytest.param("09:30\n", id="trailing-newline"),
        pytest.param("ab:cd", id="letters"),
        pytest.param("-1:30", id="negative"),
        pytest.param("٠٩:٣٠", id="arabic-indic-digits"),
    ],
)
def test_parse_send_time_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="Invalid send time") as caught:
        parse_send_time(text)
    assert repr(text) in str(caught.value)


# load_zone


@pytest.mark.parametrize("name", ["America/New_York", "Asia/Kolkata", "UTC", "Etc/GMT+5"])
def test_load_zone_valid(name: str) -> None:
    assert load_zone(name).key == name


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("Nowhere/Land", id="unknown"),
        pytest.param("america/new_york", id="wrong-case"),
        pytest.param("../etc", id="parent-path"),
        pytest.param("/etc/passwd", id="absolute-path"),
        pytest.param("America", id="directory"),
        pytest.param("America/New_York/", id="trailing-slash"),
        pytest.param("", id="empty"),
        pytest.param("UTC\0", id="null-byte"),
        pytest.param("localtime", id="host-localtime"),
        pytest.param("posixrules", id="host-posixrules"),
    ],
)
def test_load_zone_invalid(name: str) -> None:
    with pytest.raises(ValueError, match="was not found") as caught:
        load_zone(name)
    assert repr(name) in str(caught.value)


# send_instant and slot_for


@dataclass(frozen=True)
class InstantCase:
    zone: ZoneInfo
    local_date: date
    send_time: time
    expected: datetime


INSTANT_CASES = [
    pytest.param(InstantCase(NEW_YORK, date(2027, 1, 15), time(9, 0), utc(2027, 1, 15, 14)), id="new-york-winter"),
    pytest.param(InstantCase(NEW_YORK, date(2027, 7, 15), time(9, 0), utc(2027, 7, 15, 13)), id="new-york-summer"),
    pytest.param(
        InstantCase(NEW_YORK, date(2027, 3, 14), time(1, 59), utc(2027, 3, 14, 6, 59)), id="new-york-before-gap"
    ),
    pytest.param(InstantCase(NEW_YORK, date(2027, 3, 14), time(2, 0), utc(2027, 3, 14, 7)), id="new-york-gap-start"),
    pytest.param(InstantCase(NEW_YORK, date(2027, 3, 14), time(2, 30), utc(2027, 3, 14, 7)), id="new-york-in-gap"),
    pytest.param(InstantCase(NEW_YORK, date(2027, 3, 14), time(2, 59), utc(2027, 3, 14, 7)), id="new-york-gap-end"),
    pytest.param(InstantCase(NEW_YORK, date(2027, 3, 14), time(3, 0), utc(2027, 3, 14, 7)), id="new-york-after-gap"),
    pytest.param(
        InstantCase(NEW_YORK, date(2027, 11, 7), time(0, 59), utc(2027, 11, 7, 4, 59)), id="new-york-before-repeat"
    ),
    pytest.param(InstantCase(NEW_YORK, date(2027, 11, 7), time(1, 0), utc(2027, 11, 7, 5)), id="new-york-repeat-start"),
    pytest.param(
        InstantCase(NEW_YORK, date(2027, 11, 7), time(1, 30), utc(2027, 11, 7, 5, 30)), id="new-york-repeated-time"
    ),
    pytest.param(InstantCase(NEW_YORK, date(2027, 11, 7), time(2, 0), utc(2027, 11, 7, 7)), id="new-york-after-repeat"),
    pytest.param(InstantCase(BERLIN, date(2027, 6, 1), time(8, 0), utc(2027, 6, 1, 6)), id="berlin-summer"),
    pytest.param(InstantCase(BERLIN, date(2027, 3, 28), time(2, 30), utc(2027, 3, 28, 1)), id="berlin-in-gap"),
    pytest.param(
        InstantCase(BERLIN, date(2027, 10, 31), time(2, 30), utc(2027, 10, 31, 0, 30)), id="berlin-repeated-time"
    ),
    pytest.param(InstantCase(KOLKATA, date(2027, 3, 14), time(9, 0), utc(2027, 3, 14, 3, 30)), id="kolkata-half-hour"),
    pytest.param(
        InstantCase(KOLKATA, date(2027, 1, 1), time(0, 0), utc(2026, 12, 31, 18, 30)),
        id="kolkata-midnight-prev-utc-day",
    ),
    pytest.param(
        InstantCase(AUCKLAND, date(2027, 1, 15), time(9, 0), utc(2027, 1, 14, 20)), id="auckland-prev-utc-day"
    ),
    pytest.param(InstantCase(AUCKLAND, date(2027, 9, 26), time(2, 30), utc(2027, 9, 25, 14)), id="auckland-in-gap"),
    pytest.param(
        InstantCase(AUCKLAND, date(2027, 4, 4), time(2, 30), utc(2027, 4, 3, 13, 30)), id="auckland-repeated-time"
    ),
    pytest.param(InstantCase(UTC_ZONE, date(2027, 3, 14), time(2, 30), utc(2027, 3, 14, 2, 30)), id="utc"),
]


@pytest.mark.parametrize("case", INSTANT_CASES)
def test_send_instant(case: InstantCase) -> None:
    instant = send_instant(case.local_date, case.send_time, case.zone)
    assert instant == case.expected
    assert instant.tzinfo is UTC


@pytest.mark.parametrize("case", INSTANT_CASES)
def test_slot_for(case: InstantCase) -> None:
    slot = slot_for(case.local_date, case.send_time, case.zone)
    assert slot == DigestSlot(case.local_date, case.expected)


def test_slot_for_skipped_date() -> None:
    # Samoa moved across the date line: 23:59:59 on 29 December 2011 at UTC-10 was followed by 00:00 on
    # 31 December at UTC+14, so 30 December never happened there.
    apia = ZoneInfo("Pacific/Apia")
    skipped = slot_for(date(2011, 12, 30), time(10, 0), apia)
    assert skipped.send_at == utc(2011, 12, 30, 10)
    assert local_wall(skipped.send_at, apia) == datetime(2011, 12, 31, 0, 0)
    assert slot_for(date(2011, 12, 31), time(10, 0), apia).send_at == utc(2011, 12, 30, 20)


def test_send_instant_rejects_aware_time() -> None:
    with pytest.raises(ValueError, match="naive time"):
        send_instant(date(2027, 1, 15), time(9, 0, tzinfo=UTC), NEW_YORK)


# local_date_of


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        pytest.param(utc(2027, 6, 2, 3, 59), NEW_YORK, date(2027, 6, 1), id="new-york-evening"),
        pytest.param(utc(2027, 6, 2, 4, 0), NEW_YORK, date(2027, 6, 2), id="new-york-midnight"),
        pytest.param(utc(2027, 1, 14, 11, 0), AUCKLAND, date(2027, 1, 15), id="auckland-ahead"),
        pytest.param(utc(2027, 1, 14, 18, 29), KOLKATA, date(2027, 1, 14), id="kolkata-before-midnight"),
        pytest.param(utc(2027, 1, 14, 18, 30), KOLKATA, date(2027, 1, 15), id="kolkata-midnight"),
        pytest.param(
            datetime(2027, 6, 1, 23, 0, tzinfo=BERLIN), NEW_YORK, date(2027, 6, 1), id="instant-in-other-zone"
        ),
    ],
)
def test_local_date_of(instant: datetime, zone: ZoneInfo, expected: date) -> None:
    assert local_date_of(instant, zone) == expected


# next_slot


@pytest.mark.parametrize(
    ("now", "last_sent_date", "expected_date"),
    [
        pytest.param(utc(2027, 6, 1, 12, 59), None, date(2027, 6, 1), id="before-send-today"),
        pytest.param(utc(2027, 6, 1, 13, 0), None, date(2027, 6, 2), id="at-send-instant"),
        pytest.param(utc(2027, 6, 1, 14, 0), None, date(2027, 6, 2), id="after-send-today"),
        pytest.param(utc(2027, 6, 1, 12, 0), date(2027, 5, 31), date(2027, 6, 1), id="yesterday-sent"),
        pytest.param(utc(2027, 6, 1, 12, 0), date(2027, 6, 1), date(2027, 6, 2), id="today-sent-early"),
        pytest.param(utc(2027, 6, 1, 12, 0), date(2027, 6, 3), date(2027, 6, 4), id="sent-date-ahead"),
        pytest.param(utc(2027, 6, 2, 3, 0), None, date(2027, 6, 2), id="evening-on-next-utc-date"),
    ],
)
def test_next_slot(now: datetime, last_sent_date: date | None, expected_date: date) -> None:
    slot = next_slot(send_time=time(9, 0), zone=NEW_YORK, now=now, last_sent_date=last_sent_date)
    assert slot.local_date == expected_date
    assert slot.send_at == send_instant(expected_date, time(9, 0), NEW_YORK)
    assert slot.send_at > now


def test_next_slot_accepts_non_utc_now() -> None:
    now = datetime(2027, 6, 1, 8, 59, tzinfo=NEW_YORK)
    slot = next_slot(send_time=time(9, 0), zone=NEW_YORK, now=now, last_sent_date=None)
    assert slot == DigestSlot(date(2027, 6, 1), utc(2027, 6, 1, 13))


def test_next_slot_after_zone_change() -> None:
    # Today's 09:00 digest went out in Berlin at 07:00 UTC. Then the workspace moved to New York, where
    # 09:00 today is still ahead, at 13:00 UTC.
    today = date(2027, 6, 1)
    now = utc(2027, 6, 1, 7, 5)
    without_record = next_slot(send_time=time(9, 0), zone=NEW_YORK, now=now, last_sent_date=None)
    assert without_record.local_date == today

    slot = next_slot(send_time=time(9, 0), zone=NEW_YORK, now=now, last_sent_date=today)
    assert slot == DigestSlot(date(2027, 6, 2), utc(2027, 6, 2, 13))


def test_next_slot_after_send_time_change() -> None:
    # Today's 09:00 digest went out, then the send time moved to 09:01.
    today = date(2027, 6, 1)
    now = utc(2027, 6, 1, 13, 0) + timedelta(seconds=30)
    without_record = next_slot(send_time=time(9, 1), zone=NEW_YORK, now=now, last_sent_date=None)
    assert without_record == DigestSlot(today, utc(2027, 6, 1, 13, 1))

    slot = next_slot(send_time=time(9, 1), zone=NEW_YORK, now=now, last_sent_date=today)
    assert slot == DigestSlot(date(2027, 6, 2), utc(2027, 6, 2, 13, 1))


def test_next_slot_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_slot(send_time=time(9, 0), zone=NEW_YORK, now=datetime(2027, 6, 1, 12, 0), last_sent_date=None)


# A simulated clock walk


@dataclass(frozen=True)
class Walk:
    zone: ZoneInfo
    first_date: date
    send_time: time


WALKS = [
    pytest.param(Walk(NEW_YORK, date(2027, 3, 7), time(2, 30)), id="new-york-spring-in-gap"),
    pytest.param(Walk(NEW_YORK, date(2027, 3, 7), time(9, 0)), id="new-york-spring-morning"),
    pytest.param(Walk(NEW_YORK, date(2027, 3, 7), time(23, 45)), id="new-york-spring-late"),
    pytest.param(Walk(BERLIN, date(2027, 10, 24), time(2, 30)), id="berlin-autumn-repeated"),
    pytest.param(Walk(BERLIN, date(2027, 10, 24), time(0, 0)), id="berlin-autumn-midnight"),
    pytest.param(Walk(BERLIN, date(2027, 10, 24), time(17, 30)), id="berlin-autumn-evening"),
    pytest.param(Walk(AUCKLAND, date(2027, 9, 20), time(2, 30)), id="auckland-spring-in-gap"),
    pytest.param(Walk(AUCKLAND, date(2027, 9, 20), time(9, 0)), id="auckland-spring-morning"),
    pytest.param(Walk(AUCKLAND, date(2027, 9, 20), time(23, 45)), id="auckland-spring-late"),
]


@pytest.mark.parametrize("walk", WALKS)
def test_clock_walk_sends_each_date_once(walk: Walk) -> None:
    """Walk a clock through 14 local days in 15-minute steps, sending each slot when it falls due."""
    step = timedelta(minutes=15)
    # Start one step before the first local midnight, so a 00:00 send time on the first date is still ahead,
    # and stop at 23:45 on the last date, so the date after it gets no digest yet.
    start = datetime.combine(walk.first_date, time(0, 0), tzinfo=walk.zone).astimezone(UTC) - step
    end = datetime.combine(walk.first_date + timedelta(days=14), time(0, 0), tzinfo=walk.zone).astimezone(UTC) - step
    now = start
    last_sent_date: date | None = None
    sent: list[DigestSlot] = []
    scheduled = next_slot(send_time=walk.send_time, zone=walk.zone, now=now, last_sent_date=None)

    while now < end:
        now += step
        if scheduled.send_at <= now:
            sent.append(scheduled)
            last_sent_date = scheduled.local_date
        upcoming = next_slot(send_time=walk.send_time, zone=walk.zone, now=now, last_sent_date=last_sent_date)
        assert upcoming.send_at > now
        assert upcoming.send_at >= scheduled.send_at
        assert upcoming.local_date >= scheduled.local_date
        scheduled = upcoming

    assert [slot.local_date for slot in sent] == [walk.first_date + timedelta(days=i) for i in range(14)]
    for slot in sent:
        assert_slot_follows_rules(slot, walk.send_time, walk.zone)


def assert_slot_follows_rules(slot: DigestSlot, send_time: time, zone: ZoneInfo) -> None:
    requested = datetime.combine(slot.local_date, send_time)
    actual = local_wall(slot.send_at, zone)
    assert actual.date() == slot.local_date
    # astimezone() sets fold=1 only on the second occurrence of a repeated local time.
    assert slot.send_at.astimezone(zone).fold == 0
    if exists_locally(requested, zone):
        assert actual == requested
    else:
        # A missing local time is sent at the first valid minute after it.
        assert actual > requested
        assert local_wall(slot.send_at - timedelta(minutes=1), zone) < requested


# catch_up_slot


@dataclass(frozen=True)
class CatchUpCase:
    send_time: time
    now: datetime
    last_sent_date: date | None
    expected: DigestSlot | None


CATCH_UP_CASES = [
    pytest.param(
        CatchUpCase(
            time(9, 0), utc(2027, 6, 1, 15), date(2027, 5, 31), DigestSlot(date(2027, 6, 1), utc(2027, 6, 1, 13))
        ),
        id="restart-2h-after-missed-send",
    ),
    pytest.param(
        CatchUpCase(time(9, 0), utc(2027, 6, 1, 15), None, DigestSlot(date(2027, 6, 1), utc(2027, 6, 1, 13))),
        id="restart-2h-never-sent",
    ),
    pytest.param(CatchUpCase(time(9, 0), utc(2027, 6, 1, 21), date(2027, 5, 31), None), id="restart-8h-after"),
    pytest.param(CatchUpCase(time(9, 0), utc(2027, 6, 1, 15), date(2027, 6, 1), None), id="already-sent"),
    pytest.param(
        CatchUpCase(
            time(9, 0), utc(2027, 6, 1, 13), date(2027, 5, 31), DigestSlot(date(2027, 6, 1), utc(2027, 6, 1, 13))
        ),
        id="at-send-instant",
    ),
    pytest.param(
        CatchUpCase(
            time(9, 0),
            utc(2027, 6, 1, 19) - timedelta(seconds=1),
            date(2027, 5, 31),
            DigestSlot(date(2027, 6, 1), utc(2027, 6, 1, 13)),
        ),
        id="just-under-max-delay",
    ),
    pytest.param(CatchUpCase(time(9, 0), utc(2027, 6, 1, 19), date(2027, 5, 31), None), id="exactly-max-delay"),
    pytest.param(CatchUpCase(time(9, 0), utc(2027, 6, 1, 12), date(2027, 5, 31), None), id="not-yet-due"),
    pytest.param(CatchUpCase(time(9, 0), utc(2027, 6, 1, 12), None, None), id="not-yet-due-yesterday-too-old"),
    pytest.param(
        # 23:30 EDT on 1 June is 03:30 UTC on 2 June, and the restart is at 01:00 EDT on 2 June.
        CatchUpCase(
            time(23, 30), utc(2027, 6, 2, 5), date(2027, 5, 31), DigestSlot(date(2027, 6, 1), utc(2027, 6, 2, 3, 30))
        ),
        id="missed-2330-restart-0100",
    ),
    pytest.param(CatchUpCase(time(23, 30), utc(2027, 6, 2, 5), date(2027, 6, 1), None), id="missed-2330-already-sent"),
]


@pytest.mark.parametrize("case", CATCH_UP_CASES)
def test_catch_up_slot(case: CatchUpCase) -> None:
    slot = catch_up_slot(send_time=case.send_time, zone=NEW_YORK, now=case.now, last_sent_date=case.last_sent_date)
    assert slot == case.expected


def test_catch_up_slot_custom_max_delay() -> None:
    now = utc(2027, 6, 1, 15)
    assert (
        catch_up_slot(send_time=time(9, 0), zone=NEW_YORK, now=now, last_sent_date=None, max_delay=timedelta(hours=1))
        is None
    )
    assert catch_up_slot(
        send_time=time(9, 0), zone=NEW_YORK, now=now, last_sent_date=None, max_delay=timedelta(hours=3)
    ) == DigestSlot(date(2027, 6, 1), utc(2027, 6, 1, 13))


def test_catch_up_slot_rejects_negative_max_delay() -> None:
    with pytest.raises(ValueError, match="max_delay"):
        catch_up_slot(
            send_time=time(9, 0),
            zone=NEW_YORK,
            now=utc(2027, 6, 1, 15),
            last_sent_date=None,
            max_delay=timedelta(hours=-1),
        )


def test_catch_up_slot_rejects_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        catch_up_slot(send_time=time(9, 0), zone=NEW_YORK, now=datetime(2027, 6, 1, 15, 0), last_sent_date=None)


def test_local_date_of_rejects_naive_instant() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        local_date_of(datetime(2027, 6, 1, 15, 0), NEW_YORK)


# Properties over many zones, dates and send times

# Zones with gaps and repeated times of 30 and 60 minutes, offsets of 30 and 45 minutes, and transitions at
# midnight (São Paulo, Tehran). None of them skips a date or has a gap that crosses midnight between 1990 and
# 2037, so every slot stays on its own date. Pacific/Apia, which skipped 30 December 2011, would not.
PROPERTY_ZONES = [
    "America/New_York",
    "America/Sao_Paulo",
    "America/St_Johns",
    "Asia/Kathmandu",
    "Asia/Kolkata",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "Europe/Berlin",
    "Europe/Dublin",
    "Europe/London",
    "Pacific/Auckland",
    "Pacific/Chatham",
    "UTC",
]
FIRST_DATE = date(1990, 1, 1)
LAST_DATE = date(2037, 12, 31)
any_dates = st.dates(min_value=FIRST_DATE, max_value=LAST_DATE)
any_send_times = st.builds(time, st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59))
# Every zone in the list changes its clocks between 00:00 and 04:00 local time.
early_send_times = st.builds(time, st.integers(min_value=0, max_value=3), st.integers(min_value=0, max_value=59))


@functools.cache
def transition_dates(zone_name: str) -> list[date]:
    """List the local dates on which the zone's UTC offset changes, between FIRST_DATE and LAST_DATE."""
    zone = ZoneInfo(zone_name)
    found: list[date] = []
    day = FIRST_DATE
    offset = datetime.combine(day, time(0, 0), tzinfo=zone).utcoffset()
    while day <= LAST_DATE:
        next_offset = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=zone).utcoffset()
        if next_offset != offset:
            found.append(day)
        day += timedelta(days=1)
        offset = next_offset
    return found


@st.composite
def digest_settings(draw: st.DrawFn) -> tuple[ZoneInfo, date, time]:
    """Draw a zone, a date and a send time, often on a transition date and near the transition.

    Uniform dates and times alone would reach a gap or a repeated hour in roughly one example in 5,000.
    """
    zone_name = draw(st.sampled_from(PROPERTY_ZONES))
    date_strategy = any_dates
    if transition_dates(zone_name):
        date_strategy = st.one_of(any_dates, st.sampled_from(transition_dates(zone_name)))
    local_date = draw(date_strategy)
    send_time = draw(st.one_of(any_send_times, early_send_times))
    return ZoneInfo(zone_name), local_date, send_time


def test_transition_dates_finds_new_york_2027() -> None:
    in_2027 = [day for day in transition_dates("America/New_York") if day.year == 2027]
    assert in_2027 == [date(2027, 3, 14), date(2027, 11, 7)]


@settings(max_examples=500)
@given(digest=digest_settings())
def test_send_instant_maps_back_to_date(digest: tuple[ZoneInfo, date, time]) -> None:
    zone, local_date, send_time = digest
    instant = send_instant(local_date, send_time, zone)
    requested = datetime.combine(local_date, send_time)
    actual = local_wall(instant, zone)
    assert local_date_of(instant, zone) == local_date
    assert actual.time() >= send_time
    # astimezone() sets fold=1 only on the second occurrence of a repeated local time.
    assert instant.astimezone(zone).fold == 0
    if exists_locally(requested, zone):
        assert actual == requested
    else:
        assert local_wall(instant - timedelta(minutes=1), zone) < requested


@settings(max_examples=500)
@given(digest=digest_settings())
def test_slots_increase_by_date(digest: tuple[ZoneInfo, date, time]) -> None:
    zone, local_date, send_time = digest
    today = slot_for(local_date, send_time, zone)
    tomorrow = slot_for(local_date + timedelta(days=1), send_time, zone)
    assert today.send_at < tomorrow.send_at
