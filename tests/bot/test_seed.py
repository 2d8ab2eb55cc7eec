"""Seed files: the errors of `load_seed_file`, and how `apply_seed` upserts workspaces and rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.seed import SeedError, SeedFile, SeedResult, SeedWorkspace, apply_seed, load_seed_file
from storage.events_schema import Severity
from storage.models import NotificationType, Rule, RuleState
from storage.store import Storage
from tests.conftest import FakeClock

AGENCY = """
workspaces:
  - {team_id: T0AGENCY, name: Acme Agency, agency_id: ag-acme, client_id: null}
"""
CLIENT = """
workspaces:
  - {team_id: T0CLIENT, name: Alpha Outdoor, agency_id: ag-acme, client_id: cl-alpha}
"""


def write(tmp_path: Path, text: str, name: str = "seed.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def seed_text(rules: str, workspaces: str = AGENCY) -> str:
    return workspaces + "rules:\n" + rules


async def apply_text(
    tmp_path: Path,
    storage: Storage,
    clock: FakeClock,
    text: str,
    *,
    default_team_id: str | None = None,
    default_workspace: SeedWorkspace | None = None,
) -> SeedResult:
    seed = load_seed_file(write(tmp_path, text))
    return await apply_seed(
        seed, storage=storage, clock=clock, default_team_id=default_team_id, default_workspace=default_workspace
    )


async def only_rule(storage: Storage) -> Rule:
    rules = await storage.rules.list()
    assert len(rules) == 1, rules
    return rules[0]


SEED_FILE_ERRORS = [
    pytest.param(AGENCY + "rulez: []\n", "rulez", id="unknown-top-level-key"),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, channel: C0001, type: system_errors, comment: ops}\n"),
        "rules.0.comment",
        id="unknown-rule-key",
    ),
    pytest.param(
        AGENCY.replace("client_id: null", "client_id: null, timezone: UTC"),
        "workspaces.0.timezone",
        id="unknown-workspace-key",
    ),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, channel: C0001, type: system_errors, min_severity: high}\n"),
        "min_severity",
        id="min-severity-on-system-errors",
    ),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, channel: C0001, type: outlier_alerts, min_severity: urgent}\n"),
        "rules.0.min_severity",
        id="unknown-severity",
    ),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, channel: general, type: system_errors}\n"),
        "rules.0.channel",
        id="channel-name-not-id",
    ),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, channel: U0001, type: system_errors}\n"),
        "rules.0.channel",
        id="user-id-as-channel",
    ),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, channel: C0001, type: outliers}\n"),
        "rules.0.type",
        id="unknown-rule-type",
    ),
    pytest.param(
        seed_text("  - {team_id: T0AGENCY, type: system_errors}\n"),
        "rules.0.channel",
        id="missing-channel",
    ),
    pytest.param(
        "workspaces:\n  - {team_id: acme, agency_id: ag-acme}\n",
        "workspaces.0.team_id",
        id="bad-team-id",
    ),
    pytest.param(
        "workspaces:\n  - {team_id: T0CLIENT, client_id: cl-alpha}\n",
        "agency_id",
        id="client-without-agency",
    ),
    pytest.param("rules: {channel: C0001}\n", "rules", id="rules-not-a-list"),
    pytest.param("- C0001\n", "top level", id="top-level-list"),
]


@pytest.mark.parametrize(("text", "named"), SEED_FILE_ERRORS)
def test_load_seed_error_names_key(tmp_path: Path, text: str, named: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(SeedError) as raised:
        load_seed_file(path)

    assert named in str(raised.value)
    assert str(path) in str(raised.value)


def test_load_seed_misspelled_key_named(tmp_path: Path) -> None:
    text = seed_text("  - {team_id: T0AGENCY, chanel: C0001, type: system_errors}\n")

    with pytest.raises(SeedError, match=r"rules\.0\.chanel"):
        load_seed_file(write(tmp_path, text))


def test_load_seed_unknown_key_says_remove(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="not a known key"):
        load_seed_file(write(tmp_path, AGENCY + "rulez: []\n"))


def test_load_seed_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - {channel: C0001, type: [system_errors\n")

    with pytest.raises(SeedError, match="not valid YAML"):
        load_seed_file(path)


def test_load_seed_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(SeedError) as raised:
        load_seed_file(path)

    assert "Cannot read" in str(raised.value)
    assert str(path) in str(raised.value)


def test_load_seed_empty_file(tmp_path: Path) -> None:
    seed = load_seed_file(write(tmp_path, ""))

    assert seed == SeedFile()


def test_load_seed_json_file(tmp_path: Path) -> None:
    text = '{"rules": [{"channel": "C0001", "type": "outlier_alerts", "min_severity": "high"}]}'

    seed = load_seed_file(write(tmp_path, text, name="seed.json"))

    assert seed.rules[0].min_severity is Severity.HIGH


def test_load_seed_examples_file() -> None:
    seed = load_seed_file(Path(__file__).resolve().parents[2] / "examples" / "seed.yaml")

    assert len(seed.workspaces) == 1
    assert len(seed.rules) > 0


async def test_apply_seed_stores_workspace(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    await apply_text(tmp_path, storage, clock, AGENCY)
    workspace = await storage.workspaces.get("T0AGENCY")

    assert workspace is not None
    assert workspace.agency_id == "ag-acme"
    assert workspace.client_id is None
    assert workspace.name == "Acme Agency"


async def test_apply_seed_twice_updates_severity(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    rule = "  - {team_id: T0AGENCY, channel: C0001, type: outlier_alerts, min_severity: %s}\n"

    created = await apply_text(tmp_path, storage, clock, seed_text(rule % "medium"))
    updated = await apply_text(tmp_path, storage, clock, seed_text(rule % "high"))
    stored = await only_rule(storage)

    assert (created.rules_created, created.rules_updated) == (1, 0)
    assert (updated.rules_created, updated.rules_updated) == (0, 1)
    assert stored.min_severity is Severity.HIGH


async def test_apply_seed_matches_rule_by_id(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    rule = "  - {id: rule-ops, team_id: T0AGENCY, channel: %s, type: system_errors}\n"

    await apply_text(tmp_path, storage, clock, seed_text(rule % "C0OLD"))
    await apply_text(tmp_path, storage, clock, seed_text(rule % "C0NEW"))
    stored = await only_rule(storage)

    assert stored.id == "rule-ops"
    assert stored.channel == "C0NEW"


async def test_apply_seed_paused_state(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    rule = "  - {id: rule-ops, team_id: T0AGENCY, channel: C0001, type: system_errors%s}\n"

    await apply_text(tmp_path, storage, clock, seed_text(rule % ", paused: true"))
    paused = await only_rule(storage)
    await apply_text(tmp_path, storage, clock, seed_text(rule % ""))
    kept = await only_rule(storage)
    await apply_text(tmp_path, storage, clock, seed_text(rule % ", paused: false"))
    resumed = await only_rule(storage)

    assert paused.state is RuleState.PAUSED
    assert kept.state is RuleState.PAUSED
    assert resumed.state is RuleState.ACTIVE


async def test_apply_seed_keeps_rules_not_in_file(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    first = seed_text("  - {team_id: T0AGENCY, channel: C0001, type: system_errors}\n")
    second = seed_text("  - {team_id: T0AGENCY, channel: C0002, type: task_failures}\n")

    await apply_text(tmp_path, storage, clock, first)
    await apply_text(tmp_path, storage, clock, second)
    rules = await storage.rules.list()

    assert sorted((rule.channel, rule.type) for rule in rules) == [
        ("C0001", NotificationType.SYSTEM_ERRORS),
        ("C0002", NotificationType.TASK_FAILURES),
    ]


async def test_apply_seed_client_filter_kept(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    text = seed_text("  - {team_id: T0AGENCY, channel: C0001, type: outlier_alerts, client_id: cl-bravo}\n")

    await apply_text(tmp_path, storage, clock, text)
    stored = await only_rule(storage)

    assert stored.client_id == "cl-bravo"


async def test_apply_seed_client_workspace_forces_client(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    text = seed_text("  - {team_id: T0CLIENT, channel: C0001, type: system_errors}\n", workspaces=CLIENT)

    await apply_text(tmp_path, storage, clock, text)
    stored = await only_rule(storage)

    assert stored.client_id == "cl-alpha"


async def test_apply_seed_client_workspace_rejects_other(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    text = seed_text(
        "  - {team_id: T0CLIENT, channel: C0001, type: system_errors, client_id: cl-bravo}\n", workspaces=CLIENT
    )

    with pytest.raises(SeedError) as raised:
        await apply_text(tmp_path, storage, clock, text)

    assert "rules.0.client_id" in str(raised.value)
    assert "cl-alpha" in str(raised.value)
    assert await storage.rules.list() == []


async def test_apply_seed_unknown_team(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    text = seed_text("  - {team_id: T0MISSING, channel: C0001, type: system_errors}\n")

    with pytest.raises(SeedError) as raised:
        await apply_text(tmp_path, storage, clock, text)

    assert "rules.0.team_id" in str(raised.value)
    assert "T0MISSING" in str(raised.value)


async def test_apply_seed_rule_needs_team(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    text = seed_text("  - {channel: C0001, type: system_errors}\n")

    with pytest.raises(SeedError, match=r"rules\.0\.team_id"):
        await apply_text(tmp_path, storage, clock, text)


async def test_apply_seed_default_workspace(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    default = SeedWorkspace(team_id="T0SINGLE", name="Single", agency_id="ag-acme", client_id=None)

    await apply_text(
        tmp_path,
        storage,
        clock,
        "rules:\n  - {channel: C0001, type: system_errors}\n",
        default_team_id="T0SINGLE",
        default_workspace=default,
    )
    stored = await only_rule(storage)

    assert stored.team_id == "T0SINGLE"
    assert await storage.workspaces.get("T0SINGLE") is not None


async def test_apply_seed_settings_workspace_wins(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    # In single-workspace mode the environment names the account, whatever the file's entry for it says.
    default = SeedWorkspace(team_id="T0AGENCY", name="From settings", agency_id="ag-other", client_id=None)

    await apply_text(tmp_path, storage, clock, AGENCY, default_team_id="T0AGENCY", default_workspace=default)
    workspace = await storage.workspaces.get("T0AGENCY")

    assert workspace is not None
    assert workspace.agency_id == "ag-other"


async def test_apply_seed_other_team_rejected(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    default = SeedWorkspace(team_id="T0TOKEN", name="From settings", agency_id="ag-acme", client_id=None)

    with pytest.raises(SeedError, match="T0AGENCY is not the workspace of SLACK_BOT_TOKEN"):
        await apply_text(tmp_path, storage, clock, AGENCY, default_team_id="T0TOKEN", default_workspace=default)


async def test_apply_seed_sets_burst_policy(tmp_path: Path, storage: Storage, clock: FakeClock) -> None:
    text = seed_text(
        "  - {team_id: T0AGENCY, channel: C0001, type: task_failures, burst_threshold: 5, burst_window_seconds: 300}\n"
    )

    await apply_text(tmp_path, storage, clock, text)
    rule = await only_rule(storage)

    assert (rule.burst_threshold, rule.burst_window_seconds) == (5, 300)


def test_load_seed_burst_out_of_range(tmp_path: Path) -> None:
    text = seed_text("  - {team_id: T0AGENCY, channel: C0001, type: task_failures, burst_window_seconds: 0}\n")

    with pytest.raises(SeedError, match=r"rules\.0\.burst_window_seconds"):
        load_seed_file(write(tmp_path, text))
