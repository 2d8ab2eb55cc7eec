"""Houston's thread memory: the repository, trimming, shortening and patching of stored history."""

from __future__ import annotations

from datetime import timedelta

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage, messages_to_dict

from houston.memory import (
    CANCELLED_TOOL_RESULT,
    ThreadMemory,
    patch_unanswered_tool_calls,
    shorten_tool_outputs,
    trim_history,
)
from storage.houston_threads import HoustonThreadRepository, thread_key
from storage.store import Storage
from tests.conftest import FakeClock

RETENTION = timedelta(days=30)
KEY = thread_key("T1", "C1", "1700000000.000100")


@pytest.fixture
async def threads(storage: Storage) -> HoustonThreadRepository:
    repository = HoustonThreadRepository(storage.database, retention=RETENTION)
    await repository.ensure_indexes()
    return repository


def exchange(number: int, *, tool_output: str = "figures") -> list[BaseMessage]:
    """One question with one tool call, its result and the answer."""
    call_id = f"call-{number}"
    return [
        HumanMessage(f"Question {number}"),
        AIMessage("", tool_calls=[{"name": "notes", "args": {"client_id": "cl-alpha"}, "id": call_id}]),
        ToolMessage(tool_output, tool_call_id=call_id, name="notes"),
        AIMessage(f"Answer {number}"),
    ]


# --- repository -------------------------------------------------------------------------------------------


def test_thread_key_joins_team_channel_thread() -> None:
    assert KEY == "T1:C1:1700000000.000100"


async def test_repository_round_trip(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    messages = messages_to_dict(exchange(1))

    saved = await threads.save(KEY, team_id="T1", active_client_id="cl-alpha", messages=messages, now=clock.now())
    thread = await threads.load(KEY, "T1")

    assert saved is True
    assert thread is not None
    assert thread.team_id == "T1"
    assert thread.active_client_id == "cl-alpha"
    assert list(thread.messages) == messages
    assert thread.updated_at == clock.now()
    assert thread.expires_at == clock.now() + RETENTION
    assert thread.feedback == ()


async def test_repository_hides_other_team(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    await threads.save(KEY, team_id="T1", active_client_id="cl-alpha", messages=[], now=clock.now())

    assert await threads.load(KEY, "T2") is None
    assert await threads.save(KEY, team_id="T2", active_client_id="cl-zulu", messages=[], now=clock.now()) is False
    thread = await threads.load(KEY, "T1")
    assert thread is not None
    assert thread.active_client_id == "cl-alpha"


async def test_save_extends_expiry(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    await threads.save(KEY, team_id="T1", active_client_id=None, messages=[], now=clock.now())
    clock.advance(days=3)

    await threads.save(KEY, team_id="T1", active_client_id="cl-bravo", messages=[], now=clock.now())

    thread = await threads.load(KEY, "T1")
    assert thread is not None
    assert thread.expires_at == clock.now() + RETENTION
    assert thread.active_client_id == "cl-bravo"


async def test_indexes_unique_key_and_ttl(threads: HoustonThreadRepository, storage: Storage) -> None:
    indexes = await storage.database.collection("houston_threads").index_information()

    assert indexes["thread_key"]["unique"] is True
    assert indexes["expires_at_1"]["expireAfterSeconds"] == 0


async def test_feedback_appended_per_team(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    await threads.save(KEY, team_id="T1", active_client_id=None, messages=[], now=clock.now())

    assert await threads.add_feedback(KEY, "T1", "U1", "positive", now=clock.now()) is True
    assert await threads.add_feedback(KEY, "T2", "U9", "negative", now=clock.now()) is False
    assert await threads.add_feedback(thread_key("T1", "C1", "other"), "T1", "U1", "negative", now=clock.now()) is False

    thread = await threads.load(KEY, "T1")
    assert thread is not None
    assert [(entry.user_id, entry.value) for entry in thread.feedback] == [("U1", "positive")]


async def test_delete_for_team(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    await threads.save(KEY, team_id="T1", active_client_id=None, messages=[], now=clock.now())
    await threads.save(thread_key("T2", "C1", "1"), team_id="T2", active_client_id=None, messages=[], now=clock.now())

    assert await threads.delete_for_team("T1") == 1
    assert await threads.load(KEY, "T1") is None
    assert await threads.load(thread_key("T2", "C1", "1"), "T2") is not None


# --- thread memory ----------------------------------------------------------------------------------------


async def test_memory_round_trip(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    memory = ThreadMemory(threads)
    messages = [*exchange(1), *exchange(2)]

    await memory.save(
        team_id="T1",
        channel_id="C1",
        thread_ts="1700000000.000100",
        messages=messages,
        active_client_id="cl-alpha",
        now=clock.now(),
    )
    loaded = await memory.load(team_id="T1", channel_id="C1", thread_ts="1700000000.000100")

    assert loaded is not None
    assert loaded.active_client_id == "cl-alpha"
    assert [type(message) for message in loaded.messages] == [type(message) for message in messages]
    assert [message.text for message in loaded.messages] == [message.text for message in messages]
    assert isinstance(loaded.messages[1], AIMessage)
    assert loaded.messages[1].tool_calls[0]["id"] == "call-1"
    assert await memory.load(team_id="T2", channel_id="C1", thread_ts="1700000000.000100") is None


async def test_memory_shortens_tool_output(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    memory = ThreadMemory(threads, max_tool_output_chars=100)

    await memory.save(
        team_id="T1",
        channel_id="C1",
        thread_ts="1",
        messages=exchange(1, tool_output="x" * 1_000),
        active_client_id=None,
        now=clock.now(),
    )
    loaded = await memory.load(team_id="T1", channel_id="C1", thread_ts="1")

    assert loaded is not None
    stored = loaded.messages[2]
    assert len(stored.text) <= 100
    assert "truncated" in stored.text


async def test_memory_trims_long_threads(threads: HoustonThreadRepository, clock: FakeClock) -> None:
    memory = ThreadMemory(threads, max_history_tokens=200)
    messages = [message for number in range(30) for message in exchange(number, tool_output="y" * 200)]

    await memory.save(
        team_id="T1", channel_id="C1", thread_ts="1", messages=messages, active_client_id=None, now=clock.now()
    )
    thread = await threads.load(thread_key("T1", "C1", "1"), "T1")

    assert thread is not None
    assert 0 < len(thread.messages) < len(messages)
    assert thread.messages[0]["type"] == "human"
    assert thread.messages[-1]["data"]["content"] == "Answer 29"


# --- trimming, shortening, patching -----------------------------------------------------------------------


def test_trim_starts_on_human_message() -> None:
    messages = [message for number in range(10) for message in exchange(number, tool_output="z" * 120)]

    window = trim_history(messages, max_tokens=150)

    assert isinstance(window[0], HumanMessage)
    assert window[-1].text == "Answer 9"
    assert len(window) < len(messages)
    assert len(window) % 4 == 0


def test_trim_keeps_short_history() -> None:
    messages = exchange(1)

    assert trim_history(messages, max_tokens=10_000) == messages


def test_shorten_leaves_other_messages() -> None:
    messages = exchange(1, tool_output="w" * 500)

    shortened = shorten_tool_outputs(messages, max_chars=100)

    assert len(shortened[2].text) <= 100
    assert shortened[0] is messages[0]
    assert shortened[3] is messages[3]
    assert messages[2].text == "w" * 500


def test_patch_answers_unanswered_calls() -> None:
    ai = AIMessage(
        "",
        tool_calls=[
            {"name": "notes", "args": {}, "id": "a"},
            {"name": "client_profile", "args": {}, "id": "b"},
        ],
    )
    messages = [HumanMessage("Q"), ai, ToolMessage("done", tool_call_id="a"), HumanMessage("Q2")]

    patched = patch_unanswered_tool_calls(messages)

    assert [type(message).__name__ for message in patched] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "HumanMessage",
    ]
    cancelled = patched[3]
    assert isinstance(cancelled, ToolMessage)
    assert cancelled.tool_call_id == "b"
    assert cancelled.status == "error"
    assert cancelled.text == CANCELLED_TOOL_RESULT


def test_patch_answers_call_at_end() -> None:
    messages = [HumanMessage("Q"), AIMessage("", tool_calls=[{"name": "notes", "args": {}, "id": "a"}])]

    patched = patch_unanswered_tool_calls(messages)

    assert len(patched) == 3
    assert isinstance(patched[2], ToolMessage)
    assert patched[2].tool_call_id == "a"


def test_patch_drops_orphan_results() -> None:
    messages = [HumanMessage("Q"), ToolMessage("stray", tool_call_id="gone"), AIMessage("A")]

    assert patch_unanswered_tool_calls(messages) == [messages[0], messages[2]]


def test_patch_keeps_complete_history() -> None:
    messages = [*exchange(1), *exchange(2)]

    assert patch_unanswered_tool_calls(messages) == messages
