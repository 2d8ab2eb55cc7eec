"""Seed files: workspaces and rules in YAML (so JSON works too), upserted at start by `serve --seed FILE`.

    workspaces:
      - {team_id: T0001, name: Acme Agency, agency_id: ag-acme, client_id: null}
    rules:
      - {team_id: T0001, channel: C0001, type: outlier_alerts, client_id: cl-alpha, min_severity: high}

`missioncontrol rules export` writes this format too, with each rule's `id`, `paused` state and burst
settings, and each workspace's digest settings once they were saved.

A rule is matched by `id` when the file gives one, otherwise by (team, channel, type, client); rules that
are not in the file are kept. In single-workspace mode the workspace entry may be omitted and `team_id` too.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bot.clock import Clock
from storage.events_schema import Severity
from storage.models import DigestSettings, NotificationType, RuleState
from storage.rules import RuleSpec
from storage.store import Storage
from views.rule_burst import BURST_TYPES, MAX_THRESHOLD, MAX_WINDOW_SECONDS

logger = logging.getLogger(__name__)

TeamId = Annotated[str, Field(pattern=r"^[TE][A-Z0-9]+$", max_length=32)]
ChannelId = Annotated[str, Field(pattern=r"^[CGD][A-Z0-9]+$", max_length=32)]
RuleId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class SeedError(Exception):
    """The seed file is unreadable or invalid; the message names the file, the entry and the field."""


class SeedDigest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    send_time: Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")] = "09:00"
    timezone: str = "UTC"


class SeedWorkspace(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: TeamId
    name: str | None = None
    agency_id: str | None = None
    client_id: str | None = None
    # Daily digest settings; omitted keeps what the workspace has (off for a new one).
    digest: SeedDigest | None = None

    @model_validator(mode="after")
    def _client_needs_agency(self) -> SeedWorkspace:
        if self.client_id is not None and self.agency_id is None:
            raise ValueError("a workspace with client_id also needs agency_id")
        return self


class SeedRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: RuleId | None = None
    team_id: TeamId | None = None
    channel: ChannelId
    type: NotificationType
    client_id: str | None = None
    min_severity: Severity | None = None
    # True pauses the rule, false resumes a paused one; omitted keeps the stored state (active when new).
    # A failing rule stays failing with false, because it recovers when the bot can post to the channel again.
    # `rules import` makes a failing rule active when the file moves it to another channel.
    paused: bool | None = None
    # Floods: after `burst_threshold` new alerts of one client within `burst_window_seconds` of each other,
    # further ones are gathered into one summary. Omitted keeps the stored value (1 alert and 60 s when new).
    burst_threshold: Annotated[int, Field(ge=1, le=MAX_THRESHOLD)] | None = None
    burst_window_seconds: Annotated[int, Field(ge=1, le=MAX_WINDOW_SECONDS)] | None = None

    @model_validator(mode="after")
    def _severity_on_outliers_only(self) -> SeedRule:
        if self.min_severity is not None and self.type is not NotificationType.OUTLIER_ALERTS:
            raise ValueError("min_severity is allowed on outlier_alerts rules only")
        return self

    @model_validator(mode="after")
    def _burst_on_burst_types_only(self) -> SeedRule:
        if self.type not in BURST_TYPES and (self.burst_threshold or self.burst_window_seconds):
            allowed = ", ".join(sorted(kind.value for kind in BURST_TYPES))
            raise ValueError(f"burst_threshold and burst_window_seconds are allowed on {allowed} rules only")
        return self


class SeedFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workspaces: list[SeedWorkspace] = Field(default_factory=list)
    rules: list[SeedRule] = Field(default_factory=list)


@dataclass(frozen=True)
class SeedResult:
    workspaces: int
    rules_created: int
    rules_updated: int


def load_seed_file(path: Path, *, noun: str = "seed file") -> SeedFile:
    """Read and validate a seed file, or standard input when `path` is `-`.

    `noun` names the file in errors ("rules file" for `rules import`).
    """
    from_stdin = str(path) == "-"
    source = "from standard input" if from_stdin else str(path)
    try:
        text = sys.stdin.read() if from_stdin else path.read_text(encoding="utf-8")
        document = yaml.safe_load(text)
    except OSError as error:
        raise SeedError(f"Cannot read {noun} {source}: {error.strerror}.") from None
    except yaml.YAMLError as error:
        raise SeedError(f"{noun.capitalize()} {source} is not valid YAML: {error}") from None
    return validate_seed(document, source, noun=noun)


def validate_seed(document: object, path: Path | str, *, noun: str = "seed file") -> SeedFile:
    """Validate a parsed seed document; raise `SeedError` naming the first invalid entry and field."""
    try:
        return SeedFile.model_validate(document or {})
    except ValidationError as error:
        # An unknown key explains a "required" error on its correctly spelled twin, so it is named first.
        errors = sorted(error.errors(), key=lambda detail: detail["type"] != "extra_forbidden")
        first = errors[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        reason = "is not a known key; remove it" if first["type"] == "extra_forbidden" else first["msg"]
        reason = reason.removeprefix("Value error, ")
        if first["type"] == "string_pattern_mismatch" and first["loc"][-1] == "channel":
            reason = f"{first['input']} is not a channel id: use an id such as C0123ABCD"
        raise SeedError(f"Invalid {noun} {path}: {where} {reason}.") from None


def digest_of(entry: SeedWorkspace) -> DigestSettings | None:
    """Return a workspace entry's digest settings, or None when the entry has no digest."""
    if entry.digest is None:
        return None
    return DigestSettings(entry.digest.enabled, entry.digest.send_time, entry.digest.timezone)


def desired_state(current: RuleState, paused: bool | None) -> RuleState:
    """Return the state a rule gets from a file's `paused` value (see `SeedRule.paused`)."""
    if paused is True:
        return RuleState.PAUSED
    if paused is False and current is RuleState.PAUSED:
        return RuleState.ACTIVE
    return current


async def apply_seed(
    seed: SeedFile,
    *,
    storage: Storage,
    clock: Clock,
    default_team_id: str | None,
    default_workspace: SeedWorkspace | None,
) -> SeedResult:
    """Upsert the file's workspaces, then its rules; a rule's client is forced in client workspaces.

    With `default_workspace` (single-workspace mode) the file may name no other workspace, because the one
    bot token could not post there, and the environment's account wins over the file's entry for it.
    """
    now = clock.now()
    workspaces = list(seed.workspaces)
    if default_workspace is not None:
        for position, entry in enumerate(workspaces):
            if entry.team_id != default_workspace.team_id:
                raise SeedError(
                    f"workspaces.{position}.team_id {entry.team_id} is not the workspace of SLACK_BOT_TOKEN "
                    f"({default_workspace.team_id}): remove the entry, or omit workspaces and team_id in "
                    "single-workspace mode."
                )
        from_file = {entry.team_id: entry for entry in workspaces}
        digest = from_file[default_workspace.team_id].digest if default_workspace.team_id in from_file else None
        workspaces = [default_workspace.model_copy(update={"digest": digest})]
    for entry in workspaces:
        await storage.workspaces.upsert(
            team_id=entry.team_id, name=entry.name, agency_id=entry.agency_id, client_id=entry.client_id, now=now
        )
        settings = digest_of(entry)
        if settings is not None:
            await storage.workspaces.set_digest(entry.team_id, settings, now=now)
    created = updated = 0
    for position, rule in enumerate(seed.rules):
        team_id = rule.team_id or default_team_id
        if team_id is None:
            raise SeedError(f"rules.{position}.team_id is required: name the workspace of the rule.")
        workspace = await storage.workspaces.get(team_id)
        if workspace is None:
            raise SeedError(f"rules.{position}.team_id {team_id} is not a known workspace: add it under workspaces.")
        if workspace.client_id and rule.client_id not in (None, workspace.client_id):
            raise SeedError(
                f"rules.{position}.client_id {rule.client_id} differs from the client of workspace {team_id} "
                f"({workspace.client_id}): omit client_id, because a client workspace's rules are its own client's."
            )
        client_id = workspace.client_id or rule.client_id
        spec = RuleSpec(team_id, rule.channel, rule.type, client_id, rule.min_severity)
        result = await storage.rules.upsert(spec, now=now, rule_id=rule.id)
        wanted = desired_state(result.rule.state, rule.paused)
        if wanted is not result.rule.state:
            await storage.rules.set_state(result.rule.id, wanted, reason=None, now=now)
        if rule.burst_threshold or rule.burst_window_seconds:
            await storage.rules.set_burst_policy(
                result.rule.id,
                window_seconds=rule.burst_window_seconds or result.rule.burst_window_seconds,
                threshold=rule.burst_threshold or result.rule.burst_threshold,
                now=now,
            )
        created += result.created
        updated += not result.created
    logger.info("Seed applied (workspaces %d, rules created %d, updated %d)", len(workspaces), created, updated)
    return SeedResult(workspaces=len(workspaces), rules_created=created, rules_updated=updated)
