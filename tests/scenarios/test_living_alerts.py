"""Alerts that live as one message, against the emulator: repeats and resolutions edit and thread, floods gather."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.models import DeliveryState
from tests.conftest import BotFactory, FakeClock, RunningBot, load_example, signed, single_workspace_env
from tests.slack_emulator import PostedMessage, SlackEmulator
from tests.slack_requests import SlackClient

SEED = """
rules:
  - {channel: C0ALERTS, type: outlier_alerts, min_severity: medium}
  - {channel: C0ALPHA, type: outlier_alerts, client_id: cl-alpha}
  - {channel: C0OPS, type: task_failures}
  - {channel: C0OPS, type: system_errors}
  - {channel: C0NOTES, type: note_created}
  - {channel: C0NOTES, type: note_updated}
"""

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(SEED, encoding="utf-8")
    return path


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(START)


async def send(bot: RunningBot, clock: FakeClock, *events: dict[str, Any]) -> None:
    """POST events signed at the fake clock's time, then wait until every delivery has ended."""
    body = json.dumps({"events": list(events)} if len(events) > 1 else events[0]).encode()
    response = await bot.http.post("/platform/events", data=body, headers=signed(body, now=clock.now().timestamp()))
    assert response.status == 202, await response.text()
    await bot.settle()


async def flush(bot: RunningBot) -> None:
    await bot.runtime.delivery.alerts.flush_due()


def detection(number: int, *, observed: float, at: datetime) -> dict[str, Any]:
    event = load_example("outlier_detected.json")
    return {
        **event,
        "id": f"evt_detect_{number}",
        "occurred_at": at.isoformat(),
        "data": {**event["data"], "observed": observed},
    }


def resolution(at: datetime) -> dict[str, Any]:
    return {**load_example("outlier_resolved.json"), "id": "evt_resolve", "occurred_at": at.isoformat()}


def task_failure(number: int, *, at: datetime, client_id: str = "cl-bravo", state: str = "failed") -> dict[str, Any]:
    event = load_example("task_failed.json")
    data = {**event["data"], "task_id": f"tsk_{number:04d}", "task_name": f"Import {number:04d}", "state": state}
    return {
        **event,
        "id": f"evt_task_{number:04d}",
        "occurred_at": at.isoformat(),
        "client_id": client_id,
        "data": data,
    }


def block_text(message: PostedMessage) -> str:
    return json.dumps(message.blocks)


async def test_detection_repeats_resolve_one_message_across_restart(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    env = single_workspace_env(emulator)
    bot = await start_bot(env, seed=seed_file, clock=fake_clock)
    await send(bot, fake_clock, detection(0, observed=84.2, at=fake_clock.now()))
    for number in (1, 2):
        fake_clock.advance(minutes=10)
        await send(bot, fake_clock, detection(number, observed=84.2 + number, at=fake_clock.now()))
        await flush(bot)

    # A new process on the same database finds the messages through the ledger.
    await bot.http.close()
    await bot.runtime.stop(delivery_timeout=1.0)
    bot = await start_bot(env, clock=fake_clock)

    fake_clock.advance(minutes=10)
    await send(bot, fake_clock, detection(3, observed=90.0, at=fake_clock.now()))
    await flush(bot)
    fake_clock.advance(minutes=30)
    await send(bot, fake_clock, resolution(fake_clock.now()))
    await flush(bot)

    for channel in ("C0ALERTS", "C0ALPHA"):
        top = emulator.top_level_messages(channel)
        assert len(top) == 1, f"{channel}: {[message.text for message in top]}"
        message = top[0]
        assert message.update_count == 4
        assert message.text.startswith("Resolved: ")
        assert "Resolved" in block_text(message)
        assert "4 occurrences" in block_text(message)
        # The resolution reported observed 33.8: the resolved message shows it, not the last detection's 90.
        assert "33.80" in message.text
        assert "90.00" not in block_text(message)
        replies = emulator.thread_replies(channel, message.ts)
        assert len(replies) == 4
        assert [reply.text.split(" ")[0] for reply in replies[:3]] == ["Seen", "Seen", "Seen"]
        assert "Resolved" in replies[3].text
        assert "after 1 h" in replies[3].text
    top_level_posts = [call for call in emulator.calls_to("chat.postMessage") if "thread_ts" not in call.params]
    assert len(top_level_posts) == 2
    assert emulator.limit_violations == []


async def test_resolution_without_message_posts_nothing(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    await send(bot, fake_clock, resolution(fake_clock.now()))
    await flush(bot)
    assert emulator.posted_messages() == []
    assert emulator.calls_to("chat.update") == []


async def test_repeats_faster_than_pace_fold_into_one_reply(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    await send(bot, fake_clock, detection(0, observed=80.0, at=fake_clock.now()))
    fake_clock.advance(seconds=5)
    # The first repeat is sent at once; the next four arrive within the same second and wait for the pace.
    await send(bot, fake_clock, detection(1, observed=81.0, at=fake_clock.now()))
    for number in range(2, 6):
        fake_clock.advance(seconds=0.1)
        await send(bot, fake_clock, detection(number, observed=80.0 + number, at=fake_clock.now()))
    await flush(bot)
    message = emulator.top_level_messages("C0ALPHA")[0]
    assert len(emulator.thread_replies("C0ALPHA", message.ts)) == 1
    # The first repeat used an edit and a reply, so the next edit waits two seconds.
    fake_clock.advance(seconds=1)
    await flush(bot)
    assert len(emulator.thread_replies("C0ALPHA", message.ts)) == 1
    fake_clock.advance(seconds=1)
    await flush(bot)
    replies = emulator.thread_replies("C0ALPHA", message.ts)
    assert len(replies) == 2
    assert "4 more times" in replies[1].text
    assert "occurrence 6" in replies[1].text
    assert "6 occurrences" in block_text(message)


async def test_task_recovery_resolves_failure(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    await send(bot, fake_clock, task_failure(1, at=fake_clock.now()))
    fake_clock.advance(minutes=5)
    recovered = {
        **load_example("task_recovered.json"),
        "id": "evt_recovered",
        "client_id": "cl-bravo",
        "occurred_at": fake_clock.now().isoformat(),
        "data": {"task_id": "tsk_0001"},
    }
    await send(bot, fake_clock, recovered)
    await flush(bot)
    [message] = emulator.top_level_messages("C0OPS")
    assert message.text.startswith("Resolved: ")
    [reply] = emulator.thread_replies("C0OPS", message.ts)
    assert "after 5 min" in reply.text
    assert ":white_check_mark: Recovered" in block_text(message)
    assert ":warning: Failed" not in block_text(message)
    assert "may retry" not in block_text(message)


async def test_times_shown_are_when_events_occurred(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    # Both events happened hours before they arrived, together (a platform catching up).
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    detected_at, resolved_at = START - timedelta(hours=4), START - timedelta(hours=1, minutes=30)
    await send(bot, fake_clock, detection(0, observed=84.2, at=detected_at))
    fake_clock.advance(seconds=3)
    await send(bot, fake_clock, resolution(resolved_at))
    await flush(bot)

    message = emulator.top_level_messages("C0ALPHA")[0]
    [reply] = emulator.thread_replies("C0ALPHA", message.ts)
    assert "after 2 h 30 min" in reply.text
    assert f"<!date^{int(resolved_at.timestamp())}^" in reply.text
    assert "after 2 h 30 min" in block_text(message)
    assert f"<!date^{int(detected_at.timestamp())}^" in block_text(message)
    assert f"<!date^{int(fake_clock.now().timestamp())}^" not in block_text(message)


async def test_default_burst_summary_reads_well(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    await bot.runtime.storage.clients.apply_update(
        agency_id="ag-acme", client_id="cl-bravo", data={"name": "Bravo Foods"}, occurred_at=START
    )
    first_at = datetime(2026, 12, 1, 8, 49, tzinfo=UTC)
    await send(bot, fake_clock, task_failure(1, at=first_at))
    fake_clock.advance(seconds=10)
    await send(bot, fake_clock, task_failure(2, at=first_at + timedelta(minutes=2)))
    await flush(bot)

    _first, summary = emulator.top_level_messages("C0OPS")
    header = summary.blocks[0]["text"]["text"]  # type: ignore[index]
    assert header == ":rotating_light: 2 task failures for Bravo Foods, 08:49–08:51 UTC"
    shown = block_text(summary)
    assert "Most severe" not in shown
    assert "Latest:" in shown
    assert "The first was posted above." in shown
    assert "Show all 2" in shown
    assert "1 attempts" not in shown
    assert "in the last minute" not in shown
    assert emulator.limit_violations == []

    # Much later the summary still names when the burst happened, not "the last minute".
    fake_clock.advance(hours=2)
    again = {**task_failure(2, at=first_at + timedelta(minutes=2)), "id": "evt_task_0002_again"}
    await send(bot, fake_clock, again)
    fake_clock.advance(seconds=2)
    await flush(bot)
    assert summary.update_count >= 1
    assert "08:49–08:51 UTC" in summary.text


async def test_gathered_delivery_logs_no_post(
    start_bot: BotFactory,
    emulator: SlackEmulator,
    seed_file: Path,
    fake_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)

    with caplog.at_level("INFO", logger="bot.delivery"):
        await send(bot, fake_clock, task_failure(1, at=fake_clock.now()), task_failure(2, at=fake_clock.now()))

    lines = [record.getMessage() for record in caplog.records if record.name == "bot.delivery"]
    assert not [line for line in lines if "ts None" in line]
    assert len([line for line in lines if line.startswith("Posted message")]) == 1
    assert len([line for line in lines if "gathered into a summary" in line]) == 1


async def test_summary_names_client_stored_later(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    await send(bot, fake_clock, task_failure(1, at=fake_clock.now()), task_failure(2, at=fake_clock.now()))
    fake_clock.advance(seconds=2)
    await flush(bot)
    summary = emulator.top_level_messages("C0OPS")[1]
    assert "for cl-bravo" in summary.text  # no name stored yet: the id

    await bot.runtime.storage.clients.apply_update(
        agency_id="ag-acme", client_id="cl-bravo", data={"name": "Bravo Foods"}, occurred_at=START
    )
    await send(bot, fake_clock, task_failure(3, at=fake_clock.now()))
    fake_clock.advance(seconds=2)
    await flush(bot)

    assert "for Bravo Foods" in summary.text


async def test_repeat_of_a_gathered_alert_shows_in_the_summary(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    for number in range(1, 4):
        await send(bot, fake_clock, task_failure(number, at=fake_clock.now()))
    fake_clock.advance(seconds=2)
    await flush(bot)
    summary = emulator.top_level_messages("C0OPS")[1]
    updates_before = summary.update_count

    fake_clock.advance(seconds=5)
    await send(bot, fake_clock, {**task_failure(3, at=fake_clock.now()), "id": "evt_task_0003_again"})
    fake_clock.advance(seconds=2)
    await flush(bot)

    assert summary.update_count > updates_before
    shown = block_text(summary)
    assert "Import 0003" in shown
    assert "seen 2 times, latest" in shown
    assert "1 repeat of these alerts" in shown


async def test_repeated_system_error_updates_count_without_replies(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    error = load_example("system_error.json")
    for number in range(3):
        fake_clock.advance(seconds=10)
        await send(bot, fake_clock, {**error, "id": f"evt_err_{number}", "occurred_at": fake_clock.now().isoformat()})
        await flush(bot)
    [message] = emulator.top_level_messages("C0OPS")
    assert "3 occurrences" in block_text(message)
    assert emulator.thread_replies("C0OPS", message.ts) == []
    # After a quiet window the same error is a new incident with a message of its own.
    fake_clock.advance(minutes=5)
    await send(bot, fake_clock, {**error, "id": "evt_err_later", "occurred_at": fake_clock.now().isoformat()})
    assert len(emulator.top_level_messages("C0OPS")) == 2


async def test_note_update_threads_and_deletion_redacts(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    created = {**load_example("note_created.json"), "occurred_at": fake_clock.now().isoformat()}
    note_id = created["data"]["note_id"]
    await send(bot, fake_clock, created)
    fake_clock.advance(minutes=1)
    updated = {
        **load_example("note_updated.json"),
        "client_id": created["client_id"],
        "occurred_at": fake_clock.now().isoformat(),
    }
    updated["data"] = {**updated["data"], "note_id": note_id, "body": "Second version of the note."}
    await send(bot, fake_clock, updated)
    await flush(bot)
    [message] = emulator.top_level_messages("C0NOTES")
    [reply] = emulator.thread_replies("C0NOTES", message.ts)
    assert "Second version" in block_text(reply)

    fake_clock.advance(minutes=1)
    # Deleted 30 seconds before the bot received it: the message names when it was deleted.
    deleted_at = fake_clock.now() - timedelta(seconds=30)
    deleted = {
        **load_example("note_deleted.json"),
        "client_id": created["client_id"],
        "occurred_at": deleted_at.isoformat(),
        "data": {"note_id": note_id},
    }
    await send(bot, fake_clock, deleted)
    await flush(bot)
    assert "deleted" in message.text.lower() or "deleted" in block_text(message)
    assert f"<!date^{int(deleted_at.timestamp())}^" in block_text(message)
    assert created["data"]["body"][:40] not in block_text(message)
    assert created["data"]["title"] not in block_text(message)


async def test_two_hundred_task_failures_make_one_summary(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    calls_by_step: list[tuple[datetime, int]] = []
    before = 0
    # 200 failures in 10 seconds: 20 batches of 10, one every half second.
    for step in range(20):
        batch = [task_failure(step * 10 + index, at=fake_clock.now()) for index in range(10)]
        await send(bot, fake_clock, *batch)
        await flush(bot)
        total = len(channel_calls(emulator, "C0OPS"))
        calls_by_step.append((fake_clock.now(), total - before))
        before = total
        fake_clock.advance(seconds=0.5)
    fake_clock.advance(seconds=1)
    await flush(bot)

    top = emulator.top_level_messages("C0OPS")
    # The first failure on its own, then one summary for the other 199, which counts the whole burst.
    assert len(top) == 2
    summary = top[1]
    assert "200 task failures" in summary.text
    assert "Show all 200" in block_text(summary)
    assert "The first was posted above." in block_text(summary)
    assert emulator.posted_messages("C0OPS") == top  # no thread replies either

    deliveries = await bot.runtime.storage.deliveries.list_by_state(states=[DeliveryState.SENT], limit=1000)
    assert len(deliveries) == 200
    summary_id = _summary_id(summary)
    listed = await bot.runtime.storage.alerts.list_gathered(summary_id, limit=1000)
    first_post_task = "Import 0000"
    assert first_post_task in block_text(top[0])
    assert {record.key for record in listed} == {f"tsk_{number:04d}" for number in range(1, 200)}

    # Posts plus edits to the channel: about one a second, never a wall.
    # About one a second over the 10 seconds, plus the first failure's post and the summary's first post.
    total_calls = len(channel_calls(emulator, "C0OPS"))
    assert total_calls <= 13
    for index in range(len(calls_by_step)):
        window = [
            count for at, count in calls_by_step if timedelta(0) <= at - calls_by_step[index][0] < timedelta(seconds=1)
        ]
        assert sum(window) <= 2, calls_by_step


def channel_calls(emulator: SlackEmulator, channel: str) -> list[Any]:
    calls = emulator.calls_to("chat.postMessage") + emulator.calls_to("chat.update")
    return [call for call in calls if call.params.get("channel") == channel and call.ok]


def _summary_id(message: PostedMessage) -> str:
    for block in message.blocks or []:
        for element in block.get("elements", []):
            if element.get("action_id") == "alert_burst_show":
                return str(element["value"])
    raise AssertionError("the summary has no Show all button")


async def test_flood_for_two_clients_makes_two_summaries(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    batch = [task_failure(index, at=fake_clock.now(), client_id=f"cl-{index % 2}") for index in range(10)]
    await send(bot, fake_clock, *batch)
    fake_clock.advance(seconds=2)
    await flush(bot)
    top = emulator.top_level_messages("C0OPS")
    assert len(top) == 4
    assert sorted(message.text.split(" for ")[0] for message in top if "task failures" in message.text) == [
        "5 task failures",
        "5 task failures",
    ]


async def test_summary_list_opens_paged(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    events = [task_failure(number, at=fake_clock.now() + timedelta(seconds=number)) for number in range(50)]
    await send(bot, fake_clock, *events)
    fake_clock.advance(seconds=2)
    await flush(bot)
    summary = emulator.top_level_messages("C0OPS")[1]
    assert "Import 0049" in block_text(summary)  # tasks have no severity: the latest come first

    user = SlackClient(bot.http, user_id="U0MEMBER")
    show = {"type": "button", "action_id": "alert_burst_show", "block_id": "b", "value": _summary_id(summary)}
    await user.interaction(
        {
            "type": "block_actions",
            "trigger_id": "trigger-show",
            "container": {"type": "message", "message_ts": summary.ts, "channel_id": "C0OPS"},
            "channel": {"id": "C0OPS"},
            "actions": [show],
        }
    )
    [opened] = await emulator.wait_for_calls("views.open", 1)
    assert opened.ok, opened.response
    first_page = opened.params["view"]
    assert "1–40 of 50, latest first" in json.dumps(first_page, ensure_ascii=False)
    # The failure posted on its own is listed too, marked, then the gathered ones, latest first.
    assert "Import 0000" in json.dumps(first_page["blocks"][2])
    assert "posted on its own" in json.dumps(first_page["blocks"][2])
    assert "Import 0049" in json.dumps(first_page["blocks"][3])
    [paging] = [block for block in first_page["blocks"] if block.get("block_id") == "alert_burst_paging"]
    [next_button] = paging["elements"]
    assert isinstance(opened.response, dict)
    view = {"id": opened.response["view"]["id"], "callback_id": "alert_burst_list"}
    await user.modal_action(view, next_button | {"block_id": "alert_burst_paging"})
    [updated] = await emulator.wait_for_calls("views.update", 1)
    assert updated.ok, updated.response
    assert "41–50 of 50" in json.dumps(updated.params["view"], ensure_ascii=False)
    assert "Import 0001" in json.dumps(updated.params["view"]["blocks"][-2])
    assert emulator.limit_violations == []


async def test_unknown_summary_opens_nothing(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    user = SlackClient(bot.http, user_id="U0MEMBER")
    forged = {"type": "button", "action_id": "alert_burst_show", "block_id": "b", "value": "rule_x|summary|cl|1"}
    response = await user.interaction(
        {"type": "block_actions", "trigger_id": "t", "channel": {"id": "C0OPS"}, "actions": [forged]}
    )
    assert response.status == 200
    assert emulator.calls_to("views.open") == []


async def test_same_outlier_id_for_two_clients_stays_apart(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    alpha = detection(0, observed=84.2, at=fake_clock.now())
    bravo = {**detection(1, observed=50.0, at=fake_clock.now()), "client_id": "cl-bravo"}
    await send(bot, fake_clock, alpha)
    fake_clock.advance(minutes=5)
    await send(bot, fake_clock, bravo)
    fake_clock.advance(minutes=5)
    await send(bot, fake_clock, {**resolution(fake_clock.now()), "client_id": "cl-bravo"})
    await flush(bot)
    first, second = emulator.top_level_messages("C0ALERTS")
    assert not first.text.startswith("Resolved")
    assert second.text.startswith("Resolved")
    # C0ALPHA sees only cl-alpha, whose outlier is still open.
    [alpha_message] = emulator.top_level_messages("C0ALPHA")
    assert alpha_message.update_count == 0


async def test_rule_burst_threshold_is_used(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    rules = bot.runtime.storage.rules
    [rule] = [rule for rule in await rules.list() if rule.type.value == "task_failures"]
    assert (rule.burst_window_seconds, rule.burst_threshold) == (60, 1)
    assert await rules.set_burst_policy(rule.id, window_seconds=30, threshold=3, now=fake_clock.now())
    with pytest.raises(ValueError, match="burst threshold 0"):
        await rules.set_burst_policy(rule.id, window_seconds=30, threshold=0, now=fake_clock.now())
    bot.runtime.index.mark_stale()

    await send(bot, fake_clock, *[task_failure(number, at=fake_clock.now()) for number in range(6)])
    fake_clock.advance(seconds=2)
    await flush(bot)
    top = emulator.top_level_messages("C0OPS")
    assert len(top) == 4
    assert top[3].text.startswith("6 task failures")
    assert "The first 3 were posted above." in block_text(top[3])
    # 40 seconds later is outside the 30-second window: a new burst starts with a post of its own.
    fake_clock.advance(seconds=40)
    await send(bot, fake_clock, task_failure(99, at=fake_clock.now()))
    assert len(emulator.top_level_messages("C0OPS")) == 5


async def test_note_made_private_is_redacted(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    created = {**load_example("note_created.json"), "occurred_at": fake_clock.now().isoformat()}
    await send(bot, fake_clock, created)
    fake_clock.advance(minutes=1)
    private = {**created, "id": "evt_private", "type": "note.updated", "occurred_at": fake_clock.now().isoformat()}
    private["data"] = {**created["data"], "private": True, "body": "Now secret."}
    await send(bot, fake_clock, private)
    await flush(bot)
    [message] = emulator.top_level_messages("C0NOTES")
    assert "made private" in block_text(message)
    assert created["data"]["title"] not in block_text(message)
    assert "Now secret" not in json.dumps([m.blocks for m in emulator.posted_messages()])
    assert emulator.thread_replies("C0NOTES", message.ts) == []


async def test_failure_older_than_recovery_changes_nothing(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    failed_at = fake_clock.now()
    await send(bot, fake_clock, task_failure(1, at=failed_at))
    fake_clock.advance(minutes=5)
    recovered = {
        **load_example("task_recovered.json"),
        "id": "evt_recovered",
        "client_id": "cl-bravo",
        "occurred_at": fake_clock.now().isoformat(),
        "data": {"task_id": "tsk_0001"},
    }
    await send(bot, fake_clock, recovered)
    await flush(bot)
    fake_clock.advance(seconds=5)

    # A failure that occurred before the recovery arrives late: the alert stays resolved.
    late = {**task_failure(1, at=failed_at + timedelta(minutes=1)), "id": "evt_task_late"}
    await send(bot, fake_clock, late)
    fake_clock.advance(seconds=5)
    await flush(bot)

    [message] = emulator.top_level_messages("C0OPS")
    assert message.text.startswith("Resolved: ")
    [reply] = emulator.thread_replies("C0OPS", message.ts)
    assert "Resolved" in reply.text


async def test_repeat_just_before_resolution_is_in_its_reply(
    start_bot: BotFactory, emulator: SlackEmulator, seed_file: Path, fake_clock: FakeClock
) -> None:
    bot = await start_bot(single_workspace_env(emulator), seed=seed_file, clock=fake_clock)
    start = fake_clock.now()

    # Two repeats and the resolution arrive within one pace interval of the first edit.
    await send(bot, fake_clock, detection(1, observed=90.0, at=start))
    await send(bot, fake_clock, detection(2, observed=92.0, at=start + timedelta(minutes=1)))
    await send(bot, fake_clock, detection(3, observed=95.5, at=start + timedelta(minutes=2)))
    await send(bot, fake_clock, resolution(start + timedelta(minutes=3)))
    fake_clock.advance(seconds=5)
    await flush(bot)

    [message] = emulator.top_level_messages("C0ALERTS")
    replies = [reply.text for reply in emulator.thread_replies("C0ALERTS", message.ts)]
    assert any("occurrence 2" in text for text in replies)
    assert "occurrence 3" in replies[-1]
    assert "Resolved" in replies[-1]
