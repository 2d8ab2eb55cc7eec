"""`missioncontrol deliveries list|retry`: inspect the outbox and queue failed deliveries again (needs MONGODB_URI)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import TextIO

from bot.cli_storage import connect
from bot.clock import SystemClock
from bot.failed_deliveries import COMMAND_LINE_USER, FailedDeliveries
from bot.settings import Settings
from storage.models import Delivery, DeliveryState
from storage.store import Storage
from views.delivery_subject import EXPIRED, delivery_subject, state_label

IN_MEMORY_STORE = (
    "MONGODB_URI is not set, and the in-memory store lives inside `missioncontrol serve` only: set MONGODB_URI "
    "to see and retry deliveries from the command line (a bot connected to Slack also lists undelivered messages "
    "in App Home; local mode prints every message and has no App Home)."
)
MAX_ERROR_COLUMN = 100
ENDED_UNSENT_STATES = (DeliveryState.FAILED, DeliveryState.DEAD)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deliveries = commands.add_parser("deliveries", help="list deliveries and retry failed ones (needs MONGODB_URI)")
    actions = deliveries.add_subparsers(dest="deliveries_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the latest deliveries, most recently changed first")
    listing.add_argument("--failed", action="store_true", help="only deliveries that Slack rejected or that gave up")
    listing.add_argument("--team", help="only deliveries of this Slack team id")
    listing.add_argument("--limit", type=int, default=50, help="how many deliveries to list (default 50)")
    retry = actions.add_parser("retry", help="queue failed deliveries again, with their attempts reset")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("delivery_id", nargs="?", metavar="ID", help="the delivery id that `deliveries list` shows")
    target.add_argument("--all", action="store_true", help="every failed delivery (of --team, when given)")
    retry.add_argument(
        "--team", help="only deliveries of this Slack team id; with an ID, retry it only if it belongs to that team"
    )


async def run_deliveries_command(
    settings: Settings, args: argparse.Namespace, *, storage: Storage | None = None, stdout: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    if storage is None:
        if settings.mongodb_uri is None:
            print(f"missioncontrol: {IN_MEMORY_STORE}", file=sys.stderr)
            return 2
        storage = Storage.create(
            await connect(settings),
            retention_days=settings.MISSIONCONTROL_RETENTION_DAYS,
            delivery_retention_days=settings.delivery_retention_days,
        )
    if args.deliveries_command == "list":
        if args.limit < 1:
            print(f"missioncontrol: --limit must be at least 1, got {args.limit}.", file=sys.stderr)
            return 2
        await list_deliveries(storage, failed=args.failed, team_id=args.team, limit=args.limit, out=out)
        return 0
    return await retry_deliveries(storage, delivery_id=args.delivery_id, team_id=args.team, out=out)


async def list_deliveries(storage: Storage, *, failed: bool, team_id: str | None, limit: int, out: TextIO) -> None:
    deliveries = storage.deliveries
    if failed:
        rows = await deliveries.list_unsent(team_id=team_id, limit=limit)
    else:
        rows = await deliveries.list_latest(team_id=team_id, limit=limit)
    if not rows:
        out.write(
            "No failed deliveries: every message was posted or is still queued.\n" if failed else "No deliveries yet.\n"
        )
        return
    subjects = {}
    for delivery in rows:
        stored = await storage.events.find(delivery.event_id)
        subjects[delivery.id] = delivery_subject(stored.body if stored is not None else None)
    out.write(format_table(rows, subjects))
    if failed:
        out.write("Retry one with `missioncontrol deliveries retry ID`, or all with `--all`.\n")


HEADERS = ("ID", "TEAM", "CHANNEL", "STATE", "TRIES", "CHANGED (UTC)", "LAST ERROR")


def format_table(rows: Sequence[Delivery], subjects: Mapping[str, str]) -> str:
    """Lay out one line per delivery, columns as wide as their widest value, and what it was about under it.

    Ids are `rule_…:evt_…` and grow with the platform's event id (up to 128 characters), so no width fits all.
    """
    cells = [_cells(delivery) for delivery in rows]
    widths = [max(len(row[column]) for row in [HEADERS, *cells]) for column in range(len(HEADERS) - 1)]
    lines = []
    for delivery, row in zip([None, *rows], [HEADERS, *cells], strict=True):
        columns = [
            value.rjust(width) if HEADERS[column] == "TRIES" else value.ljust(width)
            for column, (value, width) in enumerate(zip(row[:-1], widths, strict=True))
        ]
        lines.append(" ".join([*columns, row[-1]]).rstrip())
        if delivery is not None:
            lines.append(f"  {subjects.get(delivery.id, EXPIRED)} (event {delivery.event_id})")
    return "\n".join(lines) + "\n"


def _cells(delivery: Delivery) -> tuple[str, ...]:
    changed = (delivery.updated_at or delivery.created_at).strftime("%Y-%m-%d %H:%M")
    error = " ".join((delivery.last_error or "-").split())[:MAX_ERROR_COLUMN]
    return (
        delivery.id,
        delivery.team_id,
        delivery.channel,
        state_label(delivery) if delivery.state in ENDED_UNSENT_STATES else delivery.state.value,
        str(delivery.attempts),
        changed,
        error,
    )


async def retry_deliveries(storage: Storage, *, delivery_id: str | None, team_id: str | None, out: TextIO) -> int:
    retrier = FailedDeliveries(storage=storage, clock=SystemClock())
    if delivery_id is None:
        count = await retrier.retry_all(user_id=COMMAND_LINE_USER, team_id=team_id)
        if not count:
            out.write("No failed deliveries to retry.\n")
            return 0
        noun = "delivery" if count == 1 else "deliveries"
        out.write(f"Queued {count} {noun} again; a running `missioncontrol serve` posts them.\n")
        return 0
    if await retrier.retry(delivery_id=delivery_id, user_id=COMMAND_LINE_USER, team_id=team_id):
        out.write(f"Queued delivery {delivery_id} again; a running `missioncontrol serve` posts it.\n")
        return 0
    existing = await storage.deliveries.get(delivery_id)
    if existing is None:
        reason = "was not found: list ids with `missioncontrol deliveries list --failed`"
    elif team_id is not None and existing.team_id != team_id:
        reason = (
            f"belongs to team {existing.team_id}, not --team {team_id}, so it was not retried: "
            f"drop --team or pass --team {existing.team_id}"
        )
    else:
        reason = f"is {existing.state.value}, not failed or dead, so there is nothing to retry"
    print(f"missioncontrol: delivery {delivery_id} {reason}.", file=sys.stderr)
    return 1
