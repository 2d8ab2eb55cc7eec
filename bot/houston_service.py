"""Houston for Slack threads: who may ask, which client a thread is about, the run, and the reply to post.

Handlers call `ask` with the question and where it was asked; the service returns the message to post in
the thread (an answer, an error with Retry, or a short notice) and never calls Slack itself. The model's
text reaches the handler's `on_text` callback while an answer runs, and notices never call it.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from bot.clock import Clock
from handlers.services import HoustonRequest
from houston.agent import Houston, HoustonAnswer, TextCallback
from houston.memory import ThreadMemory
from houston.tenant import TenantContext
from storage.houston_threads import thread_key
from storage.models import Workspace
from storage.store import Storage
from views.houston import AnswerFooter, NoticeKind, build_answer_message, build_error_message, build_notice
from views.messages import SlackMessage

logger = logging.getLogger(__name__)

CLIENT_FLAG = re.compile(r"--client\s+(\S+)")
HOUR = 3600.0


@dataclass(frozen=True)
class HoustonLimits:
    per_user_hour: int = 20
    per_workspace_hour: int = 200
    timeout_seconds: float = 60.0


class QuestionQuota:
    """Questions per user and per workspace in the last hour, counted in this process.

    NOTE: each replica counts on its own, so with N replicas the caps are at most N times as high.
    """

    def __init__(self, limits: HoustonLimits) -> None:
        self._limits = limits
        self._asked: dict[str, deque[float]] = defaultdict(deque)

    def blocked_for(self, *, team_id: str, user_id: str, now: float) -> float | None:
        """Return seconds until the user may ask again when a cap is reached, without counting a question."""
        for key, cap in self._keys(team_id, user_id):
            asked = self._asked[key]
            while asked and now - asked[0] >= HOUR:
                asked.popleft()
            if len(asked) >= cap:
                return HOUR - (now - asked[0])
        return None

    def retry_after(self, *, team_id: str, user_id: str, now: float) -> float | None:
        """Count a question; return seconds until the user may ask again when a cap is reached."""
        wait = self.blocked_for(team_id=team_id, user_id=user_id, now=now)
        if wait is None:
            for key, _ in self._keys(team_id, user_id):
                self._asked[key].append(now)
        return wait

    def _keys(self, team_id: str, user_id: str) -> list[tuple[str, int]]:
        return [
            (f"user:{team_id}:{user_id}", self._limits.per_user_hour),
            (f"team:{team_id}", self._limits.per_workspace_hour),
        ]


class HoustonService:
    """Implements the handlers' `HoustonAsker`."""

    def __init__(
        self,
        *,
        storage: Storage,
        houston: Houston | None,
        clock: Clock,
        limits: HoustonLimits,
        endpoint: str,
    ) -> None:
        self._storage = storage
        self._houston = houston
        self._clock = clock
        self._limits = limits
        self._quota = QuestionQuota(limits)
        self._memory = ThreadMemory(storage.houston_threads)
        self.endpoint = endpoint

    @property
    def configured(self) -> bool:
        return self._houston is not None

    async def unavailable(self, *, team_id: str, user_id: str) -> SlackMessage | None:
        """Return the notice to post instead of an answer (Houston off, no model, cap reached), or None."""
        workspace = await self._storage.workspaces.get(team_id)
        if workspace is None or workspace.agency_id is None or not workspace.houston_enabled:
            return build_notice(NoticeKind.DISABLED)
        if self._houston is None:
            return build_notice(NoticeKind.NO_MODEL)
        wait = self._quota.blocked_for(team_id=team_id, user_id=user_id, now=time.monotonic())
        if wait is not None:
            logger.info("Houston question cap reached (team %s, user %s)", team_id, user_id)
            return build_notice(NoticeKind.RATE_LIMITED, retry_at=self._clock.now() + timedelta(seconds=wait))
        return None

    async def ask(self, request: HoustonRequest, on_text: TextCallback | None = None) -> SlackMessage:
        notice = await self.unavailable(team_id=request.team_id, user_id=request.user_id)
        if notice is not None:
            return notice
        workspace = await self._storage.workspaces.get(request.team_id)
        assert workspace is not None  # unavailable() returned None, so it exists
        wait = self._quota.retry_after(team_id=request.team_id, user_id=request.user_id, now=time.monotonic())
        if wait is not None:
            return build_notice(NoticeKind.RATE_LIMITED, retry_at=self._clock.now() + timedelta(seconds=wait))
        history = await self._memory.load(
            team_id=request.team_id, channel_id=request.channel_id, thread_ts=request.thread_ts
        )
        messages = history.messages if history else []
        active = history.active_client_id if history else None
        choice = await self._choose_client(workspace, request, active)
        if isinstance(choice, SlackMessage):
            return choice
        return await self._run(workspace, request, messages, choice, on_text)

    async def _choose_client(
        self, workspace: Workspace, request: HoustonRequest, active: str | None
    ) -> str | SlackMessage | None:
        """Return the thread's client after this question, or a notice to post instead of an answer."""
        if workspace.client_id is not None:
            flag = CLIENT_FLAG.search(request.question)
            if flag and flag.group(1) != workspace.client_id:
                return build_notice(NoticeKind.CLIENT_LOCKED)
            return workspace.client_id
        assert workspace.agency_id is not None
        clients = await self._storage.clients.list_for_agency(workspace.agency_id)
        known = {client.client_id: client.name for client in clients}
        flag = CLIENT_FLAG.search(request.question)
        if flag:
            return flag.group(1)  # the tools answer "not available" for a client outside the account
        if request.client_hint:
            return request.client_hint
        named = _clients_named(request.question, known)
        if len(named) > 1:
            return build_notice(NoticeKind.AMBIGUOUS_CLIENT, names=[f"{known[cid]} ({cid})" for cid in sorted(named)])
        if len(named) == 1:
            return next(iter(named))
        return active

    async def _run(
        self,
        workspace: Workspace,
        request: HoustonRequest,
        history: list[BaseMessage],
        client_id: str | None,
        on_text: TextCallback | None,
    ) -> SlackMessage:
        assert self._houston is not None and workspace.agency_id is not None
        now = self._clock.now()
        tenant = TenantContext(
            team_id=workspace.team_id,
            agency_id=workspace.agency_id,
            allowed_client_ids=frozenset({workspace.client_id}) if workspace.client_id else None,
            active_client_id=client_id,
            user_id=request.user_id,
            today=now.date(),
        )
        key = thread_key(request.team_id, request.channel_id, request.thread_ts)
        question = _model_question(request)
        try:
            answer = await self._houston.answer(
                question=question,
                history=history,
                tenant=tenant,
                timeout_seconds=self._limits.timeout_seconds,
                on_text=on_text,
            )
        except Exception:
            request_id = secrets.token_hex(4)
            # NOTE: the question is kept so Retry can ask it again; the model's partial work is dropped.
            logger.exception(
                "Houston run failed (team %s, user %s, request %s)", request.team_id, request.user_id, request_id
            )
            await self._save(request, [*history, HumanMessage(question)], client_id)
            return build_error_message(request_id=request_id, thread_id=key)
        await self._save(request, [*history, *answer.new_messages], answer.client_id or client_id)
        return build_answer_message(
            markdown=answer.text,
            allowed_urls=answer.urls,
            footer=await self._footer(workspace, answer, now),
            thread_id=key,
        )

    async def _save(self, request: HoustonRequest, messages: list[BaseMessage], client_id: str | None) -> None:
        await self._memory.save(
            team_id=request.team_id,
            channel_id=request.channel_id,
            thread_ts=request.thread_ts,
            messages=messages,
            active_client_id=client_id,
            now=self._clock.now(),
        )

    async def _footer(self, workspace: Workspace, answer: HoustonAnswer, now: datetime) -> AnswerFooter:
        label = None
        if answer.client_id and workspace.agency_id:
            client = await self._storage.clients.get(agency_id=workspace.agency_id, client_id=answer.client_id)
            label = client.name if client else answer.client_id
        return AnswerFooter(
            client_label=label,
            date_window=_date_window(answer.new_messages, now.date()),
            data_as_of=now,
            tools_used=answer.tools_used,
        )

    async def retry(
        self, *, team_id: str, channel_id: str, thread_ts: str, user_id: str, on_text: TextCallback | None = None
    ) -> SlackMessage | None:
        """Ask the thread's last question again, after an error; None when there is nothing to retry."""
        history = await self._memory.load(team_id=team_id, channel_id=channel_id, thread_ts=thread_ts)
        if history is None or not history.messages or not isinstance(history.messages[-1], HumanMessage):
            return None
        question = str(history.messages[-1].content)
        await self._memory.save(
            team_id=team_id,
            channel_id=channel_id,
            thread_ts=thread_ts,
            messages=history.messages[:-1],
            active_client_id=history.active_client_id,
            now=self._clock.now(),
        )
        return await self.ask(
            HoustonRequest(
                team_id=team_id, channel_id=channel_id, thread_ts=thread_ts, user_id=user_id, question=question
            ),
            on_text=on_text,
        )

    async def record_feedback(self, *, key: str, team_id: str, user_id: str, value: str) -> bool:
        return await self._storage.houston_threads.add_feedback(key, team_id, user_id, value, now=self._clock.now())

    async def has_thread(self, *, team_id: str, channel_id: str, thread_ts: str) -> bool:
        return await self._storage.houston_threads.load(thread_key(team_id, channel_id, thread_ts), team_id) is not None


def _model_question(request: HoustonRequest) -> str:
    """Write the question as the model receives it, without `--client` and after the thread's earlier messages."""
    question = CLIENT_FLAG.sub("", request.question).strip() or request.question
    if request.thread_context:
        return f"{request.thread_context}\n\nQuestion: {question}"
    return question


def _clients_named(question: str, known: dict[str, str]) -> set[str]:
    """Find the clients whose id or full name appears in the question, ignoring case."""
    text = question.lower()
    found = set()
    for client_id, name in known.items():
        if re.search(rf"(?<![\w-]){re.escape(client_id.lower())}(?![\w-])", text):
            found.add(client_id)
        elif name and re.search(rf"\b{re.escape(name.lower())}\b", text):
            found.add(client_id)
        elif name and len(name.split()[0]) >= 4 and re.search(rf"\b{re.escape(name.split()[0].lower())}\b", text):
            found.add(client_id)
    return found


def _date_window(messages: list[BaseMessage], today: date) -> tuple[date, date] | None:
    """Take the dates the tools were asked about, so the footer can show the window the answer covers."""
    days: list[date] = []
    for message in messages:
        for call in message.tool_calls if isinstance(message, AIMessage) else []:
            args = call.get("args") or {}
            for name in ("date_from", "date_to", "since"):
                try:
                    days.append(date.fromisoformat(str(args[name])))
                except (KeyError, ValueError):
                    continue
            if isinstance(args.get("days"), int):
                days.extend([today - timedelta(days=int(args["days"])), today])
    return (min(days), max(days)) if days else None
