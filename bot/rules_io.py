"""`missioncontrol rules export` and `rules import`: rules as code, in the seed-file format of `bot/seed.py`.

Import plans every change before it writes anything. The file is validated against the stored workspaces
and rules, and the plan is printed as a diff with one line per added, changed or removed rule. Only a plan
without errors is applied. Each applied change is written to the audit log as the same action a change in
Slack records, with the user `cli`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import yaml

from bot.seed import SeedError, SeedFile, SeedWorkspace, desired_state, digest_of, load_seed_file
from handlers.mending import release_rule
from storage.models import DigestSettings, Rule, RuleState, Workspace
from storage.rules import RuleConflict, RuleSpec
from storage.store import Storage
from views.rule_burst import BURST_TYPES
from views.rule_text import NOTIFICATION_TYPE_LABELS

logger = logging.getLogger(__name__)

# The audit log's user for changes made on the command line; App Home shows it in code, not as a mention.
CLI_USER = "cli"
# The planned id of an added rule that the file gives no id for.
NEW_RULE_ID = "(new)"

RuleKey = tuple[str, str, str, str | None]


class RulesFileError(Exception):
    """The import file cannot be applied; the message names the entry and the field, and what to do."""


@dataclass(frozen=True)
class RuleChange:
    """One line of the import diff: `before` is None for an added rule, `after` None for a removed one."""

    before: Rule | None
    after: Rule | None

    @property
    def kind(self) -> str:
        if self.before is None:
            return "added"
        if self.after is None:
            return "removed"
        return "changed"


@dataclass(frozen=True)
class WorkspaceChange:
    """A workspace whose name or digest settings the file changes; None on either side means not set."""

    before: Workspace
    name: str | None
    digest: DigestSettings | None

    def fields(self) -> list[str]:
        """Return one "field old -> new" text per changed field."""
        parts = []
        if self.name is not None and self.name != self.before.name:
            parts.append(f"name {_field_text(self.before.name)} -> {self.name}")
        if self.digest is not None:
            old = self.before.digest if self.before.digest_configured else None
            for name in ("enabled", "send_time", "timezone"):
                old_value = _field_text(getattr(old, name)) if old else "unset"
                new_value = _field_text(getattr(self.digest, name))
                if old_value != new_value:
                    parts.append(f"digest.{name} {old_value} -> {new_value}")
        return parts


@dataclass
class ImportPlan:
    changes: list[RuleChange] = field(default_factory=list)
    workspace_changes: list[WorkspaceChange] = field(default_factory=list)
    # Stored rules of the file's workspaces that the file does not list, kept because --prune is not set.
    kept: int = 0

    def count(self, kind: str) -> int:
        return sum(change.kind == kind for change in self.changes)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.workspace_changes


# --- Export -------------------------------------------------------------------------------------------


async def export_rules(storage: Storage, *, teams: Sequence[str], out: TextIO) -> None:
    """Write the stored workspaces and rules (of `teams` only, when given) as a seed file."""
    workspaces = await storage.workspaces.list_all()
    known = {workspace.team_id for workspace in workspaces}
    for team_id in teams:
        if team_id not in known:
            names = ", ".join(sorted(known)) or "none"
            raise RulesFileError(f"--team {team_id} is not a stored workspace (stored: {names}).")
    chosen = [workspace for workspace in workspaces if not teams or workspace.team_id in teams]
    rules = [rule for rule in await storage.rules.list() if not teams or rule.team_id in teams]
    document = {
        "workspaces": [_workspace_entry(workspace) for workspace in chosen],
        "rules": [_rule_entry(rule) for rule in rules],
    }
    out.write("# Mission Control rules. Apply changes with: missioncontrol rules import FILE --dry-run\n")
    out.write(yaml.safe_dump(document, sort_keys=False, allow_unicode=True))


def _workspace_entry(workspace: Workspace) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "team_id": workspace.team_id,
        "name": workspace.name,
        "agency_id": workspace.agency_id,
        "client_id": workspace.client_id,
    }
    # A workspace whose digest nobody configured has no digest entry, so that importing the export does not
    # mark it configured (the digest form then proposes the viewer's own time zone).
    if workspace.digest_configured:
        digest = workspace.digest
        entry["digest"] = {"enabled": digest.enabled, "send_time": digest.send_time, "timezone": digest.timezone}
    return entry


def _rule_entry(rule: Rule) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": rule.id,
        "team_id": rule.team_id,
        "channel": rule.channel,
        "type": rule.type.value,
        "client_id": rule.client_id,
        "min_severity": rule.min_severity.value if rule.min_severity else None,
        "paused": rule.state is RuleState.PAUSED,
    }
    if rule.type in BURST_TYPES:
        entry["burst_threshold"] = rule.burst_threshold
        entry["burst_window_seconds"] = rule.burst_window_seconds
    return entry


# --- Import: plan -------------------------------------------------------------------------------------


def load_import_file(path: Path) -> SeedFile:
    try:
        return load_seed_file(path, noun="rules file")
    except SeedError as error:
        raise RulesFileError(str(error)) from None


def plan_import(seed: SeedFile, *, workspaces: Sequence[Workspace], stored: Sequence[Rule], prune: bool) -> ImportPlan:
    """Compare the file with the stored rules; raise `RulesFileError` on the first entry that cannot be applied.

    A file rule matches a stored rule by `id` when it gives one, otherwise by (team, channel, type, client).
    With `prune`, the stored rules that no file rule matches are removed, but only in the workspaces that the
    file names (under `workspaces` or in a rule). Rules of other workspaces are never touched.
    """
    by_team = {workspace.team_id: workspace for workspace in workspaces}
    _check_workspaces(seed, by_team)
    plan = ImportPlan(workspace_changes=_workspace_changes(seed.workspaces, by_team))
    by_id = {rule.id: rule for rule in stored}
    by_key = {_key(rule): rule for rule in stored}
    default_team = workspaces[0].team_id if len(workspaces) == 1 else None

    matched: dict[str, int] = {}
    final_keys: dict[RuleKey, str] = {}
    teams = {entry.team_id for entry in seed.workspaces}
    for position, entry in enumerate(seed.rules):
        where = f"rules.{position}"
        team_id = entry.team_id or default_team
        if team_id is None:
            raise RulesFileError(f"{where}.team_id is required, because several workspaces are stored.")
        workspace = by_team.get(team_id)
        if workspace is None:
            raise RulesFileError(f"{where}.team_id {team_id} is not a stored workspace ({_known(by_team)}).")
        if workspace.client_id and entry.client_id not in (None, workspace.client_id):
            raise RulesFileError(
                f"{where}.client_id {entry.client_id} differs from the client of workspace {team_id} "
                f"({workspace.client_id}): omit client_id, because a client workspace's rules are its own client's."
            )
        teams.add(team_id)
        spec = RuleSpec(team_id, entry.channel, entry.type, workspace.client_id or entry.client_id, entry.min_severity)
        existing = by_id.get(entry.id) if entry.id else by_key.get(_spec_key(spec))
        if existing is not None:
            if existing.id in matched:
                raise RulesFileError(
                    f"{where} and rules.{matched[existing.id]} both match rule {existing.id}: remove one of them."
                )
            matched[existing.id] = position
        key = _spec_key(spec)
        if key in final_keys:
            raise RulesFileError(
                f"{where} routes the same workspace, channel, type and client as {final_keys[key]}: "
                "remove one of them, or change its channel, type or client."
            )
        final_keys[key] = where
        after = _rule_after(existing, spec, entry.id, entry.paused)
        after = replace(
            after,
            burst_threshold=entry.burst_threshold or after.burst_threshold,
            burst_window_seconds=entry.burst_window_seconds or after.burst_window_seconds,
        )
        if existing is None or after != existing:
            plan.changes.append(RuleChange(before=existing, after=after))

    for rule in stored:
        if rule.id in matched or rule.team_id not in teams:
            continue
        if prune:
            plan.changes.append(RuleChange(before=rule, after=None))
        else:
            plan.kept += 1
            _check_kept_key(rule, final_keys)
    _check_order(plan.changes)
    return plan


def _check_workspaces(seed: SeedFile, by_team: dict[str, Workspace]) -> None:
    """Reject workspaces that are not stored, and entries whose account differs from the stored one.

    Import adds no workspace and changes no account, because the account decides which events a workspace
    receives. It applies a changed name or digest (see `_workspace_changes`).
    """
    for position, entry in enumerate(seed.workspaces):
        stored = by_team.get(entry.team_id)
        where = f"workspaces.{position}"
        if stored is None:
            raise RulesFileError(
                f"{where}.team_id {entry.team_id} is not a stored workspace ({_known(by_team)}): import adds no "
                "workspace, so install the app there first, or remove the entry."
            )
        for name in ("agency_id", "client_id"):
            if getattr(entry, name) != getattr(stored, name):
                raise RulesFileError(
                    f"{where}.{name} {getattr(entry, name)} differs from the stored {getattr(stored, name)} of "
                    f"{entry.team_id}: import does not change a workspace's account, so correct the file (export shows "
                    "the stored value)."
                )


def _workspace_changes(entries: Sequence[SeedWorkspace], by_team: dict[str, Workspace]) -> list[WorkspaceChange]:
    """Return the name and digest changes of the file's workspaces; a field the file omits keeps its value."""
    changes = []
    for entry in entries:
        change = WorkspaceChange(before=by_team[entry.team_id], name=entry.name, digest=digest_of(entry))
        if change.fields():
            changes.append(change)
    return changes


def _check_kept_key(rule: Rule, final_keys: dict[RuleKey, str]) -> None:
    if _key(rule) in final_keys:
        raise RulesFileError(
            f"{final_keys[_key(rule)]} routes the same workspace, channel, type and client as stored rule {rule.id}, "
            f"which the file does not list: give the entry `id: {rule.id}`, or import with --prune to replace it."
        )


def _check_order(changes: Sequence[RuleChange]) -> None:
    """Reject changes that swap keys, because the unique index would reject the first write of the swap."""
    old_keys = {_key(change.before): change.before.id for change in changes if change.before is not None}
    for change in changes:
        if change.before is None or change.after is None:
            continue
        owner = old_keys.get(_key(change.after))
        if owner is not None and owner != change.after.id and not _removed(changes, owner):
            raise RulesFileError(
                f"rule {change.after.id} takes the channel, type and client of rule {owner}, which changes too: "
                "import the two changes one after the other."
            )


def _removed(changes: Sequence[RuleChange], rule_id: str) -> bool:
    return any(change.after is None and change.before is not None and change.before.id == rule_id for change in changes)


def _rule_after(existing: Rule | None, spec: RuleSpec, rule_id: str | None, paused: bool | None) -> Rule:
    if existing is None:
        # The id (unless the file gives one) and the dates of a new rule are set when it is written.
        placeholder = datetime.min
        return Rule(
            id=rule_id or NEW_RULE_ID,
            team_id=spec.team_id,
            channel=spec.channel,
            type=spec.type,
            client_id=spec.client_id,
            min_severity=spec.min_severity,
            state=desired_state(RuleState.ACTIVE, paused),
            failure_reason=None,
            created_at=placeholder,
            updated_at=placeholder,
        )
    current = existing.state
    if current is RuleState.FAILING and (spec.team_id, spec.channel) != (existing.team_id, existing.channel):
        # As in the Slack form: a failing rule moved to another channel is active again, and its held
        # deliveries go to the new channel.
        current = RuleState.ACTIVE
    state = desired_state(current, paused)
    return replace(
        existing,
        team_id=spec.team_id,
        channel=spec.channel,
        type=spec.type,
        client_id=spec.client_id,
        min_severity=spec.min_severity,
        state=state,
        failure_reason=existing.failure_reason if state is existing.state else None,
    )


def _key(rule: Rule) -> RuleKey:
    return (rule.team_id, rule.channel, rule.type.value, rule.client_id)


def _spec_key(spec: RuleSpec) -> RuleKey:
    return (spec.team_id, spec.channel, spec.type.value, spec.client_id)


def _known(by_team: dict[str, Workspace]) -> str:
    return "stored: " + (", ".join(sorted(by_team)) or "none")


# --- Import: the command ----------------------------------------------------------------------------


async def import_rules(storage: Storage, path: Path, *, dry_run: bool, prune: bool, out: TextIO, now: datetime) -> None:
    """Validate the file, print the diff and, unless `dry_run`, apply it; raise `RulesFileError` on any error."""
    seed = load_import_file(path)
    workspaces = await storage.workspaces.list_all()
    plan = plan_import(seed, workspaces=workspaces, stored=await storage.rules.list(), prune=prune)
    for line in diff_lines(plan):
        out.write(line + "\n")
    if plan.kept:
        out.write(
            f"{plan.kept} stored rule(s) of these workspaces are not in the file and are kept: --prune removes them.\n"
        )
    counts = f"{plan.count('added')} added, {plan.count('changed')} changed, {plan.count('removed')} removed"
    if plan.workspace_changes:
        counts += f", {len(plan.workspace_changes)} workspace(s) changed"
    if plan.empty:
        source = "standard input" if str(path) == "-" else path
        out.write(f"No changes: the stored rules already match {source}.\n")
    elif dry_run:
        out.write(f"Dry run: {counts}; nothing was written.\n")
    else:
        await apply_plan(plan, storage=storage, now=now)
        out.write(f"Imported: {counts}.\n")


# --- Import: diff and apply ---------------------------------------------------------------------------


def diff_lines(plan: ImportPlan) -> list[str]:
    """Return one line per change: `+` added, `~` changed (with each changed field), `-` removed."""
    lines = [
        f"~ change workspace {change.before.team_id}: {', '.join(change.fields())}" for change in plan.workspace_changes
    ]
    for change in plan.changes:
        if change.before is None and change.after is not None:
            name = "a new rule" if change.after.id == NEW_RULE_ID else f"rule {change.after.id}"
            lines.append(f"+ add {name}: {describe(change.after)}")
        elif change.after is None and change.before is not None:
            lines.append(f"- remove rule {change.before.id}: {describe(change.before)}")
        elif change.before is not None and change.after is not None:
            lines.append(f"~ change rule {change.before.id}: {_changed_fields(change.before, change.after)}")
    return lines


def describe(rule: Rule) -> str:
    client = f"client {rule.client_id}" if rule.client_id else "all clients"
    severity = f", {rule.min_severity.value} and above" if rule.min_severity else ""
    paused = ", paused" if rule.state is RuleState.PAUSED else ""
    return f"{rule.type.value} for {client}{severity} to channel {rule.channel} in workspace {rule.team_id}{paused}"


def _changed_fields(before: Rule, after: Rule) -> str:
    parts = []
    for name in (
        "team_id",
        "channel",
        "type",
        "client_id",
        "min_severity",
        "state",
        "burst_threshold",
        "burst_window_seconds",
    ):
        old, new = _field_text(getattr(before, name)), _field_text(getattr(after, name))
        if old != new:
            parts.append(f"{name} {old} -> {new}")
    return ", ".join(parts)


def _field_text(value: object) -> str:
    # The diff spells values as the YAML file does.
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(getattr(value, "value", value))


async def apply_plan(plan: ImportPlan, *, storage: Storage, now: datetime) -> None:
    """Write the plan: removals first, then changes, then additions, so a freed key can be taken again.

    Each write is audited as the Slack surface audits the same change. Raises `RulesFileError` naming how
    many changes were written when a rule changed in the meantime.
    """
    # NOTE: the writes go one document at a time, because the house avoids multi-document transactions. So a
    # rule changed in Slack while the import runs can make a write fail after earlier ones were made.
    for workspace_change in plan.workspace_changes:
        await _apply_workspace_change(workspace_change, storage=storage, now=now)
    ordered = sorted(plan.changes, key=lambda change: _KINDS.index(change.kind))
    for written, change in enumerate(ordered):
        try:
            await _apply_change(change, storage=storage, now=now)
        except (RuleConflict, _RuleGone) as error:
            rule_id = error.existing.id if isinstance(error, RuleConflict) else str(error)
            raise RulesFileError(
                f"rule {rule_id} was changed in the meantime, so the import stopped after {written} of "
                f"{len(ordered)} changes: run it again to finish."
            ) from None
    logger.info("Rules imported (added %d, changed %d, removed %d)", *(plan.count(kind) for kind in _KINDS))


async def _apply_change(change: RuleChange, *, storage: Storage, now: datetime) -> None:
    if change.after is None and change.before is not None:
        await storage.rules.delete(change.before.id)
        await audit_rule_change(storage, "deleted", before=change.before, after=None, now=now)
    elif change.before is not None and change.after is not None:
        after = await _update(storage, change.before, change.after, now=now)
        await audit_rule_change(
            storage, _change_action(change.before, after), before=change.before, after=after, now=now
        )
    elif change.after is not None:
        after = await _create(storage, change.after, now=now)
        await audit_rule_change(storage, "added", before=None, after=after, now=now)


async def _apply_workspace_change(change: WorkspaceChange, *, storage: Storage, now: datetime) -> None:
    stored = change.before
    if change.name is not None and change.name != stored.name:
        await storage.workspaces.upsert(
            team_id=stored.team_id, name=change.name, agency_id=stored.agency_id, client_id=stored.client_id, now=now
        )
    if change.digest is not None:
        await storage.workspaces.set_digest(stored.team_id, change.digest, now=now)
    logger.info("Workspace changed (team %s, user %s, fields %s)", stored.team_id, CLI_USER, "; ".join(change.fields()))


class _RuleGone(Exception):
    """A rule of the plan was deleted while the import ran; the message is its id."""


# The order changes are applied in.
_KINDS = ("removed", "changed", "added")


async def _create(storage: Storage, target: Rule, *, now: datetime) -> Rule:
    rule_id = None if target.id == NEW_RULE_ID else target.id
    created = await storage.rules.create(_spec_of(target), now=now, rule_id=rule_id)
    rule = await _set_burst(storage, created, target, now=now)
    if rule is None:
        raise _RuleGone(created.id)
    if target.state is not rule.state:
        updated = await storage.rules.set_state(rule.id, target.state, reason=None, now=now)
        assert updated is not None  # created just above
        rule = updated
    return rule


async def _update(storage: Storage, before: Rule, target: Rule, *, now: datetime) -> Rule:
    rule: Rule | None = before
    if _spec_of(before) != _spec_of(target):
        rule = await storage.rules.update_spec(before.id, _spec_of(target), now=now)
    if rule is not None:
        rule = await _set_burst(storage, rule, target, now=now)
    if rule is not None and target.state is not rule.state:
        rule = await storage.rules.set_state(before.id, target.state, reason=None, now=now)
    if rule is None:
        raise _RuleGone(before.id)
    if rule.state is RuleState.ACTIVE and before.state in (RuleState.FAILING, RuleState.PAUSED):
        # As in Slack, a resumed rule or a failing one moved to another channel retries the alerts held for it.
        await release_rule(storage, rule, now=now)
    return rule


async def _set_burst(storage: Storage, rule: Rule, target: Rule, *, now: datetime) -> Rule | None:
    """Give `rule` the burst policy of `target`; return the rule as stored, or None when it was deleted."""
    if (rule.burst_threshold, rule.burst_window_seconds) == (target.burst_threshold, target.burst_window_seconds):
        return rule
    found = await storage.rules.set_burst_policy(
        rule.id, window_seconds=target.burst_window_seconds, threshold=target.burst_threshold, now=now
    )
    return await storage.rules.get(rule.id) if found else None


def _change_action(before: Rule, after: Rule) -> str:
    """Name a change as the Slack surface does: a state change alone is "paused" or "resumed"."""
    same_burst = (before.burst_threshold, before.burst_window_seconds) == (
        after.burst_threshold,
        after.burst_window_seconds,
    )
    if _spec_of(before) == _spec_of(after) and same_burst:
        return "paused" if after.state is RuleState.PAUSED else "resumed"
    return "edited"


def _spec_of(rule: Rule) -> RuleSpec:
    return RuleSpec(rule.team_id, rule.channel, rule.type, rule.client_id, rule.min_severity)


async def audit_rule_change(
    storage: Storage, action: str, *, before: Rule | None, after: Rule | None, now: datetime
) -> None:
    """Record a rule change made on the command line in the audit log, as the Slack handlers record theirs."""
    rule = after or before
    assert rule is not None  # every change has a side
    await storage.audit.record(
        team_id=rule.team_id,
        user_id=CLI_USER,
        action=action,
        target=f"{NOTIFICATION_TYPE_LABELS[rule.type]} in <#{rule.channel}>",
        before=audit_fields(before),
        after=audit_fields(after),
        now=now,
    )
    logger.info("Rule changed (team %s, user %s, rule %s, action %s)", rule.team_id, CLI_USER, rule.id, action)


def audit_fields(rule: Rule | None) -> dict[str, Any] | None:
    """Return a rule's fields as the audit log stores them (JSON values, no dates), as the Slack handlers do."""
    if rule is None:
        return None
    fields = asdict(rule)
    for name in ("created_at", "updated_at"):
        fields.pop(name, None)
    return dict(json.loads(json.dumps(fields, default=str)))
