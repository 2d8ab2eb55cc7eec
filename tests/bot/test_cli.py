"""The `missioncontrol` command line: `rules`, `send-event` and `schema`, run against real components."""

from __future__ import annotations

import argparse
import io
import json
import socket
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot.cli import EXIT_USAGE, build_parser, main
from bot.rules_cli import run_rules_command
from bot.send_event import MAX_EVENT_ID_LENGTH, read_body, send_event_file, with_new_ids
from bot.settings import Settings, load_settings
from storage.events_schema import Severity
from storage.models import NotificationType, RuleState
from storage.rules import RuleSpec
from storage.store import Storage
from tests.conftest import EVENTS_SECRET, EXAMPLES, BotFactory, RunningBot, load_example

SETTINGS = load_settings({"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET})
OUTLIER_FILE = str(EXAMPLES / "events" / "outlier_detected.json")
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Remove every variable the settings read, so the command runs in local mode without MONGODB_URI."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# The entry point, `main`.


def test_rules_without_mongodb_exits_2(
    clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rules", "list"])
    captured = capsys.readouterr()

    assert code == EXIT_USAGE
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert "MONGODB_URI" in captured.err
    assert "serve --seed" in captured.err


def test_main_bad_setting_exits_2(clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    clean_environment.setenv("PORT", "abc")

    code = main(["rules", "list"])
    captured = capsys.readouterr()

    assert code == EXIT_USAGE
    assert "PORT" in captured.err


def test_schema_prints_one_of(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schema"])
    schema = json.loads(capsys.readouterr().out)

    assert code == 0
    assert len(schema["oneOf"]) == 2
    assert "$defs" in schema


def test_schema_writes_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "schema.json"

    code = main(["schema", "--output", str(output)])

    assert code == 0
    assert "oneOf" in json.loads(output.read_text(encoding="utf-8"))
    assert capsys.readouterr().out == ""


def test_unknown_rule_type_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["rules", "add", "--channel", "C0001", "--type", "outliers"])

    assert raised.value.code == 2
    assert "outlier_alerts" in capsys.readouterr().err


# `rules add`, `rules list` and `rules remove` on the in-memory store.


def parse_rules(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["rules", *argv])


async def run_rules(storage: Storage, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_rules_command(SETTINGS, parse_rules(*argv), storage=storage, stdout=out)
    return code, out.getvalue()


async def add_workspace(storage: Storage, team_id: str = "T0001", client_id: str | None = None) -> None:
    await storage.workspaces.upsert(
        team_id=team_id, name=f"Workspace {team_id}", agency_id="ag-acme", client_id=client_id, now=NOW
    )


async def test_rules_add_single_workspace(storage: Storage) -> None:
    await add_workspace(storage)

    code, output = await run_rules(storage, "add", "--channel", "C0001", "--type", "system_errors")
    [rule] = await storage.rules.list()

    assert code == 0
    assert output.startswith(f"Added rule {rule.id}:")
    assert rule.team_id == "T0001"
    assert rule.type is NotificationType.SYSTEM_ERRORS
    assert rule.client_id is None


async def test_rules_add_min_severity(storage: Storage) -> None:
    await add_workspace(storage)

    code, output = await run_rules(
        storage, "add", "--channel", "C0001", "--type", "outlier_alerts", "--min-severity", "high", "--client", "cl-a"
    )
    [rule] = await storage.rules.list()

    assert code == 0
    assert rule.min_severity is Severity.HIGH
    assert rule.client_id == "cl-a"
    assert "high and above" in output


async def test_rules_add_chosen_team(storage: Storage) -> None:
    await add_workspace(storage, "T0001")
    await add_workspace(storage, "T0002")

    code, _ = await run_rules(storage, "add", "--channel", "C0001", "--type", "task_failures", "--team", "T0002")
    [rule] = await storage.rules.list()

    assert code == 0
    assert rule.team_id == "T0002"


async def test_rules_add_client_workspace_scoped(storage: Storage) -> None:
    await add_workspace(storage, client_id="cl-alpha")

    code, _ = await run_rules(storage, "add", "--channel", "C0001", "--type", "note_created")
    [rule] = await storage.rules.list()

    assert code == 0
    assert rule.client_id == "cl-alpha"


ADD_ERRORS = [
    pytest.param(
        [("T0001", None)],
        ["--channel", "C0001", "--type", "system_errors", "--min-severity", "high"],
        "--min-severity",
        id="min-severity-on-system-errors",
    ),
    pytest.param([("T0001", None)], ["--channel", "general", "--type", "system_errors"], "--channel", id="name"),
    pytest.param([("T0001", None)], ["--channel", "#alerts", "--type", "system_errors"], "--channel", id="hash"),
    pytest.param([("T0001", None)], ["--channel", "U0001", "--type", "system_errors"], "--channel", id="user-id"),
    pytest.param([("T0001", None)], ["--channel", "C00-01", "--type", "system_errors"], "--channel", id="dash"),
    pytest.param(
        [("T0001", None)],
        ["--channel", "C0001", "--type", "system_errors", "--team", "T0404"],
        "--team T0404",
        id="unknown-team",
    ),
    pytest.param(
        [("T0001", None), ("T0002", None)],
        ["--channel", "C0001", "--type", "system_errors"],
        "--team",
        id="several-workspaces-no-team",
    ),
    pytest.param(
        [("T0001", "cl-alpha")],
        ["--channel", "C0001", "--type", "system_errors", "--client", "cl-bravo"],
        "--client",
        id="client-workspace-other-client",
    ),
    pytest.param([], ["--channel", "C0001", "--type", "system_errors"], "no workspace", id="no-workspaces"),
]


@pytest.mark.parametrize(("workspaces", "argv", "named"), ADD_ERRORS)
async def test_rules_add_error(
    storage: Storage,
    capsys: pytest.CaptureFixture[str],
    workspaces: list[tuple[str, str | None]],
    argv: list[str],
    named: str,
) -> None:
    for team_id, client_id in workspaces:
        await add_workspace(storage, team_id, client_id)

    code, output = await run_rules(storage, "add", *argv)
    errors = capsys.readouterr().err

    assert code == 1
    assert output == ""
    assert errors.startswith("missioncontrol: ")
    assert named in errors
    assert await storage.rules.list() == []


@pytest.mark.parametrize("channel", ["C", "Calerts"], ids=["prefix-only", "lower-case"])
async def test_rules_add_loose_channel_rejected(storage: Storage, channel: str) -> None:
    await add_workspace(storage)

    code, _ = await run_rules(storage, "add", "--channel", channel, "--type", "system_errors")

    assert code == 1


async def test_rules_add_same_twice(storage: Storage, capsys: pytest.CaptureFixture[str]) -> None:
    await add_workspace(storage)
    await run_rules(storage, "add", "--channel", "C0001", "--type", "system_errors")
    [rule] = await storage.rules.list()

    code, _ = await run_rules(storage, "add", "--channel", "C0001", "--type", "system_errors")

    assert code == 1
    assert f"rule {rule.id} already routes this" in capsys.readouterr().err
    assert len(await storage.rules.list()) == 1


async def test_rules_add_changes_severity(storage: Storage) -> None:
    await add_workspace(storage)
    await run_rules(storage, "add", "--channel", "C0001", "--type", "outlier_alerts", "--min-severity", "low")

    code, output = await run_rules(
        storage, "add", "--channel", "C0001", "--type", "outlier_alerts", "--min-severity", "critical"
    )
    [rule] = await storage.rules.list()

    assert code == 0
    assert output.startswith(f"Updated rule {rule.id}")
    assert rule.min_severity is Severity.CRITICAL


async def test_rules_add_reactivates_failing(storage: Storage) -> None:
    await add_workspace(storage)
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.SYSTEM_ERRORS), now=NOW)
    await storage.rules.mark_failing(rule.id, reason="not_in_channel", now=NOW)

    code, output = await run_rules(storage, "add", "--channel", "C0001", "--type", "system_errors")
    stored = await storage.rules.get(rule.id)

    assert code == 0
    assert "was failing" in output
    assert stored is not None
    assert stored.state is RuleState.ACTIVE


async def test_rules_list_empty(storage: Storage) -> None:
    code, output = await run_rules(storage, "list")

    assert code == 0
    assert output.startswith("No rules yet.")


async def test_rules_list_table(storage: Storage) -> None:
    await add_workspace(storage)
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.DAILY_DIGEST), now=NOW)

    code, output = await run_rules(storage, "list")
    header, row = output.splitlines()

    assert code == 0
    assert header.split() == ["ID", "TEAM", "CHANNEL", "TYPE", "CLIENT", "MIN", "STATE"]
    assert row.split() == [rule.id, "T0001", "C0001", "daily_digest", "all", "clients", "-", "active"]


async def test_rules_list_shows_failure(storage: Storage) -> None:
    await add_workspace(storage)
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.SYSTEM_ERRORS), now=NOW)
    await storage.rules.mark_failing(rule.id, reason="The bot is not a member of channel C0001.", now=NOW)

    _, output = await run_rules(storage, "list")

    assert "failing: The bot is not a member of channel C0001." in output


async def test_rules_list_shows_channel_mention_plainly(storage: Storage) -> None:
    await add_workspace(storage)
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.SYSTEM_ERRORS), now=NOW)
    await storage.rules.mark_failing(rule.id, reason="<#C0001> is archived: unarchive it.", now=NOW)

    _, output = await run_rules(storage, "list")

    assert "failing: #C0001 is archived: unarchive it." in output


async def test_rules_list_json(storage: Storage) -> None:
    await add_workspace(storage)
    spec = RuleSpec("T0001", "C0001", NotificationType.OUTLIER_ALERTS, "cl-alpha", Severity.MEDIUM)
    rule = await storage.rules.create(spec, now=NOW)

    code, output = await run_rules(storage, "list", "--json")

    assert code == 0
    assert json.loads(output) == [
        {
            "id": rule.id,
            "team_id": "T0001",
            "channel": "C0001",
            "type": "outlier_alerts",
            "client_id": "cl-alpha",
            "min_severity": "medium",
            "state": "active",
            "failure_reason": None,
        }
    ]


async def test_rules_list_json_empty(storage: Storage) -> None:
    _, output = await run_rules(storage, "list", "--json")

    assert json.loads(output) == []


async def test_rules_remove(storage: Storage) -> None:
    await add_workspace(storage)
    rule = await storage.rules.create(RuleSpec("T0001", "C0001", NotificationType.NOTE_UPDATED), now=NOW)

    code, output = await run_rules(storage, "remove", rule.id)

    assert code == 0
    assert output == f"Removed rule {rule.id}.\n"
    assert await storage.rules.get(rule.id) is None


async def test_rules_remove_unknown(storage: Storage, capsys: pytest.CaptureFixture[str]) -> None:
    code, output = await run_rules(storage, "remove", "rule_missing")
    errors = capsys.readouterr().err

    assert code == 1
    assert output == ""
    assert "rule rule_missing was not found" in errors
    assert "rules list" in errors


async def test_rules_command_needs_mongodb(capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_rules_command(SETTINGS, parse_rules("list"), stdout=io.StringIO())

    assert code == 2
    assert "MONGODB_URI" in capsys.readouterr().err


# `send-event` against a local-mode bot on 127.0.0.1.


def endpoint(bot: RunningBot) -> str:
    return str(bot.http.make_url("/platform/events"))


def status_and_body(output: str) -> tuple[str, Any]:
    status, _, text = output.partition("\n")
    return status, json.loads(text)


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on: bound once, then closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        return int(listener.getsockname()[1])


async def test_send_event_new_id_twice(start_bot: BotFactory) -> None:
    bot = await start_bot()
    outputs = []

    for _ in range(2):
        out = io.StringIO()
        code = await send_event_file(SETTINGS, OUTLIER_FILE, url=endpoint(bot), new_id=True, stdout=out)
        assert code == 0
        outputs.append(out.getvalue())

    assert [status_and_body(output) for output in outputs] == [("202", {"accepted": 1, "duplicates": 0})] * 2


async def test_send_event_again_is_duplicate(start_bot: BotFactory) -> None:
    bot = await start_bot()
    await send_event_file(SETTINGS, OUTLIER_FILE, url=endpoint(bot), new_id=False, stdout=io.StringIO())
    out = io.StringIO()

    code = await send_event_file(SETTINGS, OUTLIER_FILE, url=endpoint(bot), new_id=False, stdout=out)

    assert code == 0
    assert status_and_body(out.getvalue()) == ("202", {"accepted": 0, "duplicates": 1})


async def test_send_event_keeps_file_id(start_bot: BotFactory) -> None:
    bot = await start_bot()

    await send_event_file(SETTINGS, OUTLIER_FILE, url=endpoint(bot), new_id=False, stdout=io.StringIO())

    assert await bot.runtime.storage.events.find(load_example("outlier_detected.json")["id"]) is not None


async def test_send_event_batch_file(start_bot: BotFactory) -> None:
    bot = await start_bot()
    out = io.StringIO()

    code = await send_event_file(
        SETTINGS, str(EXAMPLES / "events" / "batch.json"), url=endpoint(bot), new_id=True, stdout=out
    )

    assert code == 0
    assert status_and_body(out.getvalue()) == ("202", {"accepted": 5, "duplicates": 0})


async def test_send_event_400_returns_1(start_bot: BotFactory, tmp_path: Path) -> None:
    bot = await start_bot()
    event = load_example("outlier_detected.json")
    del event["data"]["severity"]
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    out = io.StringIO()

    code = await send_event_file(SETTINGS, str(path), url=endpoint(bot), new_id=False, stdout=out)
    status, body = status_and_body(out.getvalue())

    assert code == 1
    assert status == "400"
    assert body["details"][0]["path"] == "data.severity"


async def test_send_event_wrong_secret_returns_1(start_bot: BotFactory) -> None:
    bot = await start_bot()
    settings = load_settings({"MISSIONCONTROL_EVENTS_SECRET": "not-the-bot-secret"})
    out = io.StringIO()

    code = await send_event_file(settings, OUTLIER_FILE, url=endpoint(bot), new_id=True, stdout=out)

    assert code == 1
    assert out.getvalue().startswith("401\n")


async def test_send_event_default_url_uses_port(start_bot: BotFactory) -> None:
    bot = await start_bot()
    settings = load_settings({"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET, "PORT": str(bot.http.port)})
    out = io.StringIO()

    code = await send_event_file(settings, OUTLIER_FILE, url=None, new_id=True, stdout=out)

    assert code == 0
    assert out.getvalue().startswith("202\n")


async def test_send_event_reads_stdin(start_bot: BotFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = await start_bot()
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(load_example("task_failed.json"))))
    out = io.StringIO()

    code = await send_event_file(SETTINGS, "-", url=endpoint(bot), new_id=True, stdout=out)

    assert code == 0
    assert status_and_body(out.getvalue()) == ("202", {"accepted": 1, "duplicates": 0})


async def test_send_event_connection_refused(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/platform/events"
    out = io.StringIO()

    code = await send_event_file(SETTINGS, OUTLIER_FILE, url=url, new_id=False, stdout=out)
    errors = capsys.readouterr().err

    assert code == 1
    assert out.getvalue() == ""
    assert url in errors
    assert "missioncontrol serve" in errors


async def test_send_event_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.json"

    code = await send_event_file(SETTINGS, str(path), url="http://127.0.0.1:9/", new_id=False, stdout=io.StringIO())

    assert code == 2
    assert f"cannot read {path}" in capsys.readouterr().err


async def test_send_event_new_id_needs_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"id": ', encoding="utf-8")

    code = await send_event_file(SETTINGS, str(path), url="http://127.0.0.1:9/", new_id=True, stdout=io.StringIO())

    assert code == 2
    assert "--new-id and --now need valid JSON" in capsys.readouterr().err


def test_new_ids_keep_prefix() -> None:
    event = with_new_ids({"id": "evt-1", "type": "note.deleted"})

    assert event["id"].startswith("evt-1-")
    assert event["id"] != "evt-1-"


def test_new_ids_fit_max_length() -> None:
    long_id = "e" * MAX_EVENT_ID_LENGTH

    event = with_new_ids({"id": long_id})

    assert len(event["id"]) == MAX_EVENT_ID_LENGTH
    assert event["id"] != long_id


def test_new_ids_each_batch_event() -> None:
    batch = with_new_ids({"events": [{"id": "evt-a"}, {"id": "evt-a"}, {"type": "note.deleted"}]})
    ids = [event["id"] for event in batch["events"]]

    assert len(set(ids)) == 3
    assert ids[2].startswith("evt-")


def test_read_body_now_sets_current_time(tmp_path: Path) -> None:
    path = tmp_path / "batch.json"
    path.write_text(json.dumps({"events": [{"id": "a", "occurred_at": "2020-01-01T00:00:00Z"}]}), encoding="utf-8")
    body = json.loads(read_body(str(path), new_id=False, now=True))
    [event] = body["events"]
    assert event["id"] == "a"
    assert event["occurred_at"] > "2026-01-01"


def test_help_lists_rules_export_and_import() -> None:
    from bot.cli import build_parser

    text = " ".join(build_parser().format_help().split())

    assert "list, add, remove, export and import notification rules" in text
