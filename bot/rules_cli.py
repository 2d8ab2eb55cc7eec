"""`missioncontrol rules add|list|remove|export|import`: manage rules in the database named by MONGODB_URI."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import TextIO

from bot.cli_storage import connect
from bot.clock import Clock, SystemClock
from bot.rules_io import RulesFileError, audit_rule_change, export_rules, import_rules
from bot.settings import Settings
from storage.events_schema import Severity
from storage.models import NotificationType, Rule, RuleState
from storage.rules import RuleConflict, RuleSpec
from storage.store import Storage

IN_MEMORY_STORE = (
    "MONGODB_URI is not set, and the in-memory store lives inside `missioncontrol serve` only: set MONGODB_URI "
    "to manage rules from the command line, or give rules to `missioncontrol serve --seed FILE`."
)

_CHANNEL_MENTION = re.compile(r"<#([CG][A-Z0-9]+)>")


class RuleCommandError(Exception):
    """A rules command cannot be carried out; the message says why and what to do."""


async def run_rules_command(
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
        )
        await storage.ensure_indexes()
    try:
        if args.rules_command == "add":
            await add_rule(storage, args, out=out, clock=SystemClock())
        elif args.rules_command == "list":
            await list_rules(storage, as_json=args.json, out=out)
        elif args.rules_command == "remove":
            await remove_rule(storage, args.rule_id, out=out)
        elif args.rules_command == "export":
            await export_rules(storage, teams=args.team, out=out)
        elif args.rules_command == "import":
            await import_rules(
                storage, args.file, dry_run=args.dry_run, prune=args.prune, out=out, now=SystemClock().now()
            )
    except (RuleCommandError, RulesFileError) as error:
        print(f"missioncontrol: {error}", file=sys.stderr)
        return 1
    return 0


async def add_rule(storage: Storage, args: argparse.Namespace, *, out: TextIO, clock: Clock) -> Rule:
    kind = NotificationType(args.type)
    severity = Severity(args.min_severity) if args.min_severity else None
    if severity is not None and kind is not NotificationType.OUTLIER_ALERTS:
        raise RuleCommandError("--min-severity applies to --type outlier_alerts only: remove it or change --type.")
    if not re.fullmatch(r"[CG][A-Z0-9]{2,}", args.channel):
        raise RuleCommandError(f"--channel {args.channel} is not a channel id: use an id such as C0123ABCD.")
    team_id = await _resolve_team(storage, args.team)
    workspace = await storage.workspaces.get(team_id)
    assert workspace is not None  # checked by _resolve_team
    client_id = args.client
    if workspace.client_id is not None:
        if client_id not in (None, workspace.client_id):
            raise RuleCommandError(
                f"workspace {team_id} belongs to client {workspace.client_id}: omit --client, because its rules "
                "always cover that client only."
            )
        client_id = workspace.client_id
    spec = RuleSpec(team_id=team_id, channel=args.channel, type=kind, client_id=client_id, min_severity=severity)
    try:
        rule = await storage.rules.create(spec, now=clock.now())
    except RuleConflict as conflict:
        existing = conflict.existing
        if existing.state is RuleState.ACTIVE and existing.min_severity == severity:
            raise RuleCommandError(f"rule {existing.id} already routes this; nothing changed.") from None
        result = await storage.rules.upsert(spec, now=clock.now(), rule_id=existing.id, reactivate=True)
        await audit_rule_change(storage, "edited", before=existing, after=result.rule, now=clock.now())
        out.write(f"Updated rule {result.rule.id} and set it active (was {existing.state.value}).\n")
        return result.rule
    await audit_rule_change(storage, "added", before=None, after=rule, now=clock.now())
    out.write(f"Added rule {rule.id}: {_describe(rule)}\n")
    return rule


async def _resolve_team(storage: Storage, team_id: str | None) -> str:
    workspaces = await storage.workspaces.list_all()
    known = ", ".join(workspace.team_id for workspace in workspaces) or "none"
    if team_id is not None:
        if all(workspace.team_id != team_id for workspace in workspaces):
            raise RuleCommandError(f"--team {team_id} is not a known workspace (known: {known}).")
        return team_id
    if len(workspaces) == 1:
        return workspaces[0].team_id
    if not workspaces:
        raise RuleCommandError(
            "no workspace is stored yet: start `missioncontrol serve` with Slack credentials once, or seed one."
        )
    raise RuleCommandError(f"several workspaces are stored: choose one with --team (known: {known}).")


async def list_rules(storage: Storage, *, as_json: bool, out: TextIO) -> None:
    rules = await storage.rules.list()
    if as_json:
        out.write(json.dumps([_rule_json(rule) for rule in rules], indent=2) + "\n")
        return
    if not rules:
        out.write("No rules yet. Add one with: missioncontrol rules add --channel C… --type outlier_alerts\n")
        return
    out.write(f"{'ID':<16} {'TEAM':<12} {'CHANNEL':<12} {'TYPE':<15} {'CLIENT':<14} {'MIN':<9} STATE\n")
    for rule in rules:
        # Reasons name channels as Slack mentions (<#C0123>); a terminal shows them as #C0123.
        reason = _CHANNEL_MENTION.sub(r"#\1", rule.failure_reason or "")
        state = rule.state.value + (f": {reason}" if reason else "")
        client = rule.client_id or "all clients"
        severity = rule.min_severity.value if rule.min_severity else "-"
        out.write(
            f"{rule.id:<16} {rule.team_id:<12} {rule.channel:<12} {rule.type.value:<15} "
            f"{client:<14} {severity:<9} {state}\n"
        )


async def remove_rule(storage: Storage, rule_id: str, *, out: TextIO, clock: Clock | None = None) -> None:
    rule = await storage.rules.get(rule_id)
    if rule is None or not await storage.rules.delete(rule_id):
        raise RuleCommandError(f"rule {rule_id} was not found: list rule ids with `missioncontrol rules list`.")
    await audit_rule_change(storage, "deleted", before=rule, after=None, now=(clock or SystemClock()).now())
    out.write(f"Removed rule {rule_id}.\n")


def _describe(rule: Rule) -> str:
    client = f"client {rule.client_id}" if rule.client_id else "all clients"
    severity = f", {rule.min_severity.value} and above" if rule.min_severity else ""
    return f"{rule.type.value} for {client}{severity} to channel {rule.channel} in workspace {rule.team_id}"


def _rule_json(rule: Rule) -> dict[str, object]:
    return {
        "id": rule.id,
        "team_id": rule.team_id,
        "channel": rule.channel,
        "type": rule.type.value,
        "client_id": rule.client_id,
        "min_severity": rule.min_severity.value if rule.min_severity else None,
        "state": rule.state.value,
        "failure_reason": rule.failure_reason,
    }
