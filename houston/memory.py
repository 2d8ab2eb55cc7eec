"""Houston's memory of a Slack thread: LangChain messages trimmed, patched and stored per thread."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
    messages_from_dict,
    messages_to_dict,
    trim_messages,
)
from langchain_core.messages.utils import count_tokens_approximately

from houston.tools import cap_text
from storage.houston_threads import HoustonThreadRepository, thread_key

logger = logging.getLogger(__name__)

# The history given to the model, in approximate tokens (about 4 characters each).
DEFAULT_HISTORY_TOKENS = 3_000
# A stored tool result keeps this many characters; the model calls the tool again for more.
MAX_STORED_TOOL_CHARS = 1_500
CANCELLED_TOOL_RESULT = "Cancelled: this tool call was interrupted before it returned a result."


def trim_history(messages: Sequence[BaseMessage], max_tokens: int) -> list[BaseMessage]:
    """Keep the latest messages that fit in `max_tokens`, starting at a human message.

    Starting at a human turn keeps every tool call together with its results.
    """
    return trim_messages(
        list(messages),
        strategy="last",
        token_counter=count_tokens_approximately,
        max_tokens=max_tokens,
        start_on="human",
    )


def shorten_tool_outputs(messages: Sequence[BaseMessage], max_chars: int = MAX_STORED_TOOL_CHARS) -> list[BaseMessage]:
    """Return `messages` with every tool result longer than `max_chars` cut, with a marker."""
    shortened: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, ToolMessage) and isinstance(message.content, str) and len(message.content) > max_chars:
            message = message.model_copy(update={"content": cap_text(message.content, max_chars)})
        shortened.append(message)
    return shortened


def patch_unanswered_tool_calls(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Add a result to every tool call that has none, and drop tool results that match no call.

    A run cancelled while a tool executes leaves an AI message whose tool calls have no ToolMessage, and
    OpenAI rejects the next request until each call is followed by its result. The missing results are
    added right after the results the call did get, as errors saying the call was cancelled.
    """
    patched: list[BaseMessage] = []
    pending: dict[str, str] = {}
    for message in messages:
        if isinstance(message, ToolMessage):
            if message.tool_call_id in pending:
                del pending[message.tool_call_id]
                patched.append(message)
            continue
        patched.extend(_cancelled_results(pending))
        pending = {}
        patched.append(message)
        if isinstance(message, AIMessage):
            pending = {call["id"]: call["name"] for call in message.tool_calls if call["id"]}
    patched.extend(_cancelled_results(pending))
    return patched


def _cancelled_results(pending: dict[str, str]) -> list[BaseMessage]:
    return [
        ToolMessage(CANCELLED_TOOL_RESULT, tool_call_id=call_id, name=name, status="error")
        for call_id, name in pending.items()
    ]


@dataclass(frozen=True)
class ThreadHistory:
    """The messages of one thread to give the model, and the thread's active client."""

    messages: list[BaseMessage]
    active_client_id: str | None


class ThreadMemory:
    """Loads and saves Houston threads through `HoustonThreadRepository`.

    Saved history is patched, has its tool results shortened and is trimmed to `max_history_tokens`, so a
    thread's document stays small however long the conversation runs. Loaded history is patched and
    trimmed again, so it is ready to send to the model.
    """

    def __init__(
        self,
        repository: HoustonThreadRepository,
        *,
        max_history_tokens: int = DEFAULT_HISTORY_TOKENS,
        max_tool_output_chars: int = MAX_STORED_TOOL_CHARS,
    ) -> None:
        self._repository = repository
        self._max_history_tokens = max_history_tokens
        self._max_tool_output_chars = max_tool_output_chars

    async def load(self, *, team_id: str, channel_id: str, thread_ts: str) -> ThreadHistory | None:
        """Return the thread's history, or None when the team has no Houston thread there."""
        thread = await self._repository.load(thread_key(team_id, channel_id, thread_ts), team_id)
        if thread is None:
            return None
        messages = messages_from_dict(list(thread.messages))
        window = trim_history(patch_unanswered_tool_calls(messages), self._max_history_tokens)
        return ThreadHistory(messages=window, active_client_id=thread.active_client_id)

    async def save(
        self,
        *,
        team_id: str,
        channel_id: str,
        thread_ts: str,
        messages: Sequence[BaseMessage],
        active_client_id: str | None,
        now: datetime,
    ) -> bool:
        """Store the thread's whole history, for example `[*history, *answer.new_messages]`.

        Returns False when the key belongs to another team, and nothing is stored then.
        """
        patched = patch_unanswered_tool_calls(messages)
        stored = trim_history(shorten_tool_outputs(patched, self._max_tool_output_chars), self._max_history_tokens)
        return await self._repository.save(
            thread_key(team_id, channel_id, thread_ts),
            team_id=team_id,
            active_client_id=active_client_id,
            messages=messages_to_dict(stored),
            now=now,
        )
