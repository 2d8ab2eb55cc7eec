"""`missioncontrol deliveries list|retry` against the real repositories on the test store."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.cli import EXIT_USAGE, build_parser, main
from bot.deliveries_cli import run_deliveries_command
from bot.settings import Settings, load_settings
from storage.events import NewEvent
from storage.models import DeliveryState, NotificationType, Rule
from storage.rules import RuleSpec
from storage.store import Storage
from tests.conftest import EVENTS_SECRET, load_example

SETTINGS = load_settings({"MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET})
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def run(storage: Storage, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    args = build_parser().parse_args(["deliveries", *argv])
    code = await run_deliveries_command(SETTINGS, args, storage=storage, stdout=out)
    return code, out.getvalue()


async def ended_delivery(storage: Storage, rule: Rule, event_id: str, state: DeliveryState) -> str:
    await storage.deliveries.create_for_event(event_id, [rule], now=NOW)
    claimed = await storage.deliveries.claim_next(owner="test", now=NOW, lease=timedelta(seconds=60))
    assert claimed is not None
    await storage.deliveries.finish(claimed, state=state, error=f"Slack rejected the message ({event_id})", now=NOW)
    return claimed.id


@pytest.fixture
async def rule(storage: Storage) -> Rule:
    return await storage.rules.create(RuleSpec("T0001", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)


def test_deliveries_without_mongodb_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    code = main(["deliveries", "list", "--failed"])
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "MONGODB_URI" in captured.err
    assert captured.err.count("\n") == 1


def test_retry_needs_id_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["deliveries", "retry"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["deliveries", "retry", "abc", "--all"])
    assert "ID" in capsys.readouterr().err


async def test_list_failed_shows_reason(storage: Storage, rule: Rule) -> None:
    dead = await ended_delivery(storage, rule, "evt-1", DeliveryState.DEAD)
    await storage.deliveries.create_for_event("evt-2", [rule], now=NOW)

    code, output = await run(storage, "list", "--failed")
    assert code == 0
    assert dead in output
    assert "(evt-1)" in output
    assert "evt-2" not in output

    code, output = await run(storage, "list")
    assert "evt-2" in output
    assert "pending" in output


async def test_list_failed_empty(storage: Storage) -> None:
    code, output = await run(storage, "list", "--failed")
    assert code == 0
    assert output.startswith("No failed deliveries")


async def test_retry_one_requeues_and_audits(storage: Storage, rule: Rule) -> None:
    dead = await ended_delivery(storage, rule, "evt-3", DeliveryState.DEAD)

    code, output = await run(storage, "retry", dead)
    assert code == 0
    assert f"Queued delivery {dead}" in output
    stored = await storage.deliveries.get(dead)
    assert stored is not None
    assert stored.state is DeliveryState.PENDING
    assert stored.attempts == 0
    [entry] = await storage.audit.latest("T0001")
    assert entry.action == "retried a message"
    assert entry.user_id == "command line"


async def test_retry_sent_delivery_fails(storage: Storage, rule: Rule, capsys: pytest.CaptureFixture[str]) -> None:
    sent = await ended_delivery(storage, rule, "evt-4", DeliveryState.SENT)
    code, _ = await run(storage, "retry", sent)
    assert code == 1
    assert "is sent, not failed or dead" in capsys.readouterr().err
    code, _ = await run(storage, "retry", "no-such-delivery")
    assert code == 1
    assert "was not found" in capsys.readouterr().err


async def test_retry_all_by_team(storage: Storage, rule: Rule) -> None:
    other = await storage.rules.create(RuleSpec("T0002", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    await ended_delivery(storage, rule, "evt-5", DeliveryState.FAILED)
    await ended_delivery(storage, rule, "evt-6", DeliveryState.DEAD)
    await ended_delivery(storage, other, "evt-7", DeliveryState.DEAD)

    code, output = await run(storage, "retry", "--all", "--team", "T0001")
    assert code == 0
    assert "Queued 2 deliveries" in output
    assert await storage.deliveries.count_unsent(team_id="T0001") == 0
    assert await storage.deliveries.count_unsent(team_id="T0002") == 1

    code, output = await run(storage, "retry", "--all")
    assert "Queued 1 delivery again" in output
    code, output = await run(storage, "retry", "--all")
    assert output == "No failed deliveries to retry.\n"


async def test_list_sizes_columns_and_names_the_alert(storage: Storage, rule: Rule) -> None:
    event_id = "evt_01M8PCT1V0M9S346Q3D25VT4F5"
    body = load_example("system_error.json") | {"id": event_id}
    new = NewEvent(event_id, body["type"], body["agency_id"], body["client_id"], NOW, body)
    await storage.events.insert_batch([new], now=NOW)
    dead = await ended_delivery(storage, rule, event_id, DeliveryState.DEAD)
    assert len(dead) > 40

    code, output = await run(storage, "list", "--failed")

    assert code == 0
    header, row, subject, *_ = output.splitlines()
    # The id is whole and the columns after it line up with their headers.
    assert row.startswith(dead + " ")
    assert row.index("T0001") == header.index("TEAM")
    assert row.index("C0OPS") == header.index("CHANNEL")
    assert "Rejected by Slack" in row
    assert subject == f"  system.error · reporting-api ValueError (event {event_id})"


async def test_list_row_without_stored_event(storage: Storage, rule: Rule) -> None:
    await ended_delivery(storage, rule, "evt-gone", DeliveryState.DEAD)
    _, output = await run(storage, "list", "--failed")
    assert "  The event is no longer stored (event evt-gone)" in output.splitlines()


async def test_retry_one_with_other_team_is_refused(
    storage: Storage, rule: Rule, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = await ended_delivery(storage, rule, "evt-8", DeliveryState.DEAD)

    code, _ = await run(storage, "retry", dead, "--team", "T9")
    assert code == 1
    err = capsys.readouterr().err
    assert "belongs to team T0001, not --team T9" in err
    stored = await storage.deliveries.get(dead)
    assert stored is not None
    assert stored.state is DeliveryState.DEAD

    code, output = await run(storage, "retry", dead, "--team", "T0001")
    assert code == 0
    assert f"Queued delivery {dead}" in output


def test_without_mongodb_does_not_point_local_mode_at_app_home(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    assert main(["deliveries", "retry", "--all"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "or use the Undelivered messages list in App Home" not in err
    assert "local mode prints every message and has no App Home" in err
