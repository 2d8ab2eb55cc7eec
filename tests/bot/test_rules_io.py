"""`missioncontrol rules export` and `rules import`, run through the command's entry point on the in-memory store."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.cli import build_parser
from bot.rules_cli import run_rules_command
from bot.rules_io import RulesFileError, apply_plan, load_import_file, plan_import
from bot.settings import load_settings
from storage.events_schema import Severity
from storage.models import DigestSettings, NotificationType, Rule, RuleState
from storage.rules import RuleSpec
from storage.store import Storage
from tests.conftest import EVENTS_SECRET

SETTINGS = load_settings({"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET})
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def run(storage: Storage, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    args = build_parser().parse_args(["rules", *argv])
    code = await run_rules_command(SETTINGS, args, storage=storage, stdout=out)
    return code, out.getvalue()


async def seed_rules(storage: Storage) -> dict[str, Rule]:
    """Store an agency and a client workspace with one rule in each state."""
    await storage.workspaces.upsert(team_id="T0AGENCY", name="Acme", agency_id="ag-acme", client_id=None, now=NOW)
    await storage.workspaces.upsert(
        team_id="T0CLIENT", name="Alpha", agency_id="ag-acme", client_id="cl-alpha", now=NOW
    )
    outliers = await storage.rules.create(
        RuleSpec("T0AGENCY", "C0001", NotificationType.OUTLIER_ALERTS, "cl-alpha", Severity.HIGH), now=NOW
    )
    errors = await storage.rules.create(RuleSpec("T0AGENCY", "C0002", NotificationType.SYSTEM_ERRORS), now=NOW)
    await storage.rules.set_state(errors.id, RuleState.PAUSED, reason=None, now=NOW)
    tasks = await storage.rules.create(
        RuleSpec("T0CLIENT", "C0009", NotificationType.TASK_FAILURES, "cl-alpha"), now=NOW
    )
    await storage.rules.mark_failing(tasks.id, reason="not_in_channel", now=NOW)
    return {"outliers": outliers, "errors": errors, "tasks": tasks}


async def export_to(storage: Storage, tmp_path: Path, *teams: str) -> Path:
    code, output = await run(storage, "export", *[arg for team in teams for arg in ("--team", team)])
    assert code == 0
    path = tmp_path / "rules.yaml"
    path.write_text(output, encoding="utf-8")
    return path


def edit(path: Path, change: dict[str, object], *, index: int) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["rules"][index].update(change)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")


# Export.


async def test_export_writes_ids_and_paused(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)

    document = yaml.safe_load((await export_to(storage, tmp_path)).read_text(encoding="utf-8"))
    by_id = {entry["id"]: entry for entry in document["rules"]}

    assert [entry["team_id"] for entry in document["workspaces"]] == ["T0AGENCY", "T0CLIENT"]
    assert set(by_id) == {rule.id for rule in rules.values()}
    assert by_id[rules["errors"].id]["paused"] is True
    assert by_id[rules["outliers"].id]["paused"] is False
    assert by_id[rules["outliers"].id]["min_severity"] == "high"
    assert by_id[rules["tasks"].id]["client_id"] == "cl-alpha"


async def test_export_one_team(storage: Storage, tmp_path: Path) -> None:
    await seed_rules(storage)

    document = yaml.safe_load((await export_to(storage, tmp_path, "T0CLIENT")).read_text(encoding="utf-8"))

    assert [entry["team_id"] for entry in document["workspaces"]] == ["T0CLIENT"]
    assert [entry["team_id"] for entry in document["rules"]] == ["T0CLIENT"]


async def test_export_unknown_team_fails(storage: Storage, capsys) -> None:
    await seed_rules(storage)

    code, output = await run(storage, "export", "--team", "T0NOPE")

    assert code == 1
    assert output == ""
    assert "--team T0NOPE is not a stored workspace" in capsys.readouterr().err


async def test_export_empty_store(storage: Storage) -> None:
    code, output = await run(storage, "export")

    assert code == 0
    assert yaml.safe_load(output) == {"workspaces": [], "rules": []}


# Import.


async def test_round_trip_shows_no_change(storage: Storage, tmp_path: Path) -> None:
    await seed_rules(storage)
    before = await storage.rules.list()
    path = await export_to(storage, tmp_path)

    code, output = await run(storage, "import", str(path), "--dry-run", "--prune")

    assert code == 0
    assert output == f"No changes: the stored rules already match {path}.\n"
    assert await storage.rules.list() == before


async def test_import_without_ids_matches_by_key(storage: Storage, tmp_path: Path) -> None:
    await seed_rules(storage)
    path = await export_to(storage, tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in document["rules"]:
        del entry["id"]
        del entry["paused"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, output = await run(storage, "import", str(path), "--dry-run")

    assert code == 0
    assert output.startswith("No changes")


async def test_import_dry_run_writes_nothing(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path)
    edit(path, {"min_severity": "critical"}, index=0)
    before = await storage.rules.list()

    code, output = await run(storage, "import", str(path), "--dry-run")

    assert code == 0
    assert output.splitlines() == [
        f"~ change rule {rules['outliers'].id}: min_severity high -> critical",
        "Dry run: 0 added, 1 changed, 0 removed; nothing was written.",
    ]
    assert await storage.rules.list() == before
    assert await storage.audit.latest("T0AGENCY") == []


async def test_import_applies_and_audits(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # Drop the paused system-errors rule, raise the outlier severity and add a digest rule.
    document["rules"] = [entry for entry in document["rules"] if entry["id"] != rules["errors"].id]
    document["rules"][0]["min_severity"] = "critical"
    document["rules"].append({"team_id": "T0AGENCY", "channel": "C0003", "type": "daily_digest"})
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, output = await run(storage, "import", str(path), "--prune")
    stored = {rule.channel: rule for rule in await storage.rules.list()}
    audit = await storage.audit.latest("T0AGENCY")

    assert code == 0
    assert output.splitlines() == [
        f"~ change rule {rules['outliers'].id}: min_severity high -> critical",
        "+ add a new rule: daily_digest for all clients to channel C0003 in workspace T0AGENCY",
        f"- remove rule {rules['errors'].id}: system_errors for all clients to channel C0002 in workspace "
        "T0AGENCY, paused",
        "Imported: 1 added, 1 changed, 1 removed.",
    ]
    assert set(stored) == {"C0001", "C0003", "C0009"}
    assert stored["C0001"].min_severity is Severity.CRITICAL
    assert stored["C0003"].state is RuleState.ACTIVE
    assert sorted(entry.action for entry in audit) == ["added", "deleted", "edited"]
    assert {entry.user_id for entry in audit} == {"cli"}
    edited = next(entry for entry in audit if entry.action == "edited")
    assert edited.before is not None
    assert edited.after is not None
    assert edited.before["min_severity"] == "high"
    assert edited.after["min_severity"] == "critical"


async def test_import_keeps_unlisted_without_prune(storage: Storage, tmp_path: Path) -> None:
    await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["rules"] = document["rules"][:1]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, output = await run(storage, "import", str(path))

    assert code == 0
    assert "1 stored rule(s) of these workspaces are not in the file and are kept" in output
    assert len(await storage.rules.list()) == 3


async def test_import_prune_spares_other_workspaces(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")

    code, _ = await run(storage, "import", str(path), "--prune")

    assert code == 0
    assert await storage.rules.get(rules["tasks"].id) is not None


async def test_import_pause_and_resume(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for entry in document["rules"]:
        entry["paused"] = not entry["paused"]
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, _ = await run(storage, "import", str(path))
    outliers = await storage.rules.get(rules["outliers"].id)
    errors = await storage.rules.get(rules["errors"].id)
    tasks = await storage.rules.get(rules["tasks"].id)
    actions = sorted(entry.action for entry in await storage.audit.latest("T0AGENCY"))

    assert code == 0
    assert outliers is not None and outliers.state is RuleState.PAUSED
    assert errors is not None and errors.state is RuleState.ACTIVE
    # The failing rule was exported with paused: false, so flipping it pauses it.
    assert tasks is not None and tasks.state is RuleState.PAUSED
    assert actions == ["paused", "resumed"]


async def test_import_failing_rule_stays_failing(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0CLIENT")

    code, output = await run(storage, "import", str(path))
    tasks = await storage.rules.get(rules["tasks"].id)

    assert code == 0
    assert output.startswith("No changes")
    assert tasks is not None and tasks.state is RuleState.FAILING


IMPORT_ERRORS = [
    ({"team_id": "T0NOPE"}, "rules.1.team_id T0NOPE is not a stored workspace"),
    ({"channel": "general"}, "rules.1.channel"),
    ({"type": "outliers"}, "rules.1.type"),
    ({"min_severity": "high"}, "min_severity is allowed on outlier_alerts rules only"),
    ({"colour": "red"}, "rules.1.colour is not a known key; remove it"),
    ({"client_id": "cl-beta", "team_id": "T0CLIENT"}, "rules.1.client_id cl-beta differs from the client"),
]


async def test_import_error_changes_nothing(storage: Storage, tmp_path: Path, capsys) -> None:
    await seed_rules(storage)
    before = await storage.rules.list()
    for change, message in IMPORT_ERRORS:
        path = await export_to(storage, tmp_path)
        # A valid change comes first in the file, so a partial import would show.
        edit(path, {"min_severity": "critical"}, index=0)
        edit(path, change, index=1)

        code, output = await run(storage, "import", str(path), "--prune")
        error = capsys.readouterr().err

        assert code == 1, change
        assert output == "", change
        assert message in error, (change, error)
        assert await storage.rules.list() == before, change
    assert await storage.audit.latest("T0AGENCY") == []


async def test_import_same_rule_twice_fails(storage: Storage, tmp_path: Path, capsys) -> None:
    await seed_rules(storage)
    path = await export_to(storage, tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    duplicate = dict(document["rules"][0])
    del duplicate["id"]
    document["rules"].append(duplicate)
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert "both match rule" in capsys.readouterr().err


async def test_import_key_of_unlisted_rule_fails(storage: Storage, tmp_path: Path, capsys) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    # The outlier rule is replaced by an entry with a new id but the same channel, type and client.
    document["rules"] = [entry for entry in document["rules"] if entry["id"] != rules["outliers"].id]
    document["rules"].append(
        {"id": "rule_new", "team_id": "T0AGENCY", "channel": "C0001", "type": "outlier_alerts", "client_id": "cl-alpha"}
    )
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, _ = await run(storage, "import", str(path))
    error = capsys.readouterr().err
    code_pruned, output = await run(storage, "import", str(path), "--prune")

    assert code == 1
    assert f"stored rule {rules['outliers'].id}" in error
    assert code_pruned == 0
    assert await storage.rules.get("rule_new") is not None
    assert await storage.rules.get(rules["outliers"].id) is None
    assert "+ add rule rule_new" in output


async def test_import_swapped_keys_fail(storage: Storage, tmp_path: Path, capsys) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    by_id = {entry["id"]: entry for entry in document["rules"]}
    by_id[rules["outliers"].id]["channel"], by_id[rules["errors"].id]["channel"] = "C0002", "C0001"
    by_id[rules["outliers"].id]["type"], by_id[rules["errors"].id]["type"] = "system_errors", "outlier_alerts"
    by_id[rules["outliers"].id]["min_severity"], by_id[rules["errors"].id]["min_severity"] = None, "high"
    by_id[rules["outliers"].id]["client_id"], by_id[rules["errors"].id]["client_id"] = None, "cl-alpha"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert "import the two changes one after the other" in capsys.readouterr().err


async def test_import_workspace_account_mismatch_fails(storage: Storage, tmp_path: Path, capsys) -> None:
    await seed_rules(storage)
    path = await export_to(storage, tmp_path)
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["workspaces"][0]["agency_id"] = "ag-other"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert "workspaces.0.agency_id ag-other differs from the stored ag-acme" in capsys.readouterr().err


async def test_import_missing_file_fails(storage: Storage, tmp_path: Path, capsys) -> None:
    code, _ = await run(storage, "import", str(tmp_path / "nope.yaml"))

    assert code == 1
    assert "Cannot read rules file" in capsys.readouterr().err


async def test_rules_add_and_remove_audited(storage: Storage) -> None:
    await storage.workspaces.upsert(team_id="T0AGENCY", name="Acme", agency_id="ag-acme", client_id=None, now=NOW)

    await run(storage, "add", "--channel", "C0001", "--type", "system_errors")
    [rule] = await storage.rules.list()
    await run(storage, "remove", rule.id)
    audit = await storage.audit.latest("T0AGENCY")

    assert [entry.action for entry in audit] == ["deleted", "added"]
    assert {entry.user_id for entry in audit} == {"cli"}


async def test_import_stops_on_concurrent_delete(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    edit(path, {"min_severity": "critical"}, index=0)
    plan = plan_import(
        load_import_file(path),
        workspaces=await storage.workspaces.list_all(),
        stored=await storage.rules.list(),
        prune=False,
    )
    # Someone deletes the rule in Slack between the plan and its writes.
    await storage.rules.delete(rules["outliers"].id)

    with pytest.raises(RulesFileError) as raised:
        await apply_plan(plan, storage=storage, now=NOW)

    assert str(raised.value) == (
        f"rule {rules['outliers'].id} was changed in the meantime, so the import stopped after 0 of 1 changes: "
        "run it again to finish."
    )


async def hold_delivery(storage: Storage, rule: Rule) -> None:
    """Store one delivery for `rule` and hold it, as delivery does while the rule's channel fails."""
    await storage.deliveries.create_for_event("evt-held", [rule], now=NOW)
    delivery = await storage.deliveries.claim_next(owner="test", now=NOW, lease=timedelta(seconds=60))
    assert delivery is not None
    assert await storage.deliveries.hold(delivery, reason="not_in_channel", now=NOW)


async def test_import_moving_failing_rule_releases_it(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    await hold_delivery(storage, rules["tasks"])
    path = await export_to(storage, tmp_path, "T0CLIENT")
    edit(path, {"channel": "C0NEW"}, index=0)

    code, output = await run(storage, "import", str(path))
    tasks = await storage.rules.get(rules["tasks"].id)
    # The import stamps the released delivery with the real time, so claim it as of an hour from now.
    later = datetime.now(UTC) + timedelta(hours=1)
    released = await storage.deliveries.claim_next(owner="test", now=later, lease=timedelta(seconds=60))

    assert code == 0
    assert "channel C0009 -> C0NEW, state failing -> active" in output
    assert tasks is not None and tasks.state is RuleState.ACTIVE
    assert tasks.failure_reason is None
    assert await storage.deliveries.count_held(rules["tasks"].id) == 0
    assert released is not None and released.channel == "C0NEW"


async def test_import_same_channel_failing_keeps_held(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    await hold_delivery(storage, rules["tasks"])
    path = await export_to(storage, tmp_path, "T0CLIENT")

    code, _ = await run(storage, "import", str(path))

    assert code == 0
    assert await storage.deliveries.count_held(rules["tasks"].id) == 1


async def configure_burst_and_digest(storage: Storage, rules: dict[str, Rule]) -> None:
    await storage.rules.set_burst_policy(rules["outliers"].id, window_seconds=300, threshold=5, now=NOW)
    await storage.workspaces.set_digest("T0AGENCY", DigestSettings(True, "08:30", "Europe/Berlin"), now=NOW)


async def test_export_writes_burst_and_digest(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    await configure_burst_and_digest(storage, rules)

    document = yaml.safe_load((await export_to(storage, tmp_path)).read_text(encoding="utf-8"))
    by_id = {entry["id"]: entry for entry in document["rules"]}
    by_team = {entry["team_id"]: entry for entry in document["workspaces"]}

    assert by_id[rules["outliers"].id]["burst_threshold"] == 5
    assert by_id[rules["outliers"].id]["burst_window_seconds"] == 300
    assert by_team["T0AGENCY"]["digest"] == {"enabled": True, "send_time": "08:30", "timezone": "Europe/Berlin"}
    # A digest nobody configured is left out, so importing the export does not mark it configured.
    assert "digest" not in by_team["T0CLIENT"]


async def test_round_trip_with_burst_and_digest(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    await configure_burst_and_digest(storage, rules)
    path = await export_to(storage, tmp_path)

    code, output = await run(storage, "import", str(path), "--dry-run", "--prune")

    assert code == 0
    assert output == f"No changes: the stored rules already match {path}.\n"


async def test_import_applies_burst_change(storage: Storage, tmp_path: Path) -> None:
    rules = await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    edit(path, {"burst_threshold": 10, "burst_window_seconds": 900}, index=0)

    code, output = await run(storage, "import", str(path))
    outliers = await storage.rules.get(rules["outliers"].id)

    assert code == 0
    assert "burst_threshold 1 -> 10, burst_window_seconds 60 -> 900" in output
    assert outliers is not None
    assert (outliers.burst_threshold, outliers.burst_window_seconds) == (10, 900)


async def test_import_applies_workspace_name_and_digest(storage: Storage, tmp_path: Path) -> None:
    await seed_rules(storage)
    path = await export_to(storage, tmp_path, "T0AGENCY")
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["workspaces"][0]["name"] = "Acme Marketing"
    document["workspaces"][0]["digest"] = {"enabled": True, "send_time": "07:00", "timezone": "UTC"}
    path.write_text(yaml.safe_dump(document), encoding="utf-8")

    dry_code, dry_output = await run(storage, "import", str(path), "--dry-run")
    code, _ = await run(storage, "import", str(path))
    workspace = await storage.workspaces.get("T0AGENCY")

    assert dry_code == 0
    assert "~ change workspace T0AGENCY: name Acme -> Acme Marketing, digest.enabled unset -> true" in dry_output
    assert "1 workspace(s) changed" in dry_output
    assert code == 0
    assert workspace is not None
    assert workspace.name == "Acme Marketing"
    assert workspace.digest == DigestSettings(True, "07:00", "UTC")


async def test_import_burst_on_notes_fails(storage: Storage, tmp_path: Path, capsys) -> None:
    await seed_rules(storage)
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n  - {team_id: T0AGENCY, channel: C0005, type: note_created, burst_threshold: 3}\n", encoding="utf-8"
    )

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert "burst_threshold and burst_window_seconds are allowed on outlier_alerts" in capsys.readouterr().err


async def test_import_reads_standard_input(storage: Storage, tmp_path: Path, monkeypatch) -> None:
    await seed_rules(storage)
    text = (await export_to(storage, tmp_path)).read_text(encoding="utf-8")
    monkeypatch.setattr("sys.stdin", io.StringIO(text))

    code, output = await run(storage, "import", "-", "--dry-run")

    assert code == 0
    assert output == "No changes: the stored rules already match standard input.\n"


async def test_import_bad_yaml_names_rules_file(storage: Storage, tmp_path: Path, capsys) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules: [\n", encoding="utf-8")

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert f"Rules file {path} is not valid YAML" in capsys.readouterr().err


async def test_import_channel_name_fails_clearly(storage: Storage, tmp_path: Path, capsys) -> None:
    await seed_rules(storage)
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {team_id: T0AGENCY, channel: general, type: system_errors}\n", encoding="utf-8")

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert "rules.0.channel general is not a channel id: use an id such as C0123ABCD." in capsys.readouterr().err


async def test_import_unknown_team_message(storage: Storage, tmp_path: Path, capsys) -> None:
    await seed_rules(storage)
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {team_id: T0NOPE, channel: C0001, type: system_errors}\n", encoding="utf-8")

    code, _ = await run(storage, "import", str(path))

    assert code == 1
    assert "rules.0.team_id T0NOPE is not a stored workspace (stored: T0AGENCY, T0CLIENT)." in capsys.readouterr().err
