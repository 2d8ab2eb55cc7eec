"""The content of one daily digest, for one agency and one scope of clients.

`build_digest_data` reads the stored state (notes, outliers, metric snapshots, client records) of one agency
and returns a `DigestData` that the digest view and chart render. Every query names the agency, and when the
scope is a list of clients, the query names those clients too, so no other agency's or client's data is read.

What each part covers, for a digest of local day D whose 24-hour window ends at `window_end`:

- notes: every visible note (neither private nor deleted) counted by status, whatever its age, and the
  number of visible notes last changed within the window;
- outliers: those whose latest detection falls within the window, counted by severity (resolved ones
  included), and the five most severe listed;
- metrics: per marketing channel, the snapshot of D - 1 day (the last complete day) and that of D - 2 days
  to compare with;
- series: spend, conversions and revenue summed over the clients and channels in scope for each of the seven
  days D - 7 to D - 1, for the chart.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from storage.clients import Client
from storage.digest_models import (
    NO_METRICS,
    ChannelMetrics,
    ClientDigest,
    DailyTotals,
    DigestData,
    DigestTotals,
    KeyMetrics,
    OutlierLine,
)
from storage.events_schema import Severity
from storage.metrics import MetricsSnapshot
from storage.notes import NoteStatus
from storage.outliers import OutlierDetection
from storage.store import Storage

WINDOW = timedelta(hours=24)
MAX_TOP_OUTLIERS = 5
SERIES_DAYS = 7

# Severity ranks for ordering. A severity that the schema does not define sorts below "low".
_SEVERITY_RANKS = {severity.value: severity.rank for severity in Severity}
_UNKNOWN_RANK = -1

_Item = TypeVar("_Item")


async def build_digest_data(
    storage: Storage,
    *,
    agency_id: str,
    client_ids: list[str] | None,
    local_date: date,
    window_end: datetime,
    now: datetime,
) -> DigestData:
    """Read what the digest of `local_date` reports for the agency's clients in scope.

    `client_ids` None means every client of the agency: those with a client record, and any client that
    only appears in the data the digest reads (visible notes, outliers of the window, snapshots of the
    last seven days). A list means exactly those clients, with or without a record. `window_end` is the
    end of the 24-hour window for outliers and note changes, and `now` the instant the digest is built.

    Raises:
        ValueError: `window_end` or `now` is naive.
    """
    for name, value in (("window_end", window_end), ("now", now)):
        if value.utcoffset() is None:
            raise ValueError(f"Invalid {name} {value.isoformat()}: it is naive, pass an aware datetime")
    window_start = window_end - WINDOW
    first_day = local_date - timedelta(days=SERIES_DAYS)
    last_day = local_date - timedelta(days=1)

    records = await _read_clients(storage, agency_id=agency_id, client_ids=client_ids)
    notes = await storage.notes.list_visible_statuses(agency_id=agency_id, client_ids=client_ids)
    detections = await storage.outliers.list_detected_between(
        agency_id=agency_id, client_ids=client_ids, start=window_start, end=window_end
    )
    snapshots = await storage.metrics.list_for_agency(
        agency_id=agency_id, client_ids=client_ids, date_from=first_day.isoformat(), date_to=last_day.isoformat()
    )

    names = {record.client_id: record.name for record in records}
    in_scope = _scope(client_ids, names, notes, detections, snapshots)
    window = (window_start, window_end)
    notes_by_client = _group(notes, lambda note: note.client_id)
    detections_by_client = _group(detections, lambda detection: detection.outlier.client_id)
    snapshots_by_client = _group(snapshots, lambda snapshot: snapshot.client_id)
    clients = [
        _client_digest(
            client_id,
            name=names.get(client_id, client_id),
            notes=notes_by_client.get(client_id, []),
            detections=detections_by_client.get(client_id, []),
            snapshots=snapshots_by_client.get(client_id, []),
            window=window,
            local_date=local_date,
        )
        for client_id in in_scope
    ]
    clients.sort(key=lambda client: (client.name.casefold(), client.client_id))

    # Every note, detection and snapshot read belongs to a client in scope: the queries are limited to
    # `client_ids` when given, and otherwise every client seen in them is in scope.
    totals = _totals(clients, detections, snapshots, local_date=local_date)
    return DigestData(
        agency_id=agency_id,
        local_date=local_date,
        window_start=window_start,
        window_end=window_end,
        generated_at=now,
        clients=clients,
        totals=totals,
        quiet=not any(client.has_activity for client in clients),
        series=_series(snapshots, first_day=first_day),
    )


async def _read_clients(storage: Storage, *, agency_id: str, client_ids: list[str] | None) -> list[Client]:
    if client_ids is None:
        return await storage.clients.list_for_agency(agency_id)
    return await storage.clients.list_by_ids(agency_id=agency_id, client_ids=client_ids)


def _scope(
    client_ids: list[str] | None,
    names: dict[str, str],
    notes: list[NoteStatus],
    detections: list[OutlierDetection],
    snapshots: list[MetricsSnapshot],
) -> list[str]:
    if client_ids is not None:
        return list(dict.fromkeys(client_ids))
    seen = set(names)
    seen.update(note.client_id for note in notes)
    seen.update(detection.outlier.client_id for detection in detections)
    seen.update(snapshot.client_id for snapshot in snapshots)
    return sorted(seen)


def _group(items: Iterable[_Item], client_of: Callable[[_Item], str]) -> dict[str, list[_Item]]:
    grouped: dict[str, list[_Item]] = defaultdict(list)
    for item in items:
        grouped[client_of(item)].append(item)
    return grouped


# --- One client -------------------------------------------------------------------------------------


def _client_digest(
    client_id: str,
    *,
    name: str,
    notes: list[NoteStatus],
    detections: list[OutlierDetection],
    snapshots: list[MetricsSnapshot],
    window: tuple[datetime, datetime],
    local_date: date,
) -> ClientDigest:
    current_day = (local_date - timedelta(days=1)).isoformat()
    return ClientDigest(
        client_id=client_id,
        name=name,
        notes_by_status=_count_statuses(notes),
        notes_updated=_count_updated(notes, window),
        outliers_by_severity=_count_severities(detections),
        top_outliers=_top_outliers(detections),
        metrics=_client_channel_metrics(snapshots, local_date=local_date),
        has_metrics=any(snapshot.date == current_day for snapshot in snapshots),
    )


def _count_statuses(notes: Iterable[NoteStatus]) -> dict[str, int]:
    return dict(Counter(note.status for note in notes))


def _count_updated(notes: Iterable[NoteStatus], window: tuple[datetime, datetime]) -> int:
    start, end = window
    return sum(1 for note in notes if start < note.updated_at <= end)


def _count_severities(detections: Iterable[OutlierDetection]) -> dict[str, int]:
    return dict(Counter(detection.outlier.severity or "unknown" for detection in detections))


def _top_outliers(detections: Iterable[OutlierDetection]) -> list[OutlierLine]:
    """Return the most severe outliers first, and within one severity the largest relative deviation first."""
    ordered = sorted(detections, key=_outlier_order)
    return [_outlier_line(detection) for detection in ordered[:MAX_TOP_OUTLIERS]]


def _outlier_order(detection: OutlierDetection) -> tuple[int, float, float, str, str]:
    outlier = detection.outlier
    rank = _SEVERITY_RANKS.get(outlier.severity or "", _UNKNOWN_RANK)
    deviation = relative_deviation(outlier.observed, outlier.expected)
    return (
        -rank,
        -(deviation if deviation is not None else -1.0),
        -detection.detected_at.timestamp(),
        outlier.client_id,
        outlier.outlier_id,
    )


def relative_deviation(observed: float | None, expected: float | None) -> float | None:
    """Return |observed - expected| / |expected|, or infinity when only `expected` is 0, or None when unknown."""
    if observed is None or expected is None:
        return None
    if expected == 0:
        return 0.0 if observed == 0 else math.inf
    deviation = abs(observed - expected) / abs(expected)
    return deviation if not math.isnan(deviation) else None


def _outlier_line(detection: OutlierDetection) -> OutlierLine:
    outlier = detection.outlier
    return OutlierLine(
        client_id=outlier.client_id,
        outlier_id=outlier.outlier_id,
        severity=outlier.severity,
        status=outlier.status,
        metric=outlier.metric,
        channel=outlier.channel,
        observed=outlier.observed,
        expected=outlier.expected,
        detected_at=detection.detected_at,
    )


def _client_channel_metrics(snapshots: list[MetricsSnapshot], *, local_date: date) -> list[ChannelMetrics]:
    current = _by_channel(snapshots, (local_date - timedelta(days=1)).isoformat())
    previous = _by_channel(snapshots, (local_date - timedelta(days=2)).isoformat())
    channels = [
        ChannelMetrics(
            channel=channel,
            current=_snapshot_metrics(current.get(channel)),
            previous=_snapshot_metrics(previous.get(channel)),
        )
        for channel in current.keys() | previous.keys()
    ]
    return _sort_channels(channels)


def _by_channel(snapshots: Iterable[MetricsSnapshot], day: str) -> dict[str, MetricsSnapshot]:
    return {snapshot.channel: snapshot for snapshot in snapshots if snapshot.date == day}


def _snapshot_metrics(snapshot: MetricsSnapshot | None) -> KeyMetrics:
    """Read one snapshot's key metrics, preferring the platform's own CPA and ROAS to computed ones."""
    if snapshot is None:
        return NO_METRICS
    computed = _MetricSums.of([snapshot]).key_metrics()
    cpa = _number(snapshot.metrics.get("cpa"))
    roas = _number(snapshot.metrics.get("roas"))
    return KeyMetrics(
        spend=computed.spend,
        conversions=computed.conversions,
        revenue=computed.revenue,
        cpa=cpa if cpa is not None else computed.cpa,
        roas=roas if roas is not None else computed.roas,
    )


def _sort_channels(channels: list[ChannelMetrics]) -> list[ChannelMetrics]:
    """Sort by the day's spend, largest first, then by name. Channels without spend come last."""
    return sorted(channels, key=lambda item: (-(item.current.spend or 0.0), item.channel.casefold(), item.channel))


# --- Sums -------------------------------------------------------------------------------------------


@dataclass
class _MetricSums:
    """Sums of spend, conversions and revenue, kept so that CPA and ROAS can be recomputed from them.

    A snapshot without conversions adds nothing to `spend_with_conversions`, so it does not lower CPA. The
    same is true of revenue and ROAS.
    """

    spend: float | None = None
    conversions: float | None = None
    revenue: float | None = None
    spend_with_conversions: float = 0.0
    spend_with_revenue: float = 0.0

    @classmethod
    def of(cls, snapshots: Iterable[MetricsSnapshot]) -> _MetricSums:
        sums = cls()
        for snapshot in snapshots:
            sums.add(snapshot.metrics)
        return sums

    def add(self, metrics: dict[str, float]) -> None:
        spend = _number(metrics.get("spend"))
        conversions = _number(metrics.get("conversions"))
        revenue = _number(metrics.get("revenue"))
        self.spend = _plus(self.spend, spend)
        self.conversions = _plus(self.conversions, conversions)
        self.revenue = _plus(self.revenue, revenue)
        if spend is not None and conversions is not None:
            self.spend_with_conversions += spend
        if spend is not None and revenue is not None:
            self.spend_with_revenue += spend

    def key_metrics(self) -> KeyMetrics:
        return KeyMetrics(
            spend=self.spend,
            conversions=self.conversions,
            revenue=self.revenue,
            cpa=_ratio(self.spend_with_conversions, self.conversions),
            roas=_ratio(self.revenue, self.spend_with_revenue),
        )


def _number(value: object) -> float | None:
    """Return a finite number as float; anything else (missing, text, NaN, infinity) as None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _plus(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def _totals(
    clients: list[ClientDigest],
    detections: list[OutlierDetection],
    snapshots: list[MetricsSnapshot],
    *,
    local_date: date,
) -> DigestTotals:
    status_counts: Counter[str] = Counter()
    severity_counts: Counter[str] = Counter()
    for client in clients:
        status_counts.update(client.notes_by_status)
        severity_counts.update(client.outliers_by_severity)
    return DigestTotals(
        notes_by_status=dict(status_counts),
        notes_updated=sum(client.notes_updated for client in clients),
        outliers_by_severity=dict(severity_counts),
        top_outliers=_top_outliers(detections),
        metrics=_total_channel_metrics(snapshots, local_date=local_date),
    )


def _total_channel_metrics(snapshots: Sequence[MetricsSnapshot], *, local_date: date) -> list[ChannelMetrics]:
    current = _group_by_channel(snapshots, (local_date - timedelta(days=1)).isoformat())
    previous = _group_by_channel(snapshots, (local_date - timedelta(days=2)).isoformat())
    totals = [
        ChannelMetrics(
            channel=channel,
            current=_summed(current.get(channel)),
            previous=_summed(previous.get(channel)),
        )
        for channel in current.keys() | previous.keys()
    ]
    return _sort_channels(totals)


def _group_by_channel(snapshots: Iterable[MetricsSnapshot], day: str) -> dict[str, list[MetricsSnapshot]]:
    grouped: dict[str, list[MetricsSnapshot]] = defaultdict(list)
    for snapshot in snapshots:
        if snapshot.date == day:
            grouped[snapshot.channel].append(snapshot)
    return grouped


def _summed(snapshots: list[MetricsSnapshot] | None) -> KeyMetrics:
    return _MetricSums.of(snapshots).key_metrics() if snapshots else NO_METRICS


def _series(snapshots: Iterable[MetricsSnapshot], *, first_day: date) -> list[DailyTotals]:
    """Sum each of the seven days from `first_day` over every snapshot given."""
    sums = {(first_day + timedelta(days=offset)).isoformat(): _MetricSums() for offset in range(SERIES_DAYS)}
    for snapshot in snapshots:
        if snapshot.date in sums:
            sums[snapshot.date].add(snapshot.metrics)
    series = []
    for day, day_sums in sums.items():
        metrics = day_sums.key_metrics()
        series.append(
            DailyTotals(
                day=date.fromisoformat(day),
                spend=metrics.spend,
                conversions=metrics.conversions,
                revenue=metrics.revenue,
                roas=metrics.roas,
            )
        )
    return series
