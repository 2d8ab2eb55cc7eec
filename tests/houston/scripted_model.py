"""A chat model that plays planned replies, for driving Houston's agent without a real LLM.

LangChain's fake chat models cannot serve an agent: none overrides `bind_tools`, which `create_agent`
calls whenever tools exist, and `GenericFakeChatModel` never streams tool calls. This model binds tools,
streams text and tool calls, and records every message list it receives.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, ToolCall
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field

Replies = list[AIMessage] | Callable[[list[BaseMessage]], AIMessage]

# Text is streamed in pieces of this many characters.
TEXT_CHUNK_CHARS = 12


class ScriptedModelExhausted(AssertionError):
    """The agent asked the model for more replies than the test planned."""


class ScriptedChatModel(BaseChatModel):
    """Replies with the next planned `AIMessage`, or with what `replies(messages)` returns.

    `received` contains every message list the model was called with, system prompt included, and
    `tool_schemas` the OpenAI schemas of the tools last bound. A call with no reply left raises
    `ScriptedModelExhausted`. A reply's tool calls without an id get one, and a reply without
    `usage_metadata` gets counts estimated from the text.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    replies: Any
    received: list[list[BaseMessage]] = Field(default_factory=list)
    tool_schemas: list[dict[str, Any]] = Field(default_factory=list)
    calls: int = 0

    def __init__(self, replies: Replies, **kwargs: Any) -> None:
        planned = list(replies) if isinstance(replies, list) else replies
        # mypy checks this call against BaseChatModel's signature, which lacks the fields pydantic adds here.
        super().__init__(replies=planned, **kwargs)  # type: ignore[call-arg]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def remaining(self) -> int:
        """Count the planned replies not used yet; 0 for a computed script."""
        return len(self.replies) if isinstance(self.replies, list) else 0

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        self.tool_schemas = [convert_to_openai_tool(tool) for tool in tools]
        return self

    @property
    def tool_names(self) -> list[str]:
        return [schema["function"]["name"] for schema in self.tool_schemas]

    def _next_reply(self, messages: list[BaseMessage]) -> AIMessage:
        self.received.append(list(messages))
        self.calls += 1
        if callable(self.replies):
            reply = self.replies(list(messages))
        elif self.replies:
            reply = self.replies.pop(0)
        else:
            last = messages[-1].content if messages else None
            raise ScriptedModelExhausted(f"No scripted reply left for model call {self.calls}; last message: {last!r}")
        return _complete(reply, call_number=self.calls)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next_reply(messages))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        yield from _chunks(self._next_reply(messages))

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in _chunks(self._next_reply(messages)):
            if run_manager is not None and isinstance(chunk.message.content, str) and chunk.message.content:
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk


def _complete(reply: AIMessage, *, call_number: int) -> AIMessage:
    calls: list[ToolCall] = [
        {**call, "id": call.get("id") or f"call_{call_number}_{index}"} for index, call in enumerate(reply.tool_calls)
    ]
    usage = reply.usage_metadata or _estimate_usage(reply)
    return reply.model_copy(update={"tool_calls": calls, "usage_metadata": usage})


def _estimate_usage(reply: AIMessage) -> UsageMetadata:
    output = max(1, len(reply.text) // 4 + 10 * len(reply.tool_calls))
    return UsageMetadata(input_tokens=100, output_tokens=output, total_tokens=100 + output)


def _chunks(reply: AIMessage) -> Iterator[ChatGenerationChunk]:
    """Yield the text in pieces, then one chunk per tool call, then a last chunk with the usage."""
    text = reply.text
    for start in range(0, len(text), TEXT_CHUNK_CHARS):
        yield ChatGenerationChunk(message=AIMessageChunk(content=text[start : start + TEXT_CHUNK_CHARS]))
    for index, call in enumerate(reply.tool_calls):
        piece = tool_call_chunk(name=call["name"], args=json.dumps(call["args"]), id=call["id"], index=index)
        yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[piece]))
    last = AIMessageChunk(content="", usage_metadata=reply.usage_metadata, chunk_position="last")
    yield ChatGenerationChunk(message=last)
