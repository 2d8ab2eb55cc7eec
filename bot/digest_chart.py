"""The digest's chart: spend and conversions over the seven days before the digest, as a small PNG.

`render_chart` draws on its own `Figure` with the Agg canvas and never imports pyplot, so it selects no
global backend and keeps no figure in pyplot's registry. It may run in a worker thread
(`asyncio.to_thread(render_chart, data)`), because the event loop must not wait for rendering.

A series without any metrics still gives a PNG, a small image with the text "No metrics yet", so the caller
always has an image to upload.
"""

from __future__ import annotations

import io
import threading

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bot.digest_content import DailyTotals, DigestData

# --- User-facing copy -------------------------------------------------------------------------------

TITLE = "Spend and conversions, last 7 days"
SPEND_LABEL = "Spend"
CONVERSIONS_LABEL = "Conversions"
EMPTY_TEXT = "No metrics yet"
WEEKDAY_ABBREVIATIONS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# --- Look -------------------------------------------------------------------------------------------

SIZE_INCHES = (6.0, 3.0)
EMPTY_SIZE_INCHES = (3.0, 1.0)
DPI = 100
SPEND_COLOR = "#4C78A8"
CONVERSIONS_COLOR = "#F58518"

# NOTE: Matplotlib's FAQ ("Work with threads") says that Matplotlib is not thread-safe, and its font objects
# are shared by all figures, so renders from worker threads take turns.
_RENDER_LOCK = threading.Lock()


def render_chart(data: DigestData) -> bytes:
    """Render the digest's series as PNG bytes: spend as bars, conversions as a line on a second axis.

    A day without a snapshot shows no bar and no point. When no day has spend or conversions, the image
    only shows the text "No metrics yet".
    """
    with _RENDER_LOCK:
        if not _has_metrics(data.series):
            return _to_png(_empty_figure())
        return _to_png(_series_figure(data.series))


def _has_metrics(series: list[DailyTotals]) -> bool:
    return any(day.spend is not None or day.conversions is not None for day in series)


def _series_figure(series: list[DailyTotals]) -> Figure:
    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    spend_axes = figure.add_subplot()
    positions = list(range(len(series)))
    labels = [f"{WEEKDAY_ABBREVIATIONS[day.day.weekday()]} {day.day.day}" for day in series]

    spend = [day.spend if day.spend is not None else 0.0 for day in series]
    spend_axes.bar(positions, spend, color=SPEND_COLOR, label=SPEND_LABEL)
    spend_axes.set_ylabel(SPEND_LABEL, color=SPEND_COLOR)
    spend_axes.set_xticks(positions, labels)
    spend_axes.set_title(TITLE)

    conversions_axes = spend_axes.twinx()
    conversions = [day.conversions if day.conversions is not None else float("nan") for day in series]
    conversions_axes.plot(positions, conversions, color=CONVERSIONS_COLOR, marker="o", label=CONVERSIONS_LABEL)
    conversions_axes.set_ylabel(CONVERSIONS_LABEL, color=CONVERSIONS_COLOR)
    conversions_axes.set_ylim(bottom=0)
    spend_axes.set_ylim(bottom=0)
    return figure


def _empty_figure() -> Figure:
    figure = Figure(figsize=EMPTY_SIZE_INCHES, dpi=DPI)
    figure.text(0.5, 0.5, EMPTY_TEXT, ha="center", va="center")
    return figure


def _to_png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)  # attaches itself to the figure, so no backend is looked up
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
