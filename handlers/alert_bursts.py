"""The burst summary's list: Show all opens a modal with every gathered alert, paged."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from handlers.services import storage_of, team_key
from storage.alerts import AlertRecord
from views.alert_messages import (
    BURST_PAGE_ACTION_ID,
    LIST_PAGE_SIZE,
    SHOW_BURST_ACTION_ID,
    GatheredItem,
    build_burst_list_modal,
    burst_title,
    ranks_by_severity,
)

logger = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    app.action(SHOW_BURST_ACTION_ID)(on_show)
    app.action(re.compile(f"^{BURST_PAGE_ACTION_ID}_"))(on_page)


async def on_show(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
):
    await ack()
    view = await _list_view(context, summary_id=str(action.get("value") or ""), page=0)
    if view is not None:
        await client.views_open(trigger_id=body["trigger_id"], view=view)


async def on_page(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
):
    await ack()
    page_text, _, summary_id = str(action.get("value") or "").partition("|")
    page = int(page_text) if page_text.isdigit() else 0
    view = await _list_view(context, summary_id=summary_id, page=page)
    container = body.get("view") or {}
    if view is not None and container.get("id"):
        await client.views_update(view_id=container["id"], view=view)


async def _list_view(context: AsyncBoltContext, *, summary_id: str, page: int) -> dict[str, Any] | None:
    """Build one page of a summary's list, or None when the summary is unknown or of another workspace."""
    alerts = storage_of(context).alerts
    summary = await alerts.get_summary(summary_id)
    if summary is None or summary.team_id != await team_key(context):
        logger.warning("Burst list requested for an unknown summary (team %s, summary %s)", context.team_id, summary_id)
        return None
    latest_first = not ranks_by_severity(summary.notification_type)
    # The alerts posted on their own at the start of the burst come first, marked, so the list holds every
    # alert the headline counts. There are at most the rule's burst threshold of them.
    firsts = await alerts.list_burst_firsts(summary_id)
    total = len(firsts) + await alerts.count_gathered(summary_id)
    page = min(page, max(0, (total - 1) // LIST_PAGE_SIZE))
    start = page * LIST_PAGE_SIZE
    items = [_item(record, posted_above=True) for record in firsts[start : start + LIST_PAGE_SIZE]]
    skip = max(0, start - len(firsts))
    records = await alerts.list_gathered(
        summary_id, skip=skip, limit=LIST_PAGE_SIZE - len(items), latest_first=latest_first
    )
    items += [_item(record) for record in records]
    client_name = summary.client_label
    if client_name == summary.group and summary.agency_id is not None:
        # No name was stored when the burst began; one may be stored now.
        found = await storage_of(context).clients.get(agency_id=summary.agency_id, client_id=summary.group)
        client_name = found.name if found is not None and found.name else client_name
    title = burst_title(notification_type=summary.notification_type, count=total, client=client_name)
    return build_burst_list_modal(
        summary_id=summary_id, title=title, items=items, page=page, total=total, latest_first=latest_first
    )


def _item(record: AlertRecord, *, posted_above: bool = False) -> GatheredItem:
    return GatheredItem(
        label=record.label,
        severity=record.severity,
        resolved=record.status == "resolved",
        first_seen=record.occurred_first,
        occurrences=record.occurrences,
        last_seen=record.occurred_last,
        posted_above=posted_above,
    )
