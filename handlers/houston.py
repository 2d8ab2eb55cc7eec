"""Houston in Slack: the Ask Houston button, mentions, replies in Houston's threads, direct messages,
feedback, Retry and Stop.

Slack retries events it thinks failed, and people double-click: every question is claimed once by its
Slack event id (or, for the button, by the alert message) before Houston runs, so none is answered twice.

An answer streams into its thread while the model writes it (chat.startStream, chat.appendStream,
chat.stopStream). When the run ends, chat.update replaces the streamed message with the final answer,
because the streamed pieces are sanitized one at a time, without links, and Slack renders the blocks
given to chat.stopStream below the streamed text instead of in its place. When a stream call fails, the
answer updates the stream's message or, when no stream started, is posted with chat.postMessage. Notices
and errors that come before any model text are posted without streaming.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.models.messages.chunk import BlocksChunk, MarkdownTextChunk
from slack_sdk.web.async_chat_stream import AsyncChatStream
from slack_sdk.web.async_client import AsyncWebClient

from handlers.home import refresh_home
from handlers.permissions import check_permission, managers_hint
from handlers.services import (
    EXT_SHARED,
    HoustonAsker,
    HoustonRequest,
    HoustonTextCallback,
    clock_of,
    services_of,
    storage_of,
    team_key,
    workspace_of,
)
from storage.houston_threads import thread_key
from storage.models import Workspace
from views.houston import MAX_MARKDOWN_TEXT, NoticeKind, build_notice, sanitize_answer_markdown
from views.houston_settings import HOUSTON_TOGGLE_ACTION
from views.messages import ASK_HOUSTON_ACTION_ID, SlackMessage
from views.notice import refusal_modal
from views.text import truncate, unescape_mrkdwn

logger = logging.getLogger(__name__)

FEEDBACK_ACTIONS = {"houston_feedback_up": "up", "houston_feedback_down": "down"}
RETRY_ACTION = "houston_retry"
FEEDBACK_THANKS = "Thanks: your feedback is kept with this conversation to help improve Houston's answers."
THINKING = "is thinking…"
LOADING_MESSAGES = ["Reading the metrics…", "Checking outliers and notes…"]
OUTLIER_QUESTION = (
    "Analyse outlier {outlier_id} of client {client_id}: what moved, by how much against the expected value, "
    "how the {channel} channel performed recently, and any related notes."
)
MENTION = re.compile(r"<@[UW][A-Z0-9]+>")

# The Stop button's value is the Houston thread id (`team:channel:thread_ts`).
STOP_ACTION = "houston_stop"
STOP_BLOCK_ID = "houston_stop"
STOP_LABEL = "Stop"
# The error of a stream call after the user stopped the stream in Slack's own interface.
STOPPED_BY_USER = "stopped_by_user"

# After the first piece, which goes at once so that the Stop button shows early, streamed text is sent in
# pieces of at least this many characters, to keep the number of chat.appendStream calls low.
STREAM_FLUSH_CHARS = 200
# Text past this many characters is not streamed; the final message still carries the whole answer.
MAX_STREAMED_CHARS = MAX_MARKDOWN_TEXT

THREAD_CONTEXT_HEADER = "Earlier in this thread:"
THREAD_CONTEXT_OMITTED = "- ({count} more messages left out)"
# Slack caps conversations.replies at 15 messages for apps distributed outside the Slack Marketplace
# (docs.slack.dev/reference/methods/conversations.replies, since May 2025), so no more are requested.
THREAD_HISTORY_LIMIT = 15
MAX_THREAD_CONTEXT_CHARS = 3_000
MAX_THREAD_MESSAGE_CHARS = 500


def register(app: AsyncApp) -> None:
    # The listeners that run answers share one registry of running answers, so that Stop can cancel them.
    answers = HoustonAnswers()
    app.action(ASK_HOUSTON_ACTION_ID)(answers.on_ask_houston)
    app.event("app_mention")(answers.on_mention)
    app.event("message")(answers.on_message)
    for action_id in FEEDBACK_ACTIONS:
        app.action(action_id)(on_feedback)
    app.action(RETRY_ACTION)(answers.on_retry)
    app.action(STOP_ACTION)(answers.on_stop)
    app.action(HOUSTON_TOGGLE_ACTION)(on_toggle)


# --- Shared steps ---------------------------------------------------------------------------------------

# The errors of a Slack call that Houston's listeners work around instead of letting the listener fail.
SLACK_CALL_ERRORS = (SlackClientError, aiohttp.ClientError, TimeoutError)


async def _claim(context: AsyncBoltContext, key: str) -> bool:
    return await storage_of(context).houston_requests.claim(key, now=clock_of(context).now())


async def _is_shared(context: AsyncBoltContext, client: AsyncWebClient, team_id: str, channel_id: str) -> bool:
    """Tell whether the channel is shared with another organisation; unknown counts as shared (fail closed)."""
    if channel_id.startswith("D"):
        return False
    if context.get(EXT_SHARED):
        return True
    channel = await storage_of(context).channels.get(team_id, channel_id)
    if channel is not None:
        return channel.is_shared
    try:
        response = await client.conversations_info(channel=channel_id)
    except SlackApiError as error:
        logger.warning(
            "Shared-channel check failed; declining (channel %s, error %s)", channel_id, error.response.get("error")
        )
        return True
    info = response.get("channel") or {}
    return bool(info.get("is_ext_shared") or info.get("is_shared"))


async def _set_status(client: AsyncWebClient, channel_id: str, thread_ts: str) -> None:
    # Bolt injects no status helper for the button, so every entry point sets the status itself. Slack clears
    # it when the answer is posted; assistant.threads.setStatus works in channel threads with chat:write.
    try:
        await client.assistant_threads_setStatus(
            channel_id=channel_id, thread_ts=thread_ts, status=THINKING, loading_messages=LOADING_MESSAGES
        )
    except SlackApiError as error:
        logger.info("Houston status not shown (channel %s, error %s)", channel_id, error.response.get("error"))


async def _post(client: AsyncWebClient, channel_id: str, thread_ts: str, message: SlackMessage) -> None:
    await client.chat_postMessage(
        channel=channel_id,
        thread_ts=thread_ts,
        text=message.text,
        blocks=message.blocks,
        unfurl_links=False,
        unfurl_media=False,
    )


def _question(text: str) -> str:
    return MENTION.sub("", text or "").strip()


def _error_code(error: Exception) -> str:
    if isinstance(error, SlackApiError):
        return str(error.response.get("error"))
    return type(error).__name__


# --- Running answers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnswerThread:
    """The thread an answer goes to, and the user it is for, who is also the stream's recipient."""

    team_id: str
    channel_id: str
    thread_ts: str
    recipient_team_id: str
    recipient_user_id: str

    @property
    def key(self) -> str:
        return thread_key(self.team_id, self.channel_id, self.thread_ts)


def _answer_thread(
    context: AsyncBoltContext, *, team_id: str, channel_id: str, thread_ts: str, user_id: str
) -> AnswerThread:
    # Bolt's own `say_stream` also names the request's team, or its organisation for an org-wide install.
    recipient_team_id = context.team_id or context.enterprise_id or team_id
    return AnswerThread(team_id, channel_id, thread_ts, recipient_team_id, user_id)


@dataclass(frozen=True)
class _RunningAnswer:
    task: asyncio.Task[SlackMessage | None]
    user_id: str


# A function that starts one answer with the callback for the model's text, and returns the message to show
# or None.
AnswerRun = Callable[[HoustonTextCallback], Coroutine[Any, Any, SlackMessage | None]]


class HoustonAnswers:
    """The listeners that start answers, and Stop, which cancels one of the answers they keep running.

    NOTE: the running answers are known only to this process. With several replicas, Stop reaches an answer
    only when Slack sends the click to the replica that runs it.
    """

    def __init__(self) -> None:
        # The answer running in each thread, by Houston thread id. A second question in a thread replaces
        # the entry, so Stop then cancels the newer answer.
        self._running: dict[str, _RunningAnswer] = {}

    # --- The button on outlier alerts ---

    async def on_ask_houston(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
        respond: AsyncRespond,
    ) -> None:
        await ack()
        houston = services_of(context).houston
        team_id = await team_key(context)
        message = body.get("message") or {}
        channel_id = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        thread_ts = message.get("thread_ts") or message.get("ts") or (body.get("container") or {}).get("message_ts")
        if houston is None or team_id is None or not channel_id or not thread_ts:
            notice = build_notice(NoticeKind.NO_MODEL)
            await respond(response_type="ephemeral", replace_original=False, **_payload(notice))
            return
        # Check availability before claiming the alert, so a press while Houston is off or the user is capped
        # does not use up the alert's one analysis.
        unavailable = await houston.unavailable(team_id=team_id, user_id=body["user"]["id"])
        if unavailable is not None:
            await respond(response_type="ephemeral", replace_original=False, **_payload(unavailable))
            return
        if not await _claim(context, f"ask:{team_id}:{channel_id}:{thread_ts}"):
            answered = await houston.has_thread(team_id=team_id, channel_id=channel_id, thread_ts=thread_ts)
            notice = build_notice(NoticeKind.ALREADY_ANSWERED if answered else NoticeKind.ALREADY_ANSWERING)
            await respond(response_type="ephemeral", replace_original=False, **_payload(notice))
            return
        event_id = ((body.get("actions") or [{}])[0]).get("value") or ""
        question, client_hint = await _outlier_question(context, team_id, event_id)
        request = HoustonRequest(
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            user_id=body["user"]["id"],
            question=question,
            client_hint=client_hint,
        )
        logger.info("Ask Houston pressed (team %s, channel %s, event %s)", team_id, channel_id, event_id)
        await self._answer(client, context, houston, request)

    # --- Mentions, thread replies, direct messages ---

    async def on_mention(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        houston = services_of(context).houston
        team_id = await team_key(context)
        if houston is None or team_id is None or not await _claim(context, f"event:{body.get('event_id')}"):
            return
        channel_id, ts = event["channel"], event["ts"]
        thread_ts = event.get("thread_ts") or ts
        earlier = None
        # A mention in the middle of a thread that Houston has not answered in may refer to the messages
        # before it, which Houston has no memory of.
        mid_thread = thread_ts != ts
        if mid_thread and not await houston.has_thread(team_id=team_id, channel_id=channel_id, thread_ts=thread_ts):
            earlier = await _read_earlier_messages(
                client, context, channel_id=channel_id, thread_ts=thread_ts, mention_ts=ts
            )
        request = HoustonRequest(
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            user_id=event.get("user", ""),
            question=_question(event.get("text", "")),
            thread_context=earlier,
        )
        await self._answer(client, context, houston, request)

    async def on_message(
        self, body: dict[str, Any], event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        """Continue Houston's threads without a mention, and answer direct messages."""
        houston = services_of(context).houston
        team_id = await team_key(context)
        if houston is None or team_id is None or event.get("subtype") or event.get("bot_id"):
            return
        text = event.get("text", "")
        if context.bot_user_id and f"<@{context.bot_user_id}>" in text:
            return  # the app_mention listener answers this one
        direct = event.get("channel_type") == "im"
        thread_ts = event.get("thread_ts") or (event["ts"] if direct else None)
        if thread_ts is None:
            return
        channel_id = event["channel"]
        if not direct and not await houston.has_thread(team_id=team_id, channel_id=channel_id, thread_ts=thread_ts):
            return
        if not await _claim(context, f"event:{body.get('event_id')}"):
            return
        request = HoustonRequest(
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            user_id=event.get("user", ""),
            question=_question(text),
        )
        await self._answer(client, context, houston, request)

    # --- Retry and Stop ---

    async def on_retry(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        houston = services_of(context).houston
        team_id = await team_key(context)
        key = str(action.get("value") or "")
        parts = key.split(":")
        # The key is team:channel:thread; a key naming another team is ignored, whatever the button says.
        if houston is None or team_id is None or len(parts) != 3 or parts[0] != team_id:
            return
        if not await _claim(context, f"retry:{key}:{(body.get('message') or {}).get('ts')}"):
            return
        _, channel_id, thread_ts = parts
        user_id = body["user"]["id"]
        thread = _answer_thread(context, team_id=team_id, channel_id=channel_id, thread_ts=thread_ts, user_id=user_id)
        await self._run(
            client,
            thread,
            lambda on_text: houston.retry(
                team_id=team_id, channel_id=channel_id, thread_ts=thread_ts, user_id=user_id, on_text=on_text
            ),
        )

    async def on_stop(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Cancel the answer running in the button's thread, when the user who asked presses Stop."""
        await ack()
        team_id = await team_key(context)
        key = str(action.get("value") or "")
        user_id = body["user"]["id"]
        running = self._running.get(key)
        # The key is team:channel:thread; a key naming another team is ignored, whatever the button says.
        if team_id is None or key.split(":")[0] != team_id or running is None:
            logger.info("Houston stop ignored, no running answer (team %s, user %s, thread %s)", team_id, user_id, key)
            return
        if running.user_id != user_id:
            logger.info("Houston stop ignored, not the asker (team %s, user %s, thread %s)", team_id, user_id, key)
            return
        logger.info("Houston answer stopped by the asker (team %s, user %s, thread %s)", team_id, user_id, key)
        running.task.cancel()

    # --- Steps ---

    async def _answer(
        self, client: AsyncWebClient, context: AsyncBoltContext, houston: HoustonAsker, request: HoustonRequest
    ) -> None:
        if await _is_shared(context, client, request.team_id, request.channel_id):
            await _post(client, request.channel_id, request.thread_ts, build_notice(NoticeKind.SHARED_CHANNEL))
            return
        unavailable = await houston.unavailable(team_id=request.team_id, user_id=request.user_id)
        if unavailable is not None:
            # Posted without the "is thinking" status or a stream, because nothing will run.
            await _post(client, request.channel_id, request.thread_ts, unavailable)
            return
        thread = _answer_thread(
            context,
            team_id=request.team_id,
            channel_id=request.channel_id,
            thread_ts=request.thread_ts,
            user_id=request.user_id,
        )
        await self._run(client, thread, lambda on_text: houston.ask(request, on_text=on_text))

    async def _run(self, client: AsyncWebClient, thread: AnswerThread, run: AnswerRun) -> None:
        """Run an answer that Stop can cancel, streaming the model's text, then show the final message."""
        await _set_status(client, thread.channel_id, thread.thread_ts)
        task: asyncio.Task[SlackMessage | None]
        # The stream's callback runs inside the task, and is only called once the task exists.
        stream = AnswerStream(client, thread, on_stopped_by_user=lambda: task.cancel())
        task = asyncio.create_task(run(stream.append))
        try:
            message = await self._wait(thread, task)
        except Exception:
            await stream.close()
            raise
        if message is not None:
            await stream.finish(message)

    async def _wait(self, thread: AnswerThread, task: asyncio.Task[SlackMessage | None]) -> SlackMessage | None:
        """Await the answer's task; return the cancelled notice when Stop cancelled it."""
        running = _RunningAnswer(task, thread.recipient_user_id)
        self._running[thread.key] = running
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not task.cancelled() or (current is not None and current.cancelling()):
                raise  # this listener itself is being cancelled, at shutdown
            return build_notice(NoticeKind.CANCELLED)
        finally:
            if self._running.get(thread.key) is running:
                del self._running[thread.key]


async def _outlier_question(context: AsyncBoltContext, team_id: str, event_id: str) -> tuple[str, str | None]:
    """Build the analysis question from the stored alert event, only when it belongs to this workspace."""
    storage = storage_of(context)
    workspace = await storage.workspaces.get(team_id)
    stored = await storage.events.find(event_id) if event_id else None
    if stored is None or workspace is None or not _may_see(workspace, stored.agency_id, stored.client_id):
        return "Summarise the most severe recent outliers.", None
    data = stored.body.get("data") or {}
    question = OUTLIER_QUESTION.format(
        outlier_id=data.get("outlier_id", "?"), client_id=stored.client_id, channel=data.get("channel", "its")
    )
    return question, stored.client_id


def _may_see(workspace: Workspace, agency_id: str, client_id: str | None) -> bool:
    if workspace.agency_id != agency_id:
        return False
    return workspace.client_id is None or workspace.client_id == client_id


def _payload(message: SlackMessage) -> dict[str, Any]:
    return {"text": message.text, "blocks": message.blocks}


# --- Streaming an answer ------------------------------------------------------------------------------------


class AnswerStream:
    """Streams one answer's text into its thread, then shows the final message there.

    Text is sent only up to its last whitespace, so that no URL, `&lt;` entity or `@here` is split between
    two pieces. Each piece passes `sanitize_answer_markdown` with no allowed URL, so streamed text links
    nowhere and mentions nobody. The first piece carries the Stop button. After a stream call fails, no
    more text is streamed, and `finish` updates the stream's message, or posts the final message when no
    stream started.
    """

    def __init__(
        self, client: AsyncWebClient, thread: AnswerThread, *, on_stopped_by_user: Callable[[], object]
    ) -> None:
        self._client = client
        self._thread = thread
        self._on_stopped_by_user = on_stopped_by_user
        self._stream: AsyncChatStream | None = None
        self._pending = ""
        self._streamed_chars = 0
        self._failed = False
        self._finishing = False

    @property
    def ts(self) -> str | None:
        """The stream message's timestamp, or None before the first piece started the stream."""
        return self._stream.ts if self._stream is not None else None

    async def append(self, text: str) -> None:
        """Buffer the model's `text` and stream the part that is ready; a failed Slack call is not raised."""
        if self._failed or self._streamed_chars >= MAX_STREAMED_CHARS:
            return
        self._pending += text
        piece = self._take_piece()
        if piece:
            await self._send(piece)

    def _take_piece(self) -> str:
        """Remove and return the buffered text up to its last whitespace, once enough of it is buffered."""
        end = _end_of_last_whitespace(self._pending)
        piece = self._pending[:end]
        if not piece.strip():
            return ""
        if self._stream is not None and len(piece) < STREAM_FLUSH_CHARS:
            return ""
        self._pending = self._pending[end:]
        return piece

    async def _send(self, piece: str) -> None:
        # Cutting here cannot split a link or a mention, because the sanitized text contains none and no
        # text is streamed after the cut.
        markdown = sanitize_answer_markdown(piece, allowed_urls=())[: MAX_STREAMED_CHARS - self._streamed_chars]
        self._streamed_chars += len(markdown)
        try:
            if self._stream is None:
                # With a buffer of 1 the SDK sends each append at once, as one Slack call.
                self._stream = await self._client.chat_stream(
                    buffer_size=1,
                    channel=self._thread.channel_id,
                    thread_ts=self._thread.thread_ts,
                    recipient_team_id=self._thread.recipient_team_id,
                    recipient_user_id=self._thread.recipient_user_id,
                )
                # NOTE: Slack documents `blocks` chunks for streams, but whether it shows a button in one has
                # not been tried against Slack. When it rejects the chunk, the stream never starts and the
                # answer is posted as a normal message.
                stop = BlocksChunk(blocks=_stop_blocks(self._thread.key))
                await self._stream.append(chunks=[stop, MarkdownTextChunk(text=markdown)])
            else:
                await self._stream.append(markdown_text=markdown)
        except SLACK_CALL_ERRORS as error:
            self._fail(error)

    def _fail(self, error: Exception) -> None:
        self._failed = True
        code = _error_code(error)
        logger.warning(
            "Houston stream failed (channel %s, thread %s, stream %s, error %s)",
            self._thread.channel_id,
            self._thread.thread_ts,
            self.ts,
            code,
        )
        if code == STOPPED_BY_USER and not self._finishing:
            self._on_stopped_by_user()

    async def finish(self, message: SlackMessage) -> None:
        """Show `message` as the answer: in the stream's message when a stream started, else as a new one."""
        self._finishing = True
        ts = self.ts
        if ts is None:
            await _post(self._client, self._thread.channel_id, self._thread.thread_ts, message)
            return
        if not self._failed and await self._stop(message):
            # The stopped message already ends with the final blocks, so when the update fails, it only
            # keeps the streamed text above them.
            await self._update(ts, message)
            return
        if not await self._update(ts, message):
            await _post(self._client, self._thread.channel_id, self._thread.thread_ts, message)

    async def close(self) -> None:
        """Stop a started stream without a final message, so that Slack does not keep it open."""
        self._finishing = True
        if self._stream is None or self.ts is None or self._failed:
            return
        try:
            await self._stream.stop()
        except SLACK_CALL_ERRORS as error:
            self._fail(error)

    async def _stop(self, message: SlackMessage) -> bool:
        assert self._stream is not None
        try:
            await self._stream.stop(blocks=message.blocks)
        except SLACK_CALL_ERRORS as error:
            self._fail(error)
            return False
        return True

    async def _update(self, ts: str, message: SlackMessage) -> bool:
        try:
            await self._client.chat_update(
                channel=self._thread.channel_id, ts=ts, text=message.text, blocks=message.blocks
            )
        except SLACK_CALL_ERRORS as error:
            logger.warning(
                "Houston answer not updated (channel %s, message %s, error %s)",
                self._thread.channel_id,
                ts,
                _error_code(error),
            )
            return False
        return True


def _end_of_last_whitespace(text: str) -> int:
    """Return the index just after the last whitespace character of `text`, or 0 when it has none."""
    for index in range(len(text) - 1, -1, -1):
        if text[index].isspace():
            return index + 1
    return 0


def _stop_blocks(thread_id: str) -> list[dict[str, Any]]:
    # TODO: build this button in views/houston.py with Houston's other blocks and copy.
    button = {
        "type": "button",
        "action_id": STOP_ACTION,
        "text": {"type": "plain_text", "text": STOP_LABEL},
        "value": thread_id,
    }
    return [{"type": "actions", "block_id": STOP_BLOCK_ID, "elements": [button]}]


# --- Earlier messages of a thread ---------------------------------------------------------------------------


async def _read_earlier_messages(
    client: AsyncWebClient, context: AsyncBoltContext, *, channel_id: str, thread_ts: str, mention_ts: str
) -> str | None:
    """Quote the thread's messages before the mention for the model; None when there are none or reading fails."""
    try:
        response = await client.conversations_replies(channel=channel_id, ts=thread_ts, limit=THREAD_HISTORY_LIMIT)
    except SLACK_CALL_ERRORS as error:
        # NOTE: Slack's conversations.replies page states that bot tokens cannot read threads in public or
        # private channels, which has not been tried against Slack. The question then goes without the thread.
        logger.info(
            "Houston thread not read (channel %s, thread %s, error %s)", channel_id, thread_ts, _error_code(error)
        )
        return None
    messages = response.get("messages")
    if not isinstance(messages, list):
        return None
    own_ids = {value for value in (context.bot_user_id, context.bot_id) if value}
    return thread_context_text(messages, own_ids=own_ids, skip_ts=mention_ts)


def thread_context_text(messages: Sequence[Any], *, own_ids: Collection[str], skip_ts: str) -> str | None:
    """Quote a thread's messages as plain text under "Earlier in this thread:", one "- <user>: <text>" each.

    The message at `skip_ts` (the question itself) and messages whose `user` or `bot_id` is in `own_ids`
    (the bot's own) are left out; None when nothing is left. Each message is cut to 500 characters. When
    the whole text would pass 3,000 characters, the thread's first message and the latest that fit are kept.
    """
    lines = [line for line in (_quoted_line(message, own_ids, skip_ts) for message in messages) if line]
    if not lines:
        return None
    room = MAX_THREAD_CONTEXT_CHARS - len(THREAD_CONTEXT_HEADER) - 1
    return "\n".join([THREAD_CONTEXT_HEADER, *_fit_lines(lines, room)])


def _quoted_line(message: Any, own_ids: Collection[str], skip_ts: str) -> str | None:
    if not isinstance(message, Mapping) or message.get("ts") == skip_ts:
        return None
    if {message.get("user"), message.get("bot_id")} & set(own_ids):
        return None
    text = " ".join(unescape_mrkdwn(str(message.get("text") or "")).split())
    if not text:
        return None
    author = message.get("user") or message.get("username") or message.get("bot_id") or "unknown"
    return f"- {author}: {truncate(text, MAX_THREAD_MESSAGE_CHARS)}"


def _fit_lines(lines: list[str], room: int) -> list[str]:
    """Keep `lines` within `room` characters, counting a newline each: the first line and the latest that fit."""
    if sum(len(line) + 1 for line in lines) <= room:
        return lines
    first, rest = lines[0], lines[1:]
    budget = room - (len(first) + 1) - (len(THREAD_CONTEXT_OMITTED.format(count=len(rest))) + 1)
    latest: list[str] = []
    for line in reversed(rest):
        if len(line) + 1 > budget:
            break
        latest.insert(0, line)
        budget -= len(line) + 1
    return [first, THREAD_CONTEXT_OMITTED.format(count=len(rest) - len(latest)), *latest]


# --- Feedback -----------------------------------------------------------------------------------------------


async def on_feedback(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], context: AsyncBoltContext, respond: AsyncRespond
) -> None:
    await ack()
    houston = services_of(context).houston
    team_id = await team_key(context)
    if houston is None or team_id is None:
        return
    value = FEEDBACK_ACTIONS.get(action.get("action_id", ""), "")
    stored = await houston.record_feedback(
        key=str(action.get("value")), team_id=team_id, user_id=body["user"]["id"], value=value
    )
    logger.info("Houston feedback (team %s, user %s, value %s, stored %s)", team_id, body["user"]["id"], value, stored)
    if stored:
        await respond(response_type="ephemeral", replace_original=False, text=FEEDBACK_THANKS)


# --- The switch in App Home -------------------------------------------------------------------------------


async def on_toggle(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    workspace = await workspace_of(context)
    houston = services_of(context).houston
    if workspace is None or houston is None or not houston.configured:
        return
    user_id = body["user"]["id"]
    cache = services_of(context).admin_cache
    permission = await check_permission(client=client, cache=cache, workspace=workspace, user_id=user_id)
    if not permission.can_manage:
        if body.get("trigger_id"):
            await client.views_open(trigger_id=body["trigger_id"], view=refusal_modal(managers_hint(workspace)))
        return
    enabled = action.get("value") == "on"
    storage, now = storage_of(context), clock_of(context).now()
    await storage.workspaces.set_houston_enabled(workspace.team_id, enabled, now=now)
    await storage.audit.record(
        team_id=workspace.team_id,
        user_id=user_id,
        action="turned on" if enabled else "turned off",
        target=f"Houston (model endpoint {houston.endpoint})",
        before={"houston_enabled": workspace.houston_enabled},
        after={"houston_enabled": enabled},
        now=now,
    )
    logger.info("Houston switched (team %s, user %s, enabled %s)", workspace.team_id, user_id, enabled)
    await refresh_home(body, client, context)
