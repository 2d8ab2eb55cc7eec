"""When each workspace's daily digest goes out: pure functions of its settings and the current instant.

A digest for local date D goes out at D's local send time in the workspace's IANA time zone, and no local date
has more than one slot. Nothing here reads the clock: callers pass `now`, so tests can use any instant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# [0-9] rather than \d, because \d also matches digits of other scripts and int() would accept them.
_SEND_TIME = re.compile(r"([0-9]{2}):([0-9]{2})")
# These keys name host configuration files in the zoneinfo directory, not IANA zones, so what they load differs
# between machines.
_HOST_ZONE_KEYS = frozenset({"localtime", "posixrules"})
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class DigestSlot:
    """The digest for one local date and the instant it goes out."""

    local_date: date
    send_at: datetime  # aware, in UTC


def parse_send_time(text: str) -> time:
    """Parse a send time written as "HH:MM" on a 24-hour clock, from 00:00 to 23:59.

    Raises ValueError for anything else, including "9:30", "24:00" and seconds.
    """
    match = _SEND_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"Invalid send time {text!r}: expected HH:MM on a 24-hour clock, such as '09:30'.")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"Invalid send time {text!r}: use 00:00 to 23:59.")
    return time(hour, minute)


def load_zone(name: str) -> ZoneInfo:
    """Load an IANA time zone such as "America/New_York".

    Raises ValueError naming the zone when it is not found or the name is not a zone key (a path such as
    "../etc", a directory such as "America", or the host's "localtime").
    """
    if name in _HOST_ZONE_KEYS:
        raise _zone_not_found(name)
    try:
        return ZoneInfo(name)
    # zoneinfo raises ZoneInfoNotFoundError for unknown keys, ValueError for paths that are not
    # normalized relative keys, and OSError for directories.
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise _zone_not_found(name) from error


def send_instant(local_date: date, send_time: time, zone: ZoneInfo) -> datetime:
    """Return the UTC instant of the digest for `local_date` in `zone`.

    That is the first instant whose local time is at or after `send_time` on `local_date`:
    - a local time that occurs twice (clocks set back) is sent at its first occurrence;
    - a local time that does not exist (clocks set forward) is sent when the gap ends, which is the first
      valid minute after it (02:30 in New York on the spring day is sent at 03:00 local).

    NOTE: when a zone skips a whole date (Pacific/Apia skipped 30 December 2011), that date's digest goes out at
    the start of the next date, so the next local date gets two digests, one for each slot date.
    """
    if send_time.tzinfo is not None:
        raise ValueError(f"Invalid send time {send_time}: pass a naive time, because the zone is a separate argument.")
    wall = datetime.combine(local_date, send_time)
    # fold=0 selects the first occurrence of a repeated local time.
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if _wall_time(first, zone) == wall:
        return first
    return _end_of_gap(wall, zone)


def slot_for(local_date: date, send_time: time, zone: ZoneInfo) -> DigestSlot:
    """Return the digest slot for `local_date` in `zone`."""
    return DigestSlot(local_date, send_instant(local_date, send_time, zone))


def next_slot(*, send_time: time, zone: ZoneInfo, now: datetime, last_sent_date: date | None) -> DigestSlot:
    """Return the earliest slot that is after `now` and, when given, for a date after `last_sent_date`.

    `last_sent_date` keeps a date from getting a second digest when the zone or the send time changes after
    that date's digest went out. Raises ValueError when `now` is naive.
    """
    now = _as_utc(now)
    # The slot of every date before today is already at or before `now`.
    candidate = local_date_of(now, zone)
    if last_sent_date is not None:
        candidate = max(candidate, last_sent_date + _ONE_DAY)
    # Ends within two steps, because tomorrow's local date has not begun yet, so its slot is after `now`.
    while True:
        slot = slot_for(candidate, send_time, zone)
        if slot.send_at > now:
            return slot
        candidate += _ONE_DAY


def catch_up_slot(
    *,
    send_time: time,
    zone: ZoneInfo,
    now: datetime,
    last_sent_date: date | None,
    max_delay: timedelta = timedelta(hours=6),
) -> DigestSlot | None:
    """Return the missed slot to send late after a restart, or None when there is none.

    That is the latest slot with send_at <= now, for a date after `last_sent_date` when given, and less than
    `max_delay` late. Only today's and yesterday's local dates are checked, since the latest due slot is one of
    them: a 23:30 digest missed during a restart at 01:00 is yesterday's. Older missed digests are never sent.
    Raises ValueError when `now` is naive or `max_delay` is negative.
    """
    now = _as_utc(now)
    if max_delay < timedelta(0):
        raise ValueError(f"Invalid max_delay {max_delay}: it must not be negative.")
    today = local_date_of(now, zone)
    due = slot_for(today, send_time, zone)
    if due.send_at > now:
        due = slot_for(today - _ONE_DAY, send_time, zone)
    # Only the latest due slot can qualify, because an older slot is more overdue and has an earlier date.
    if due.send_at > now:
        return None
    if last_sent_date is not None and due.local_date <= last_sent_date:
        return None
    if now - due.send_at >= max_delay:
        return None
    return due


def local_date_of(instant: datetime, zone: ZoneInfo) -> date:
    """Return the local date in `zone` at `instant`. Raises ValueError when `instant` is naive."""
    return _as_utc(instant).astimezone(zone).date()


def _as_utc(instant: datetime) -> datetime:
    # NOTE: aware datetimes that share a tzinfo compare by wall time, ignoring the offset, so every instant is
    # converted to UTC before it is compared or subtracted.
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"Invalid instant {instant.isoformat()}: it must be timezone-aware.")
    return instant.astimezone(UTC)


def _wall_time(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _end_of_gap(wall: datetime, zone: ZoneInfo) -> datetime:
    """Return the first UTC instant whose local time in `zone` is at or after `wall`, a local time in a gap."""
    # For a local time in a gap, fold=0 applies the UTC offset from before the gap and fold=1 the offset from
    # after it (PEP 495), so the gap ends after `low` and no later than `high`.
    low = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    high = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    # Binary search on whole seconds, the resolution of tz database transitions. The local time at `low` is
    # always before `wall` and the local time at `high` is at or after it.
    while high - low > timedelta(seconds=1):
        middle = low + timedelta(seconds=(high - low) // timedelta(seconds=2))
        if _wall_time(middle, zone) >= wall:
            high = middle
        else:
            low = middle
    return high


def _zone_not_found(name: str) -> ValueError:
    return ValueError(f"Time zone {name!r} was not found: use an IANA name such as 'America/New_York'.")
