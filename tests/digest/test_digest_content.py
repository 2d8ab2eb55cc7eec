"""build_digest_data: scoping, tenancy, counts and metric sums, checked against the seed data itself.

Every expected value is computed from the NOTES, OUTLIERS and SNAPSHOTS tables below, with plain loops that
restate the digest's rules, and never with the helpers of bot.digest_content.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.digest_content import DigestData, build_digest_data
from storage.store import Storage

AGENCY = "ag-acme"
OTHER_AGENCY = "ag-other"
LOCAL_DATE = date(2026, 12, 3)
WINDOW_END = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
WINDOW_START = WINDOW_END - timedelta(hours=24)
NOW = WINDOW_END + timedelta(minutes=2)
YESTERDAY = "2026-12-02"
DAY_BEFORE = "2026-12-01"
SERIES_DATES = [(LOCAL_DATE - timedelta(days=days)).isoformat() for days in range(7, 0, -1)]

CLIENT_NAMES = {
    (AGENCY, "cl-alpha"): "Alpha Outdoor",
    (AGENCY, "cl-beta"): "Beta Foods",
    (AGENCY, "cl-idle"): "Idle & Co",
    (OTHER_AGENCY, "cl-alpha"): "Other agency's Alpha",
}


@dataclass(frozen=True)
class SeedNote:
    agency_id: str
    client_id: str
    note_id: str
    status: str
    hours_ago: float
    private: bool = False
    deleted: bool = False
    made_private_later: bool = False


@dataclass(frozen=True)
class SeedOutlier:
    agency_id: str
    client_id: str
    outlier_id: str
    severity: str
    observed: float
    expected: float
    hours_ago: float
    resolved: bool = False


@dataclass(frozen=True)
class SeedSnapshot:
    agency_id: str
    client_id: str
    date: str
    channel: str
    metrics: dict[str, float]


NOTES = [
    SeedNote(AGENCY, "cl-alpha", "n-open-recent", "open", hours_ago=2),
    SeedNote(AGENCY, "cl-alpha", "n-private", "open", hours_ago=1, private=True),
    SeedNote(AGENCY, "cl-alpha", "n-done-old", "done", hours_ago=72),
    SeedNote(AGENCY, "cl-alpha", "n-deleted", "open", hours_ago=3, deleted=True),
    SeedNote(AGENCY, "cl-alpha", "n-became-private", "open", hours_ago=4, made_private_later=True),
    SeedNote(AGENCY, "cl-alpha", "n-open-old", "open", hours_ago=30),
    SeedNote(AGENCY, "cl-beta", "n-review", "in review", hours_ago=5),
    SeedNote(AGENCY, "cl-beta", "n-future", "open", hours_ago=-1),
    SeedNote(OTHER_AGENCY, "cl-alpha", "n-other", "open", hours_ago=1),
]

OUTLIERS = [
    SeedOutlier(AGENCY, "cl-alpha", "o-cpa", "high", observed=84.2, expected=31.5, hours_ago=3),
    SeedOutlier(AGENCY, "cl-alpha", "o-spend", "critical", observed=900, expected=300, hours_ago=10),
    SeedOutlier(AGENCY, "cl-alpha", "o-roas", "high", observed=1, expected=4, hours_ago=6),
    SeedOutlier(AGENCY, "cl-alpha", "o-old", "low", observed=5, expected=1, hours_ago=30),
    SeedOutlier(AGENCY, "cl-alpha", "o-at-start", "critical", observed=9, expected=1, hours_ago=24),
    SeedOutlier(AGENCY, "cl-alpha", "o-future", "critical", observed=9, expected=1, hours_ago=-1),
    SeedOutlier(AGENCY, "cl-ghost", "o-ghost", "medium", observed=2, expected=1, hours_ago=1, resolved=True),
    SeedOutlier(OTHER_AGENCY, "cl-alpha", "o-other", "critical", observed=99, expected=1, hours_ago=1),
]

SNAPSHOTS = [
    SeedSnapshot(
        AGENCY,
        "cl-alpha",
        YESTERDAY,
        "Google Ads",
        {"spend": 100, "conversions": 10, "revenue": 400, "cpa": 10, "roas": 4},
    ),
    SeedSnapshot(AGENCY, "cl-alpha", DAY_BEFORE, "Google Ads", {"spend": 80, "conversions": 8, "revenue": 240}),
    SeedSnapshot(AGENCY, "cl-alpha", YESTERDAY, "Meta", {"spend": 50, "conversions": 0, "revenue": 0}),
    SeedSnapshot(
        AGENCY,
        "cl-beta",
        YESTERDAY,
        "Google Ads",
        {"spend": 300, "conversions": 5, "revenue": 600, "cpa": 60, "roas": 2},
    ),
    SeedSnapshot(AGENCY, "cl-beta", DAY_BEFORE, "Google Ads", {"spend": 200.5, "conversions": 4, "revenue": 500}),
    SeedSnapshot(AGENCY, "cl-beta", "2026-11-26", "Google Ads", {"spend": 10, "conversions": 1}),
    SeedSnapshot(AGENCY, "cl-alpha", "2026-11-25", "Google Ads", {"spend": 7}),
    SeedSnapshot(AGENCY, "cl-alpha", LOCAL_DATE.isoformat(), "Google Ads", {"spend": 5, "conversions": 1}),
    SeedSnapshot(OTHER_AGENCY, "cl-alpha", YESTERDAY, "Google Ads", {"spend": 99_999, "conversions": 1}),
]


def at(hours_ago: float) -> datetime:
    return WINDOW_END - timedelta(hours=hours_ago)


async def seed(storage: Storage) -> None:
    for (agency_id, client_id), name in CLIENT_NAMES.items():
        await storage.clients.apply_update(
            agency_id=agency_id, client_id=client_id, data={"name": name}, occurred_at=at(100)
        )
    for note in NOTES:
        await seed_note(storage, note)
    for outlier in OUTLIERS:
        await seed_outlier(storage, outlier)
    for snapshot in SNAPSHOTS:
        await storage.metrics.apply_snapshot(
            agency_id=snapshot.agency_id,
            client_id=snapshot.client_id,
            date=snapshot.date,
            channel=snapshot.channel,
            metrics=snapshot.metrics,
            occurred_at=at(1),
        )


async def seed_note(storage: Storage, note: SeedNote) -> None:
    data = {"title": note.note_id, "body": "Body", "author": "Priya", "status": note.status, "private": note.private}
    key = {"agency_id": note.agency_id, "client_id": note.client_id, "note_id": note.note_id}
    await storage.notes.apply_version(**key, data=data, occurred_at=at(note.hours_ago))
    if note.deleted:
        await storage.notes.apply_deletion(**key, occurred_at=at(note.hours_ago - 0.5))
    if note.made_private_later:
        await storage.notes.apply_version(**key, data={**data, "private": True}, occurred_at=at(note.hours_ago - 0.5))


async def seed_outlier(storage: Storage, outlier: SeedOutlier) -> None:
    data = {
        "outlier_id": outlier.outlier_id,
        "definition": "Spike",
        "metric": "cpa",
        "channel": "Google Ads",
        "severity": outlier.severity,
        "observed": outlier.observed,
        "expected": outlier.expected,
    }
    await storage.outliers.apply_detection(
        agency_id=outlier.agency_id, client_id=outlier.client_id, data=data, occurred_at=at(outlier.hours_ago)
    )
    if outlier.resolved:
        await storage.outliers.apply_resolution(
            agency_id=outlier.agency_id,
            client_id=outlier.client_id,
            data={"outlier_id": outlier.outlier_id},
            occurred_at=at(outlier.hours_ago - 0.5),
        )


async def build(storage: Storage, client_ids: list[str] | None = None, agency_id: str = AGENCY) -> DigestData:
    return await build_digest_data(
        storage,
        agency_id=agency_id,
        client_ids=client_ids,
        local_date=LOCAL_DATE,
        window_end=WINDOW_END,
        now=NOW,
    )


# --- Expected values, computed from the tables ------------------------------------------------------


def visible(note: SeedNote) -> bool:
    return not (note.private or note.deleted or note.made_private_later)


def expected_statuses(agency_id: str, client_id: str) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for note in NOTES:
        if note.agency_id == agency_id and note.client_id == client_id and visible(note):
            counts[note.status] += 1
    return dict(counts)


def expected_notes_updated(agency_id: str, client_id: str) -> int:
    count = 0
    for note in NOTES:
        if note.agency_id == agency_id and note.client_id == client_id and visible(note):
            if 0 <= note.hours_ago < 24:
                count += 1
    return count


def outliers_in_window(agency_id: str, client_id: str) -> list[SeedOutlier]:
    return [
        outlier
        for outlier in OUTLIERS
        if outlier.agency_id == agency_id and outlier.client_id == client_id and 0 <= outlier.hours_ago < 24
    ]


def expected_severities(agency_id: str, client_id: str) -> dict[str, int]:
    return dict(Counter(outlier.severity for outlier in outliers_in_window(agency_id, client_id)))


def summed(agency_id: str, client_ids: set[str], day: str, channel: str | None, metric: str) -> float:
    return sum(
        snapshot.metrics.get(metric, 0)
        for snapshot in SNAPSHOTS
        if snapshot.agency_id == agency_id
        and snapshot.client_id in client_ids
        and snapshot.date == day
        and (channel is None or snapshot.channel == channel)
    )


# --- Scope ------------------------------------------------------------------------------------------


async def test_all_clients_include_records_and_event_only(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    assert {client.client_id for client in data.clients} == {"cl-alpha", "cl-beta", "cl-idle", "cl-ghost"}


async def test_client_names_from_records_or_id(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    names = {client.client_id: client.name for client in data.clients}
    assert names["cl-alpha"] == "Alpha Outdoor"
    assert names["cl-idle"] == "Idle & Co"
    assert names["cl-ghost"] == "cl-ghost"


async def test_clients_sorted_by_name(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    assert [client.name for client in data.clients] == ["Alpha Outdoor", "Beta Foods", "cl-ghost", "Idle & Co"]


async def test_one_client_scope_has_only_that_client(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-beta"])

    assert [client.client_id for client in data.clients] == ["cl-beta"]
    assert data.totals.notes_by_status == expected_statuses(AGENCY, "cl-beta")
    assert data.totals.outliers_by_severity == {}
    assert {channel.channel for channel in data.totals.metrics} == {"Google Ads"}
    assert data.totals.metrics[0].spend == summed(AGENCY, {"cl-beta"}, YESTERDAY, "Google Ads", "spend")


async def test_client_workspace_scope_excludes_other_clients(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    assert [client.client_id for client in data.clients] == ["cl-alpha"]
    assert all(line.client_id == "cl-alpha" for line in data.totals.top_outliers)
    expected_spend = [summed(AGENCY, {"cl-alpha"}, day, None, "spend") for day in SERIES_DATES]
    assert [day.spend or 0 for day in data.series] == expected_spend


async def test_listed_client_without_data_is_quiet(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-new"])

    assert [(client.client_id, client.name) for client in data.clients] == [("cl-new", "cl-new")]
    assert data.quiet is True


async def test_empty_client_list_has_no_clients(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=[])

    assert data.clients == []
    assert data.quiet is True


# --- Tenancy ----------------------------------------------------------------------------------------


async def test_other_agency_data_never_appears(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    alpha = next(client for client in data.clients if client.client_id == "cl-alpha")
    assert alpha.name == "Alpha Outdoor"
    assert "o-other" not in {line.outlier_id for line in data.totals.top_outliers}
    assert alpha.notes_by_status == expected_statuses(AGENCY, "cl-alpha")
    google = next(channel for channel in data.totals.metrics if channel.channel == "Google Ads")
    assert google.spend == summed(AGENCY, {"cl-alpha", "cl-beta"}, YESTERDAY, "Google Ads", "spend")


async def test_other_agency_sees_only_its_own(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, agency_id=OTHER_AGENCY)

    assert [client.client_id for client in data.clients] == ["cl-alpha"]
    assert data.clients[0].name == "Other agency's Alpha"
    assert data.totals.outliers_by_severity == {"critical": 1}
    assert data.totals.notes_by_status == {"open": 1}


# --- Notes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["cl-alpha", "cl-beta", "cl-idle"])
async def test_notes_counted_by_status(storage: Storage, client_id: str) -> None:
    await seed(storage)

    data = await build(storage)

    client = next(client for client in data.clients if client.client_id == client_id)
    assert client.notes_by_status == expected_statuses(AGENCY, client_id)
    assert client.notes_updated == expected_notes_updated(AGENCY, client_id)


async def test_private_and_deleted_notes_excluded(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    # Visible notes of cl-alpha: n-open-recent, n-done-old and n-open-old.
    assert data.clients[0].notes_by_status == {"open": 2, "done": 1}


async def test_notes_changed_only_within_window(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha", "cl-beta"])

    # n-open-recent (2 hours ago) and n-review (5 hours ago); n-future is after the window's end.
    assert data.totals.notes_updated == 2


# --- Outliers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["cl-alpha", "cl-beta", "cl-ghost"])
async def test_outliers_counted_by_severity(storage: Storage, client_id: str) -> None:
    await seed(storage)

    data = await build(storage)

    client = next(client for client in data.clients if client.client_id == client_id)
    assert client.outliers_by_severity == expected_severities(AGENCY, client_id)


async def test_outliers_outside_window_excluded(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    listed = {line.outlier_id for line in data.clients[0].top_outliers}
    assert "o-old" not in listed
    assert "o-at-start" not in listed
    assert "o-future" not in listed


async def test_top_outliers_by_severity_then_deviation(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    # o-cpa deviates by 167%, o-roas by 75%: both high, so o-cpa comes first.
    assert [line.outlier_id for line in data.clients[0].top_outliers] == ["o-spend", "o-cpa", "o-roas"]


async def test_top_outliers_at_most_five(storage: Storage) -> None:
    severities = ["low", "medium", "high", "critical", "low", "medium", "high"]
    for index, severity in enumerate(severities):
        outlier = SeedOutlier(AGENCY, "cl-alpha", f"o-{index}", severity, observed=10 + index, expected=10, hours_ago=1)
        await seed_outlier(storage, outlier)

    data = await build(storage, client_ids=["cl-alpha"])

    lines = data.clients[0].top_outliers
    assert len(lines) == 5
    assert [line.outlier_id for line in lines] == ["o-3", "o-6", "o-2", "o-5", "o-1"]
    assert sum(data.clients[0].outliers_by_severity.values()) == len(severities)


async def test_resolved_outlier_in_window_listed(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-ghost"])

    [line] = data.clients[0].top_outliers
    assert line.outlier_id == "o-ghost"
    assert line.status == "resolved"
    assert line.detected_at == at(1)


# --- Metrics ----------------------------------------------------------------------------------------


async def test_totals_sum_spend_and_conversions(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    clients = {"cl-alpha", "cl-beta"}
    google = next(channel for channel in data.totals.metrics if channel.channel == "Google Ads")
    assert google.spend == summed(AGENCY, clients, YESTERDAY, "Google Ads", "spend")
    assert google.conversions == summed(AGENCY, clients, YESTERDAY, "Google Ads", "conversions")
    assert google.previous.spend == summed(AGENCY, clients, DAY_BEFORE, "Google Ads", "spend")


async def test_totals_recompute_cpa_and_roas(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    clients = {"cl-alpha", "cl-beta"}
    spend = summed(AGENCY, clients, YESTERDAY, "Google Ads", "spend")
    conversions = summed(AGENCY, clients, YESTERDAY, "Google Ads", "conversions")
    revenue = summed(AGENCY, clients, YESTERDAY, "Google Ads", "revenue")
    google = next(channel for channel in data.totals.metrics if channel.channel == "Google Ads")
    assert google.cpa == pytest.approx(spend / conversions)
    assert google.roas == pytest.approx(revenue / spend)
    # The average of the two clients' ROAS (4 and 2) would be 3; the recomputed value is 2.5.
    assert google.roas != pytest.approx(3.0)


async def test_zero_conversions_has_no_cpa(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    meta = next(channel for channel in data.clients[0].metrics if channel.channel == "Meta")
    assert meta.conversions == 0
    assert meta.cpa is None
    assert meta.roas == 0
    assert meta.previous.spend is None


async def test_client_metrics_keep_platform_ratios(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    google = next(channel for channel in data.clients[0].metrics if channel.channel == "Google Ads")
    assert google.cpa == 10
    assert google.roas == 4
    assert google.previous.cpa == 80 / 8
    assert google.previous.roas == 240 / 80


async def test_channels_sorted_by_spend(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    assert [channel.channel for channel in data.clients[0].metrics] == ["Google Ads", "Meta"]


async def test_todays_snapshot_not_reported(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage, client_ids=["cl-alpha"])

    google = next(channel for channel in data.clients[0].metrics if channel.channel == "Google Ads")
    assert google.spend == 100
    assert [day.day.isoformat() for day in data.series] == SERIES_DATES


async def test_series_sums_each_day(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    clients = {"cl-alpha", "cl-beta", "cl-ghost", "cl-idle"}
    for day in data.series:
        has_data = any(snapshot.agency_id == AGENCY and snapshot.date == day.day.isoformat() for snapshot in SNAPSHOTS)
        expected = summed(AGENCY, clients, day.day.isoformat(), None, "spend") if has_data else None
        assert day.spend == expected, day.day


# --- Quiet ------------------------------------------------------------------------------------------


async def test_busy_day_not_quiet(storage: Storage) -> None:
    await seed(storage)

    data = await build(storage)

    assert data.quiet is False


async def test_old_data_only_is_quiet(storage: Storage) -> None:
    await seed_note(storage, SeedNote(AGENCY, "cl-alpha", "n-1", "open", hours_ago=48))
    await seed_outlier(storage, SeedOutlier(AGENCY, "cl-alpha", "o-1", "high", observed=2, expected=1, hours_ago=48))
    await storage.metrics.apply_snapshot(
        agency_id=AGENCY,
        client_id="cl-alpha",
        date=DAY_BEFORE,
        channel="Google Ads",
        metrics={"spend": 1},
        occurred_at=at(30),
    )

    data = await build(storage)

    assert data.quiet is True
    assert data.clients[0].notes_by_status == {"open": 1}


async def test_metrics_alone_not_quiet(storage: Storage) -> None:
    await storage.metrics.apply_snapshot(
        agency_id=AGENCY,
        client_id="cl-alpha",
        date=YESTERDAY,
        channel="Google Ads",
        metrics={"spend": 1},
        occurred_at=at(2),
    )

    data = await build(storage)

    assert data.quiet is False


async def test_naive_window_end_rejected(storage: Storage) -> None:
    with pytest.raises(ValueError, match="naive"):
        await build_digest_data(
            storage,
            agency_id=AGENCY,
            client_ids=None,
            local_date=LOCAL_DATE,
            window_end=WINDOW_END.replace(tzinfo=None),
            now=NOW,
        )
