"""render_chart: PNG bytes for a series, a small "No metrics yet" image without one, safe in threads."""

from __future__ import annotations

import asyncio
import struct
import sys
from datetime import UTC, date, datetime, timedelta

import matplotlib

from bot.digest_chart import render_chart
from bot.digest_content import DailyTotals, DigestData, DigestTotals, build_digest_data
from storage.store import Storage

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOCAL_DATE = date(2026, 12, 3)
WINDOW_END = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


def day_totals(days_before: int, spend: float | None, conversions: float | None) -> DailyTotals:
    roas = None if not spend else 3.0
    return DailyTotals(
        day=LOCAL_DATE - timedelta(days=days_before),
        spend=spend,
        conversions=conversions,
        revenue=None if spend is None else spend * 3,
        roas=roas,
    )


def digest(series: list[DailyTotals]) -> DigestData:
    totals = DigestTotals(notes_by_status={}, notes_updated=0, outliers_by_severity={}, top_outliers=[], metrics=[])
    return DigestData(
        agency_id="ag-acme",
        local_date=LOCAL_DATE,
        window_start=WINDOW_END - timedelta(hours=24),
        window_end=WINDOW_END,
        generated_at=WINDOW_END,
        clients=[],
        totals=totals,
        quiet=False,
        series=series,
    )


def week(spend: list[float | None], conversions: list[float | None]) -> DigestData:
    return digest([day_totals(7 - index, spend[index], conversions[index]) for index in range(7)])


def png_size(png: bytes) -> tuple[int, int]:
    """Read width and height from the IHDR chunk, which directly follows the signature."""
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def test_chart_is_png() -> None:
    png = render_chart(week([100, 120, 90, 150, 130, 170, 160], [3, 4, 2, 5, 4, 6, 5]))

    assert png.startswith(PNG_SIGNATURE)


def test_chart_small_size() -> None:
    png = render_chart(week([100, 120, 90, 150, 130, 170, 160], [3, 4, 2, 5, 4, 6, 5]))

    assert png_size(png) == (600, 300)
    assert len(png) < 100_000


def test_chart_with_missing_days() -> None:
    png = render_chart(week([None, 120, None, 150, 0, None, 160], [None, None, None, None, None, None, None]))

    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (600, 300)


def test_empty_series_says_no_metrics() -> None:
    png = render_chart(digest([]))

    assert png.startswith(PNG_SIGNATURE)
    assert png_size(png) == (300, 100)


def test_days_without_metrics_give_empty_chart() -> None:
    png = render_chart(week([None] * 7, [None] * 7))

    assert png_size(png) == (300, 100)


async def test_chart_in_threads() -> None:
    data = week([100, 120, 90, 150, 130, 170, 160], [3, 4, 2, 5, 4, 6, 5])

    pngs = await asyncio.gather(*(asyncio.to_thread(render_chart, data) for _ in range(4)))

    assert all(png.startswith(PNG_SIGNATURE) for png in pngs)
    assert len({png_size(png) for png in pngs}) == 1


def test_chart_leaves_no_global_state() -> None:
    backend = matplotlib.get_backend()
    params = dict(matplotlib.rcParams)

    render_chart(week([100, 120, 90, 150, 130, 170, 160], [3, 4, 2, 5, 4, 6, 5]))

    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == params
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        assert pyplot.get_fignums() == []


async def test_chart_from_stored_metrics(storage: Storage) -> None:
    for days_before in range(1, 8):
        await storage.metrics.apply_snapshot(
            agency_id="ag-acme",
            client_id="cl-alpha",
            date=(LOCAL_DATE - timedelta(days=days_before)).isoformat(),
            channel="Google Ads",
            metrics={"spend": 100.0 * days_before, "conversions": days_before, "revenue": 250.0 * days_before},
            occurred_at=WINDOW_END - timedelta(days=days_before),
        )
    data = await build_digest_data(
        storage, agency_id="ag-acme", client_ids=None, local_date=LOCAL_DATE, window_end=WINDOW_END, now=WINDOW_END
    )

    png = await asyncio.to_thread(render_chart, data)

    assert [day.spend for day in data.series] == [700.0, 600.0, 500.0, 400.0, 300.0, 200.0, 100.0]
    assert png_size(png) == (600, 300)
