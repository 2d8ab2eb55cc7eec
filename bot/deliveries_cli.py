"""`missioncontrol deliveries list|retry`: inspect the outbox and queue failed deliveries again (needs MONGODB_URI)."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from bot.clock import SystemClock
from bot.failed_deliveries import COMMAND_LINE_USER, FailedDeliveries
from bot.settings import Settings
from storage.database import open_database
from storage.models import Delivery
from storage.store import Storage

IN_MEMORY_STORE = (
    "MONGODB_URI is not set, and the in-memory store lives inside `missioncontrol serve` only: set MONGODB_URI "
    "to see and retry deliveries from the command line, or use the Undelivered messages list in App Home."
)
MAX_ERROR_COLUMN = 100


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    deliveries = commands.add_parser("deliveries", help="list deliveries and retry failed ones (needs MONGODB_URI)")
    actions = deliveries.add_subparsers(dest="deliveries_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="list the latest deliveries, most recently changed first")
    listing.add_argument("--failed", action="store_true", help="only deliveries that failed or gave up after retries")
    listing.add_argument("--team", help="only deliveries of this Slack team id")
    listing.add_argument("--limit", type=int, default=50, help="how many deliveries to list (default 50)")
    retry = actions.add_parser("retry", help="queue failed deliveries again, with their attempts reset")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("delivery_id", nargs="?", metavar="ID", help="the delivery id that `deliveries list` shows")
    target.add_argument("--all", action="store_true", help="every failed delivery (of --team, when given)")
    retry.add_argument("--team", help="with --all: only deliveries of this Slack team id")


async def run_deliveries_command(
    settings: Settings, args: argparse.Namespace, *, storage: Storage | None = None, stdout: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    if storage is None:
        if settings.mongodb_uri is None:
            print(f"missioncontrol: {IN_MEMORY_STORE}", file=sys.stderr)
            return 2
        storage = Storage.create(
            open_database(settings.mongodb_uri, settings.MONGODB_DATABASE),
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
    out.write(f"{'ID':<40} {'TEAM':<12} {'CHANNEL':<12} {'STATE':<8} {'TRIES':>5} {'CHANGED (UTC)':<17} LAST ERROR\n")
    for delivery in rows:
        out.write(_row(delivery))
    if failed:
        out.write("Retry one with `missioncontrol deliveries retry ID`, or all with `--all`.\n")


def _row(delivery: Delivery) -> str:
    changed = (delivery.updated_at or delivery.created_at).strftime("%Y-%m-%d %H:%M")
    error = " ".join((delivery.last_error or "-").split())[:MAX_ERROR_COLUMN]
    return (
        f"{delivery.id:<40} {delivery.team_id:<12} {delivery.channel:<12} {delivery.state.value:<8} "
        f"{delivery.attempts:>5} {changed:<17} {error}\n"
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
    if await retrier.retry(delivery_id=delivery_id, user_id=COMMAND_LINE_USER):
        out.write(f"Queued delivery {delivery_id} again; a running `missioncontrol serve` posts it.\n")
        return 0
    existing = await storage.deliveries.get(delivery_id)
    if existing is None:
        reason = "was not found: list ids with `missioncontrol deliveries list --failed`"
    else:
        reason = f"is {existing.state.value}, not failed or dead, so there is nothing to retry"
    print(f"missioncontrol: delivery {delivery_id} {reason}.", file=sys.stderr)
    return 1
