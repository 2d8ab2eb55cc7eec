"""Houston's read-only tools over Mission Control data.

Every tool takes a `runtime: ToolRuntime[TenantContext]` parameter. ToolNode fills it with the run's
context and drops any argument of that name that the model sends, so the model can neither see nor forge
the tenant. Each tool denies a run without context and a client outside the workspace, and every storage
query carries the tenant's agency id and the checked client id. Results are compact JSON for the model,
capped at `MAX_RESULT_CHARS`.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field
from pymongo.errors import PyMongoError

from houston.tenant import TenantContext
from storage.clients import Client
from storage.database import StorageUnavailable
from storage.metrics import MetricsSnapshot
from storage.notes import Note
from storage.outliers import Outlier, OutlierDetection
from storage.store import Storage

logger = logging.getLogger(__name__)

# A cap keeps the model's context small: 4,000 characters are roughly 1,000 tokens (an estimate).
MAX_RESULT_CHARS = 4_000
MAX_RANGE_DAYS = 92
MAX_OUTLIER_DAYS = 30
MAX_NOTES = 20
MAX_NOTE_BODY_CHARS = 600

SEVERITIES = ("low", "medium", "high", "critical")
Severity = Literal["low", "medium", "high", "critical"]

# Metrics that may be summed over days and channels. Ratios are recomputed from the sums, never averaged:
# name -> (numerator, denominator, scale).
ADDITIVE_METRICS = ("spend", "impressions", "clicks", "conversions", "revenue")
RATIO_METRICS = {
    "cpa": ("spend", "conversions", 1.0),
    "roas": ("revenue", "spend", 1.0),
    "cpc": ("spend", "clicks", 1.0),
    "ctr_percent": ("clicks", "impressions", 100.0),
}

NO_CONTEXT = "Access denied: this request has no workspace context, so no Mission Control data can be read."


def not_available(client_id: str) -> str:
    """Return the denial for a client outside the workspace, which does not reveal whether the client exists."""
    return f"Client {client_id} is not available in this workspace."


# --- argument schemas -------------------------------------------------------------------------------------

_CLIENT_ID = "Mission Control client id, for example cl-alpha. Use list_clients to find the id of a client name."


class ChannelPerformanceArgs(BaseModel):
    client_id: str = Field(description=_CLIENT_ID)
    channel: str | None = Field(
        default=None, description='Marketing channel, for example "Google Ads"; omit it for all channels.'
    )
    date_from: date = Field(description="First day of the period, YYYY-MM-DD, inclusive.")
    date_to: date = Field(description=f"Last day of the period, YYYY-MM-DD, inclusive; at most {MAX_RANGE_DAYS} days.")


class OutlierDetailsArgs(BaseModel):
    client_id: str = Field(description=_CLIENT_ID)
    outlier_id: str = Field(description="Outlier id, for example out_alpha_google_cpa_3k9d.")


class RecentOutliersArgs(BaseModel):
    client_id: str = Field(description=_CLIENT_ID)
    days: int = Field(default=7, ge=1, le=MAX_OUTLIER_DAYS, description="How many days back to look, today included.")
    min_severity: Severity = Field(default="low", description="Lowest severity to list.")


class NotesArgs(BaseModel):
    client_id: str = Field(description=_CLIENT_ID)
    status: str | None = Field(
        default=None, description="Only notes with this status, for example open or in_progress."
    )
    since: date | None = Field(default=None, description="Only notes changed on or after this day, YYYY-MM-DD.")


class ClientProfileArgs(BaseModel):
    client_id: str = Field(description=_CLIENT_ID)


# --- result formatting ------------------------------------------------------------------------------------


def render(payload: dict[str, Any], *, shrink: str | None = None, limit: int = MAX_RESULT_CHARS) -> str:
    """Serialise `payload` as compact JSON of at most `limit` characters.

    When the JSON is too long, items are first dropped from the end of the list at key `shrink`, and the
    count dropped is stored under `<shrink>_omitted`. A result still too long is cut with a marker.
    """
    text = _dumps(payload)
    if shrink is not None and len(text) > limit:
        items = list(payload[shrink])
        total = len(items)
        while items and len(text) > limit:
            items.pop()
            text = _dumps({**payload, shrink: items, f"{shrink}_omitted": total - len(items)})
    return cap_text(text, limit)


def cap_text(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with a marker that gives the original length."""
    if len(text) <= limit:
        return text
    marker = f" …[truncated from {len(text)} characters]"
    if len(marker) >= limit:
        return text[:limit]
    return text[: limit - len(marker)] + marker


def _dumps(payload: dict[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# --- figures ----------------------------------------------------------------------------------------------


def aggregate_metrics(snapshots: Iterable[MetricsSnapshot]) -> dict[str, float]:
    """Sum the additive metrics of `snapshots` and recompute the ratios from the sums."""
    sums: dict[str, float] = {}
    for snapshot in snapshots:
        for name in ADDITIVE_METRICS:
            value = snapshot.metrics.get(name)
            if value is not None:
                sums[name] = sums.get(name, 0.0) + float(value)
    for name, (numerator, denominator, scale) in RATIO_METRICS.items():
        if sums.get(denominator) and numerator in sums:
            sums[name] = sums[numerator] / sums[denominator] * scale
    return {name: round(value, 2) for name, value in sums.items()}


def _per_day(snapshots: Sequence[MetricsSnapshot], *, single_channel: bool) -> list[dict[str, Any]]:
    """Build one row per day, oldest first: the platform's own values for one channel, else the sums."""
    by_day: dict[str, list[MetricsSnapshot]] = defaultdict(list)
    for snapshot in snapshots:
        by_day[snapshot.date].append(snapshot)
    rows = []
    for day in sorted(by_day):
        if single_channel and len(by_day[day]) == 1:
            values = {name: _round(value) for name, value in by_day[day][0].metrics.items()}
        else:
            values = dict(aggregate_metrics(by_day[day]))
        rows.append({"date": day, **values})
    return rows


def _by_channel(snapshots: Sequence[MetricsSnapshot]) -> dict[str, dict[str, float]]:
    grouped: dict[str, list[MetricsSnapshot]] = defaultdict(list)
    for snapshot in snapshots:
        grouped[snapshot.channel].append(snapshot)
    return {channel: aggregate_metrics(grouped[channel]) for channel in sorted(grouped)}


def _outlier_fields(outlier: Outlier) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "outlier_id": outlier.outlier_id,
        "status": outlier.status,
        "severity": outlier.severity,
        "metric": outlier.metric,
        "channel": outlier.channel,
        "definition": outlier.definition,
        "observed": outlier.observed,
        "expected": outlier.expected,
    }
    if outlier.observed is not None and outlier.expected:
        fields["deviation_percent"] = round((outlier.observed - outlier.expected) / outlier.expected * 100, 1)
    return fields


def _severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def _note_fields(note: Note) -> dict[str, Any]:
    body = note.body if len(note.body) <= MAX_NOTE_BODY_CHARS else note.body[:MAX_NOTE_BODY_CHARS] + " …[truncated]"
    return {
        "note_id": note.note_id,
        "title": note.title,
        "status": note.status,
        "author": note.author,
        "updated_at": note.updated_at.isoformat(timespec="minutes"),
        "body": body,
    }


def _client_fields(client: Client) -> dict[str, Any]:
    return {"client_id": client.client_id, "name": client.name}


# --- the tools --------------------------------------------------------------------------------------------

Query = Callable[[TenantContext], Awaitable[str]]


class HoustonTools:
    """The tool implementations, bound to one `Storage`; `as_tools` wraps them for the agent."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage

    def as_tools(self) -> list[BaseTool]:
        return [
            # No schema: an empty one would make StructuredTool drop the injected runtime as well.
            _structured(self.list_clients, None, LIST_CLIENTS_DESCRIPTION),
            _structured(self.client_profile, ClientProfileArgs, CLIENT_PROFILE_DESCRIPTION),
            _structured(self.channel_performance, ChannelPerformanceArgs, CHANNEL_PERFORMANCE_DESCRIPTION),
            _structured(self.recent_outliers, RecentOutliersArgs, RECENT_OUTLIERS_DESCRIPTION),
            _structured(self.outlier_details, OutlierDetailsArgs, OUTLIER_DETAILS_DESCRIPTION),
            _structured(self.notes, NotesArgs, NOTES_DESCRIPTION),
        ]

    async def list_clients(self, runtime: ToolRuntime[TenantContext]) -> str:
        async def query(tenant: TenantContext) -> str:
            clients = await self.visible_clients(tenant)
            payload: dict[str, Any] = {"clients": [_client_fields(client) for client in clients]}
            payload["active_client_id"] = tenant.active_client_id
            return render(payload, shrink="clients")

        return await _run("list_clients", runtime, None, query)

    async def visible_clients(self, tenant: TenantContext) -> list[Client]:
        """List the clients `tenant` may see, sorted by id.

        An allowed client without a stored record is listed with its id as its name.
        """
        if tenant.allowed_client_ids is None:
            return await self._storage.clients.list_for_agency(tenant.agency_id)
        ids = sorted(tenant.allowed_client_ids)
        stored = await self._storage.clients.list_by_ids(agency_id=tenant.agency_id, client_ids=ids)
        known = {client.client_id for client in stored}
        missing = [
            Client(agency_id=tenant.agency_id, client_id=client_id, name=client_id)
            for client_id in ids
            if client_id not in known
        ]
        return sorted([*stored, *missing], key=lambda client: client.client_id)

    async def client_profile(self, client_id: str, runtime: ToolRuntime[TenantContext]) -> str:
        async def query(tenant: TenantContext) -> str:
            client = await self._storage.clients.get(agency_id=tenant.agency_id, client_id=client_id)
            if client is None:
                return f"No profile is stored for client {client_id}."
            # The stored id and name come last, so a detail of the same name cannot replace them.
            return render({**client.details, **_client_fields(client)})

        return await _run("client_profile", runtime, client_id, query)

    async def channel_performance(
        self,
        client_id: str,
        date_from: date,
        date_to: date,
        runtime: ToolRuntime[TenantContext],
        channel: str | None = None,
    ) -> str:
        async def query(tenant: TenantContext) -> str:
            if date_from > date_to:
                return "Error: date_from must be on or before date_to."
            start = max(date_from, date_to - timedelta(days=MAX_RANGE_DAYS - 1))
            snapshots = await self._storage.metrics.list_for_client(
                agency_id=tenant.agency_id,
                client_id=client_id,
                date_from=start.isoformat(),
                date_to=date_to.isoformat(),
            )
            return _performance_result(client_id, channel, start, date_to, snapshots, shortened=start != date_from)

        return await _run("channel_performance", runtime, client_id, query)

    async def outlier_details(self, client_id: str, outlier_id: str, runtime: ToolRuntime[TenantContext]) -> str:
        async def query(tenant: TenantContext) -> str:
            outlier = await self._storage.outliers.get(
                agency_id=tenant.agency_id, client_id=client_id, outlier_id=outlier_id
            )
            if outlier is None:
                return f"Outlier {outlier_id} is not available for client {client_id} in this workspace."
            payload = {
                "client_id": client_id,
                **_outlier_fields(outlier),
                "detections": outlier.detections,
                "updated_at": outlier.updated_at.isoformat(timespec="minutes"),
            }
            return render(payload)

        return await _run("outlier_details", runtime, client_id, query)

    async def recent_outliers(
        self, client_id: str, runtime: ToolRuntime[TenantContext], days: int = 7, min_severity: Severity = "low"
    ) -> str:
        async def query(tenant: TenantContext) -> str:
            # NOTE: days are cut at UTC midnight, not at midnight in the workspace's time zone.
            start = _day_start(tenant.today - timedelta(days=days - 1))
            end = _day_start(tenant.today + timedelta(days=1))
            detections = await self._storage.outliers.list_detected_between(
                agency_id=tenant.agency_id, client_ids=[client_id], start=start, end=end
            )
            return _recent_outliers_result(client_id, start, end, detections, min_severity)

        return await _run("recent_outliers", runtime, client_id, query)

    async def notes(
        self,
        client_id: str,
        runtime: ToolRuntime[TenantContext],
        status: str | None = None,
        since: date | None = None,
    ) -> str:
        async def query(tenant: TenantContext) -> str:
            found = await self._storage.notes.find_visible(
                agency_id=tenant.agency_id,
                client_id=client_id,
                status=_normalise_status(status),
                updated_since=_day_start(since) if since else None,
                limit=MAX_NOTES + 1,
            )
            if not found:
                return f"No notes match for client {client_id}."
            payload: dict[str, Any] = {
                "client_id": client_id,
                "notes": [_note_fields(note) for note in found[:MAX_NOTES]],
                "more_notes_exist": len(found) > MAX_NOTES,
            }
            return render(payload, shrink="notes")

        return await _run("notes", runtime, client_id, query)


def build_tools(storage: Storage) -> list[BaseTool]:
    """Build Houston's tools over `storage`."""
    return HoustonTools(storage).as_tools()


def _structured(coroutine: Callable[..., Awaitable[str]], schema: type[BaseModel] | None, description: str) -> BaseTool:
    return StructuredTool.from_function(
        coroutine=coroutine, name=coroutine.__name__, description=description, args_schema=schema
    )


async def _run(tool: str, runtime: ToolRuntime[TenantContext], client_id: str | None, query: Query) -> str:
    """Check the tenant, then run `query`; a storage failure becomes a readable error with an id in the log."""
    tenant = runtime.context
    if not isinstance(tenant, TenantContext):
        logger.warning("Houston tool denied without context (tool %s)", tool)
        return NO_CONTEXT
    if client_id is not None and not tenant.allows(client_id):
        logger.warning(
            "Houston tool denied a client (tool %s, team %s, user %s, client %s)",
            tool,
            tenant.team_id,
            tenant.user_id,
            client_id,
        )
        return not_available(client_id)
    try:
        return await query(tenant)
    except (PyMongoError, StorageUnavailable):
        error_id = secrets.token_hex(4)
        logger.exception(
            "Houston tool failed to read storage (tool %s, team %s, client %s, error id %s)",
            tool,
            tenant.team_id,
            client_id,
            error_id,
        )
        return f"Error: Mission Control data could not be read (error id {error_id}). The user may try again later."


def _performance_result(
    client_id: str,
    channel: str | None,
    start: date,
    end: date,
    snapshots: Sequence[MetricsSnapshot],
    *,
    shortened: bool,
) -> str:
    period = f"from {start.isoformat()} to {end.isoformat()}"
    if channel is not None:
        available = sorted({snapshot.channel for snapshot in snapshots})
        snapshots = [snapshot for snapshot in snapshots if snapshot.channel.casefold() == channel.casefold()]
        if not snapshots:
            return render(
                {"result": f"No metrics for channel {channel!r} of client {client_id} {period}.", "channels": available}
            )
    if not snapshots:
        return f"No metrics are stored for client {client_id} {period}."
    payload: dict[str, Any] = {
        "client_id": client_id,
        "channel": snapshots[0].channel if channel is not None else "all channels",
        "date_from": start.isoformat(),
        "date_to": end.isoformat(),
        "days_with_data": len({snapshot.date for snapshot in snapshots}),
        "totals": aggregate_metrics(snapshots),
    }
    if shortened:
        payload["note"] = f"The period was shortened to the last {MAX_RANGE_DAYS} days."
    if channel is None:
        payload["by_channel"] = _by_channel(snapshots)
    payload["per_day"] = _per_day(snapshots, single_channel=channel is not None)
    return render(payload, shrink="per_day")


def _recent_outliers_result(
    client_id: str, start: datetime, end: datetime, detections: Sequence[OutlierDetection], min_severity: str
) -> str:
    floor = _severity_rank(min_severity)
    kept = [detection for detection in detections if _severity_rank(detection.outlier.severity) >= floor]
    kept.sort(key=lambda detection: (-_severity_rank(detection.outlier.severity), -detection.detected_at.timestamp()))
    by_severity: dict[str, int] = defaultdict(int)
    for detection in kept:
        by_severity[detection.outlier.severity or "unknown"] += 1
    payload: dict[str, Any] = {
        "client_id": client_id,
        "detected_after": start.isoformat(timespec="minutes"),
        "detected_before": end.isoformat(timespec="minutes"),
        "min_severity": min_severity,
        "count": len(kept),
        "by_severity": dict(by_severity),
        "outliers": [
            {**_outlier_fields(d.outlier), "detected_at": d.detected_at.isoformat(timespec="minutes")} for d in kept
        ],
    }
    return render(payload, shrink="outliers")


def _normalise_status(status: str | None) -> str | None:
    if status is None or not status.strip():
        return None
    return "_".join(status.strip().lower().split())


LIST_CLIENTS_DESCRIPTION = (
    "List the clients this Slack workspace may see, with their ids and names, and the active client. "
    "Use it to match a client name from the question to its id."
)
CLIENT_PROFILE_DESCRIPTION = (
    "Read a client's profile: name, industry, account manager, monthly budget, currency and marketing channels."
)
CHANNEL_PERFORMANCE_DESCRIPTION = (
    "Read a client's daily marketing metrics (spend, impressions, clicks, conversions, revenue, CPA, ROAS) "
    f"for a period of at most {MAX_RANGE_DAYS} days: totals, totals per channel, and one row per day. "
    "Ratios are recomputed from the summed figures."
)
RECENT_OUTLIERS_DESCRIPTION = (
    "List a client's metric outliers detected in the last days, most severe first, open and resolved."
)
OUTLIER_DETAILS_DESCRIPTION = (
    "Read one outlier of a client: metric, channel, definition, observed and expected values, severity, status."
)
NOTES_DESCRIPTION = "List a client's notes, most recently changed first, optionally by status or change date."
