"""The digest's domain data: what one daily digest reports, as built by `bot.digest_content`.

Plain frozen dataclasses, so `views.digest` can render them without importing `bot/`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class KeyMetrics:
    """The key metrics of one day. A value is None when no snapshot of that day contains it."""

    spend: float | None = None
    conversions: float | None = None
    revenue: float | None = None
    cpa: float | None = None
    roas: float | None = None

    @property
    def is_empty(self) -> bool:
        return all(value is None for value in (self.spend, self.conversions, self.revenue, self.cpa, self.roas))


NO_METRICS = KeyMetrics()


@dataclass(frozen=True)
class ChannelMetrics:
    """Key metrics of one marketing channel: `current` for D - 1 day, `previous` for D - 2 days.

    For one client, `cpa` and `roas` are the platform's values when the snapshot contains them, and are
    computed from spend, conversions and revenue otherwise. For totals over several clients they are always
    recomputed from the sums (cpa = spend / conversions, roas = revenue / spend), never averaged.
    A day without a snapshot is `NO_METRICS`.
    """

    channel: str
    current: KeyMetrics
    previous: KeyMetrics

    @property
    def spend(self) -> float | None:
        return self.current.spend

    @property
    def conversions(self) -> float | None:
        return self.current.conversions

    @property
    def cpa(self) -> float | None:
        return self.current.cpa

    @property
    def roas(self) -> float | None:
        return self.current.roas


@dataclass(frozen=True)
class OutlierLine:
    """One outlier as the digest lists it."""

    client_id: str
    outlier_id: str
    severity: str | None
    status: str
    metric: str | None
    channel: str | None
    observed: float | None
    expected: float | None
    detected_at: datetime


@dataclass(frozen=True)
class ClientDigest:
    """One client's part of the digest.

    `notes_updated` counts the visible notes last changed within the window, and `has_metrics` is True when
    the client has a snapshot for D - 1 day.
    """

    client_id: str
    name: str
    notes_by_status: dict[str, int]
    notes_updated: int
    outliers_by_severity: dict[str, int]
    top_outliers: list[OutlierLine]
    metrics: list[ChannelMetrics]
    has_metrics: bool

    @property
    def outlier_count(self) -> int:
        return sum(self.outliers_by_severity.values())

    @property
    def has_activity(self) -> bool:
        """Tell whether the client had outliers, changed notes or metrics for the day."""
        return self.outlier_count > 0 or self.notes_updated > 0 or self.has_metrics


@dataclass(frozen=True)
class DigestTotals:
    """The sums over every client in scope, with one `metrics` entry per marketing channel."""

    notes_by_status: dict[str, int]
    notes_updated: int
    outliers_by_severity: dict[str, int]
    top_outliers: list[OutlierLine]
    metrics: list[ChannelMetrics]

    @property
    def outlier_count(self) -> int:
        return sum(self.outliers_by_severity.values())


@dataclass(frozen=True)
class DailyTotals:
    """Spend, conversions and revenue of one day summed over the scope, each None when no snapshot has it."""

    day: date
    spend: float | None
    conversions: float | None
    revenue: float | None
    roas: float | None


@dataclass(frozen=True)
class DigestData:
    """Everything one digest reports.

    `local_date` is the day the digest is sent (D), so `metrics_date` (D - 1) is the day the metrics
    describe. `clients` holds only clients in scope, sorted by name. `quiet` is True when no outlier was
    detected and no visible note changed within the window, and no client in scope has a snapshot for
    `metrics_date`. `series` has one entry for each of the seven days before `local_date`, oldest first.
    """

    agency_id: str
    local_date: date
    window_start: datetime
    window_end: datetime
    generated_at: datetime
    clients: list[ClientDigest]
    totals: DigestTotals
    quiet: bool
    series: list[DailyTotals]

    @property
    def metrics_date(self) -> date:
        return self.local_date - timedelta(days=1)

    @property
    def previous_date(self) -> date:
        return self.local_date - timedelta(days=2)
