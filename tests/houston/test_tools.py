"""Houston's tools against seeded storage: figures, tenant checks, caps and storage failures."""

from __future__ import annotations

import dataclasses
import json
import logging
from datetime import date, timedelta
from typing import Any

import pytest
from langchain.tools import ToolRuntime
from langchain_core.tools import BaseTool
from pymongo.errors import ServerSelectionTimeoutError

from houston.tenant import TenantContext
from houston.tools import MAX_RESULT_CHARS, NO_CONTEXT, build_tools, cap_text, not_available, render
from storage.metrics import MetricsSnapshot
from storage.store import Storage
from tests.houston import (
    AGENCY,
    AGENCY_WORKSPACE,
    ALPHA_URL,
    ALPHA_WORKSPACE,
    DELETED_BODY,
    FOREIGN_MARKERS,
    PRIVATE_BODY,
    SEEDED_AT,
    seed,
)

# Each tool that takes a client, with valid arguments for it apart from the client.
CLIENT_TOOL_ARGS: dict[str, dict[str, Any]] = {
    "client_profile": {},
    "channel_performance": {"date_from": "2026-11-01", "date_to": "2026-11-30"},
    "recent_outliers": {"days": 30},
    "outlier_details": {"outlier_id": "out_bravo_spend"},
    "notes": {},
}


@pytest.fixture
async def seeded(storage: Storage) -> Storage:
    await seed(storage)
    return storage


def runtime(tenant: TenantContext | None) -> ToolRuntime[TenantContext | None]:
    return ToolRuntime(
        state={"messages": []},
        context=tenant,
        config={},
        stream_writer=lambda _chunk: None,
        tool_call_id="call-1",
        store=None,
    )


async def call(storage: Storage, name: str, tenant: TenantContext | None, **args: Any) -> str:
    tools: dict[str, BaseTool] = {tool.name: tool for tool in build_tools(storage)}
    result = await tools[name].ainvoke({**args, "runtime": runtime(tenant)})
    assert isinstance(result, str)
    return result


async def call_json(storage: Storage, name: str, tenant: TenantContext | None, **args: Any) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(await call(storage, name, tenant, **args))
    return result


# --- figures ----------------------------------------------------------------------------------------------


async def test_performance_sums_all_channels(seeded: Storage) -> None:
    result = await call_json(
        seeded,
        "channel_performance",
        ALPHA_WORKSPACE,
        client_id="cl-alpha",
        date_from="2026-11-29",
        date_to="2026-11-30",
    )

    assert result["channel"] == "all channels"
    assert result["days_with_data"] == 2
    assert result["totals"] == {
        "spend": 380.0,
        "impressions": 5400.0,
        "clicks": 150.0,
        "conversions": 11.0,
        "revenue": 1500.0,
        "cpa": 34.55,
        "roas": 3.95,
        "cpc": 2.53,
        "ctr_percent": 2.78,
    }
    assert result["by_channel"]["Google Ads"]["cpa"] == 30.0
    assert result["by_channel"]["Meta Ads"]["spend"] == 80.0
    assert [row["date"] for row in result["per_day"]] == ["2026-11-29", "2026-11-30"]
    assert result["per_day"][0]["spend"] == 150.0
    assert result["per_day"][1]["cpa"] == 38.33


async def test_performance_one_channel_any_case(seeded: Storage) -> None:
    result = await call_json(
        seeded,
        "channel_performance",
        ALPHA_WORKSPACE,
        client_id="cl-alpha",
        channel="meta ads",
        date_from="2026-11-29",
        date_to="2026-11-30",
    )

    assert result["channel"] == "Meta Ads"
    assert result["totals"]["spend"] == 80.0
    assert "by_channel" not in result
    assert result["per_day"][1] == {
        "date": "2026-11-30",
        "spend": 30.0,
        "clicks": 10.0,
        "impressions": 1000.0,
        "conversions": 0.0,
        "revenue": 0.0,
    }


async def test_performance_unknown_channel_lists_channels(seeded: Storage) -> None:
    result = await call_json(
        seeded,
        "channel_performance",
        ALPHA_WORKSPACE,
        client_id="cl-alpha",
        channel="TikTok Ads",
        date_from="2026-11-29",
        date_to="2026-11-30",
    )

    assert "No metrics for channel 'TikTok Ads'" in result["result"]
    assert result["channels"] == ["Google Ads", "Meta Ads"]


async def test_performance_without_data_says_so(seeded: Storage) -> None:
    result = await call(
        seeded,
        "channel_performance",
        ALPHA_WORKSPACE,
        client_id="cl-alpha",
        date_from="2026-10-01",
        date_to="2026-10-31",
    )

    assert result == "No metrics are stored for client cl-alpha from 2026-10-01 to 2026-10-31."


async def test_performance_range_capped_at_92_days(seeded: Storage) -> None:
    result = await call_json(
        seeded,
        "channel_performance",
        ALPHA_WORKSPACE,
        client_id="cl-alpha",
        date_from="2025-01-01",
        date_to="2026-11-30",
    )

    assert result["date_from"] == (date(2026, 11, 30) - timedelta(days=91)).isoformat()
    assert "shortened" in result["note"]
    assert result["totals"]["spend"] == 380.0


async def test_performance_reversed_range_is_error(seeded: Storage) -> None:
    result = await call(
        seeded,
        "channel_performance",
        ALPHA_WORKSPACE,
        client_id="cl-alpha",
        date_from="2026-11-30",
        date_to="2026-11-01",
    )

    assert result == "Error: date_from must be on or before date_to."


async def test_performance_long_series_drops_oldest_rows(seeded: Storage) -> None:
    first = date(2026, 9, 1)
    for offset in range(92):
        for channel in ("Google Ads", "Meta Ads", "Microsoft Ads"):
            await seeded.metrics.apply_snapshot(
                agency_id=AGENCY,
                client_id="cl-big",
                date=(first + timedelta(days=offset)).isoformat(),
                channel=channel,
                metrics={"spend": 1000.5, "clicks": 300, "impressions": 40000, "conversions": 12, "revenue": 4000},
                occurred_at=SEEDED_AT,
            )

    text = await call(
        seeded,
        "channel_performance",
        AGENCY_WORKSPACE,
        client_id="cl-big",
        date_from="2026-09-01",
        date_to="2026-12-01",
    )
    result = json.loads(text)

    assert len(text) <= MAX_RESULT_CHARS
    assert result["per_day_omitted"] > 0
    assert len(result["per_day"]) + result["per_day_omitted"] == 92
    assert result["totals"]["spend"] == round(92 * 3 * 1000.5, 2)


async def test_outlier_details_figures(seeded: Storage) -> None:
    result = await call_json(
        seeded, "outlier_details", ALPHA_WORKSPACE, client_id="cl-alpha", outlier_id="out_alpha_cpa"
    )

    assert result["metric"] == "cpa"
    assert result["severity"] == "high"
    assert result["status"] == "open"
    assert result["observed"] == 60
    assert result["expected"] == 40
    assert result["deviation_percent"] == 50.0
    assert result["detections"] == 1


async def test_recent_outliers_window_and_severity(seeded: Storage) -> None:
    week = await call_json(seeded, "recent_outliers", ALPHA_WORKSPACE, client_id="cl-alpha", days=7)
    month_high = await call_json(
        seeded, "recent_outliers", ALPHA_WORKSPACE, client_id="cl-alpha", days=30, min_severity="high"
    )

    assert [outlier["outlier_id"] for outlier in week["outliers"]] == ["out_alpha_cpa", "out_alpha_ctr"]
    assert week["by_severity"] == {"high": 1, "low": 1}
    assert [outlier["outlier_id"] for outlier in month_high["outliers"]] == ["out_alpha_old", "out_alpha_cpa"]


async def test_recent_outliers_rejects_days_out_of_range(seeded: Storage) -> None:
    with pytest.raises(ValueError, match="days"):
        await call(seeded, "recent_outliers", ALPHA_WORKSPACE, client_id="cl-alpha", days=31)


async def test_notes_hide_private_and_deleted(seeded: Storage) -> None:
    text = await call(seeded, "notes", ALPHA_WORKSPACE, client_id="cl-alpha")
    result = json.loads(text)

    assert [note["note_id"] for note in result["notes"]] == ["note_alpha_rules", "note_alpha_budget", "note_alpha_copy"]
    assert PRIVATE_BODY not in text
    assert DELETED_BODY not in text
    assert result["more_notes_exist"] is False


async def test_notes_filter_by_status_and_since(seeded: Storage) -> None:
    in_progress = await call_json(seeded, "notes", ALPHA_WORKSPACE, client_id="cl-alpha", status="In progress")
    recent = await call(seeded, "notes", ALPHA_WORKSPACE, client_id="cl-alpha", since="2026-11-29")
    none = await call(seeded, "notes", ALPHA_WORKSPACE, client_id="cl-alpha", status="done")

    assert [note["note_id"] for note in in_progress["notes"]] == ["note_alpha_copy"]
    assert [note["note_id"] for note in json.loads(recent)["notes"]] == ["note_alpha_rules", "note_alpha_budget"]
    assert none == "No notes match for client cl-alpha."


async def test_notes_long_body_is_cut(seeded: Storage) -> None:
    body = "word " * 500
    data = {"title": "Long", "body": body, "author": "A", "status": "open"}
    await seeded.notes.apply_version(
        agency_id=AGENCY, client_id="cl-alpha", note_id="note_long", data=data, occurred_at=SEEDED_AT
    )

    result = await call_json(seeded, "notes", ALPHA_WORKSPACE, client_id="cl-alpha")

    assert result["notes"][0]["note_id"] == "note_long"
    assert result["notes"][0]["body"].endswith("…[truncated]")
    assert len(result["notes"][0]["body"]) < 700


async def test_client_profile_has_details_and_url(seeded: Storage) -> None:
    result = await call_json(seeded, "client_profile", ALPHA_WORKSPACE, client_id="cl-alpha")

    assert result == {
        "client_id": "cl-alpha",
        "name": "Alpha Outdoor Gear",
        "industry": "Outdoor retail",
        "url": ALPHA_URL,
    }


async def test_client_profile_keeps_stored_id(seeded: Storage) -> None:
    data = {"name": "Alpha Outdoor Gear", "client_id": "cl-bravo"}
    await seeded.clients.apply_update(
        agency_id=AGENCY, client_id="cl-alpha", data=data, occurred_at=SEEDED_AT + timedelta(hours=1)
    )

    result = await call_json(seeded, "client_profile", ALPHA_WORKSPACE, client_id="cl-alpha")

    assert result["client_id"] == "cl-alpha"


async def test_list_clients_per_workspace(seeded: Storage) -> None:
    alpha = await call_json(seeded, "list_clients", ALPHA_WORKSPACE)
    agency = await call_json(seeded, "list_clients", AGENCY_WORKSPACE)

    assert alpha == {
        "clients": [{"client_id": "cl-alpha", "name": "Alpha Outdoor Gear"}],
        "active_client_id": "cl-alpha",
    }
    assert [client["client_id"] for client in agency["clients"]] == ["cl-alpha", "cl-bravo"]


async def test_list_clients_names_unknown_client_by_id(seeded: Storage) -> None:
    tenant = dataclasses.replace(ALPHA_WORKSPACE, allowed_client_ids=frozenset({"cl-alpha", "cl-new"}))

    result = await call_json(seeded, "list_clients", tenant)

    assert result["clients"][1] == {"client_id": "cl-new", "name": "cl-new"}


# --- tenancy ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tool", [*CLIENT_TOOL_ARGS, "list_clients"])
async def test_missing_context_denies(seeded: Storage, tool: str) -> None:
    args = {"client_id": "cl-alpha", **CLIENT_TOOL_ARGS[tool]} if tool in CLIENT_TOOL_ARGS else {}

    assert await call(seeded, tool, None, **args) == NO_CONTEXT


@pytest.mark.parametrize("tool", list(CLIENT_TOOL_ARGS))
@pytest.mark.parametrize("client_id", ["cl-bravo", "cl-zulu", "CL-ALPHA", ""])
async def test_client_outside_workspace_denied(seeded: Storage, tool: str, client_id: str) -> None:
    result = await call(seeded, tool, ALPHA_WORKSPACE, client_id=client_id, **CLIENT_TOOL_ARGS[tool])

    assert result == not_available(client_id)


@pytest.mark.parametrize("tool", list(CLIENT_TOOL_ARGS))
async def test_agency_sees_no_other_agency_data(seeded: Storage, tool: str) -> None:
    args = (
        {**CLIENT_TOOL_ARGS[tool], "outlier_id": "out_zulu_spend"}
        if tool == "outlier_details"
        else CLIENT_TOOL_ARGS[tool]
    )

    result = await call(seeded, tool, AGENCY_WORKSPACE, client_id="cl-zulu", **args)

    assert not any(marker in result for marker in FOREIGN_MARKERS), result


async def test_outlier_of_other_client_not_available(seeded: Storage) -> None:
    result = await call(seeded, "outlier_details", ALPHA_WORKSPACE, client_id="cl-alpha", outlier_id="out_bravo_spend")

    assert result == "Outlier out_bravo_spend is not available for client cl-alpha in this workspace."


# --- failures and caps ------------------------------------------------------------------------------------


class UnavailableMetrics:
    async def list_for_client(self, **query: Any) -> list[MetricsSnapshot]:
        raise ServerSelectionTimeoutError("mongodb://db.internal:27017 timed out")


async def test_storage_error_is_readable(seeded: Storage, caplog: pytest.LogCaptureFixture) -> None:
    broken = dataclasses.replace(seeded, metrics=UnavailableMetrics())  # type: ignore[arg-type]

    with caplog.at_level(logging.ERROR, logger="houston.tools"):
        result = await call(
            broken,
            "channel_performance",
            ALPHA_WORKSPACE,
            client_id="cl-alpha",
            date_from="2026-11-01",
            date_to="2026-11-30",
        )

    assert result.startswith("Error: Mission Control data could not be read (error id ")
    assert "db.internal" not in result
    error_id = result.split("error id ")[1].split(")")[0]
    assert error_id in caplog.text


def test_render_drops_list_items_to_fit() -> None:
    payload = {"name": "x", "rows": [{"value": index, "text": "y" * 50} for index in range(200)]}

    result = json.loads(render(payload, shrink="rows", limit=1_000))

    assert result["rows"][0]["value"] == 0
    assert len(result["rows"]) + result["rows_omitted"] == 200


def test_cap_text_marks_the_cut() -> None:
    capped = cap_text("a" * 5_000, 4_000)

    assert len(capped) <= 4_000
    assert capped.endswith("…[truncated from 5000 characters]")
    assert cap_text("short", 4_000) == "short"
    assert cap_text("b" * 50, 10) == "b" * 10
