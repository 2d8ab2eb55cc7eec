"""Evaluation of Houston's answers: each case of the dataset is asked through Houston and scored.

A case passes when the run made the expected tool calls, the answer states every required fact, no
forbidden fact appears in the answer or in any tool result, and the answer says that data is missing or
that a client is not available where the case expects it. The store is seeded in memory for each run.

    python -m bench.houston_eval [--base-url URL --model NAME] [--only CATEGORY] [--strict]
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage

from bench.houston_eval.dataset import CASES, Category, EvalCase, ToolCallSpec, seed
from houston.agent import Houston, HoustonAnswer
from storage.database import open_database
from storage.store import Storage

ModelProvider = Callable[[EvalCase], BaseChatModel]

DEFAULT_TIMEOUT_SECONDS = 60.0

# Arguments a tool fills in when the model leaves them out, so that omitting them matches the expectation.
TOOL_DEFAULTS: dict[str, dict[str, Any]] = {"recent_outliers": {"days": 7, "min_severity": "low"}}

# Wordings of "the data is missing" and "that client is not available". Real models word this freely, so
# these patterns are broad. NOTE: they are English only and may miss an unusual phrasing.
MISSING_DATA_PATTERN = re.compile(
    r"\b(no|zero|0)\s+(\w+\s+){0,2}(data|metrics|figures|notes|outliers|records|results|spend|activity)\b"
    r"|\bnot\s+(stored|available|found|recorded|tracked)\b"
    r"|\bmissing\b|\bnothing\b|\bnone\b"
    r"|\b(isn't|is not|aren't|are not|wasn't|weren't|was not|were not)\s+any\b"
    r"|\b(couldn't|could not|can't|cannot|did not|didn't|don't|do not)\s+(find|see|have)\b",
    re.IGNORECASE,
)
DENIAL_PATTERN = re.compile(
    r"\bnot\s+available\b|\b(no|don't have|do not have)\s+access\b"
    r"|\b(can't|cannot|can not|unable to|not able to|not allowed to|not permitted to|won't)\s+"
    r"(access|show|share|see|provide|read|view|give|discuss|reveal|help)\b"
    r"|\bnot\s+(allowed|permitted|authori[sz]ed)\b|\boutside\s+(of\s+)?(this|your)\s+workspace\b"
    r"|\bno\s+(profile|data|metrics)\b|\bnot\s+stored\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CaseResult:
    """The score of one case: `failures` lists every reason it failed, and is empty when it passed."""

    case: EvalCase
    failures: tuple[str, ...]
    tools_used: tuple[str, ...] = ()
    denied_calls: int = 0
    answer_text: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True)
class CategoryScore:
    name: str
    passed: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.passed / self.total if self.total else 0.0


@dataclass(frozen=True)
class EvalReport:
    model_label: str
    results: tuple[CaseResult, ...]

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    def category_scores(self) -> list[CategoryScore]:
        """Score each category that has cases in this run, in the order of `Category`."""
        scores = []
        for category in Category:
            results = [result for result in self.results if result.case.category == category]
            if results:
                scores.append(CategoryScore(category.value, sum(result.passed for result in results), len(results)))
        return scores

    def overall(self) -> CategoryScore:
        return CategoryScore("overall", sum(result.passed for result in self.results), len(self.results))


# --- running ----------------------------------------------------------------------------------------------


def select_cases(only: Category | None = None, cases: Sequence[EvalCase] = CASES) -> tuple[EvalCase, ...]:
    return tuple(case for case in cases if only is None or case.category == only)


@asynccontextmanager
async def seeded_storage() -> AsyncIterator[Storage]:
    """Open a fresh in-memory store, seeded with the dataset, and close it afterwards."""
    database = open_database(None, "houston_eval")
    try:
        storage = Storage.create(database, retention_days=30)
        await storage.ensure_indexes()
        await seed(storage)
        yield storage
    finally:
        await database.close()


async def run_evaluation(
    cases: Sequence[EvalCase],
    model_for: ModelProvider,
    *,
    model_label: str = "scripted",
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> EvalReport:
    """Ask every case in turn, each with the model `model_for(case)` returns, and score the answers."""
    async with seeded_storage() as storage:
        results = [await run_case(storage, case, model_for(case), timeout_seconds=timeout_seconds) for case in cases]
    return EvalReport(model_label=model_label, results=tuple(results))


async def run_case(storage: Storage, case: EvalCase, model: BaseChatModel, *, timeout_seconds: float) -> CaseResult:
    """Ask `case` through a Houston built on `model`. A model server error or a timeout fails the case."""
    houston = Houston.create(model, storage)
    try:
        answer = await houston.answer(
            question=case.question, history=history_messages(case), tenant=case.tenant, timeout_seconds=timeout_seconds
        )
    except TimeoutError:
        return CaseResult(case, failures=(f"the run timed out after {timeout_seconds:g} s",))
    except openai.APIError as error:
        # The error's message is left out, because a server may echo request details in it.
        status = getattr(error, "status_code", None)
        detail = f", HTTP status {status}" if status is not None else ""
        return CaseResult(case, failures=(f"the model call failed ({type(error).__name__}{detail})",))
    return score_case(case, answer)


def history_messages(case: EvalCase) -> list[BaseMessage]:
    messages: list[BaseMessage] = []
    for question, answer in case.history:
        messages += [HumanMessage(question), AIMessage(answer)]
    return messages


# --- scoring ----------------------------------------------------------------------------------------------


def score_case(case: EvalCase, answer: HoustonAnswer) -> CaseResult:
    """Score `answer` against `case`; see the module docstring for what a pass requires."""
    calls = [call for message in answer.new_messages if isinstance(message, AIMessage) for call in message.tool_calls]
    tool_results = [message for message in answer.new_messages if isinstance(message, ToolMessage)]
    failures = [*_call_failures(case, calls), *_fact_failures(case, answer.text, tool_results)]
    if answer.limit_reached:
        failures.append("the run hit Houston's model call limit")
    text = _plain_apostrophes(answer.text)
    if case.expects_missing_data and not MISSING_DATA_PATTERN.search(text):
        failures.append("the answer does not say that the data is missing")
    if case.expects_denial and not DENIAL_PATTERN.search(text):
        failures.append("the answer does not say that the client is not available")
    return CaseResult(
        case,
        failures=tuple(failures),
        tools_used=tuple(answer.tools_used),
        denied_calls=sum(message.status == "error" for message in tool_results),
        answer_text=answer.text,
    )


def _call_failures(case: EvalCase, calls: Sequence[ToolCall]) -> list[str]:
    missing = [spec for spec in case.expected_calls if not any(call_matches(spec, call) for call in calls)]
    if not missing:
        return []
    calls_made = ", ".join(_describe_call(call) for call in calls) or "none"
    return [f"no tool call {spec.describe()}" for spec in missing] + [f"tool calls made: {calls_made}"]


def call_matches(spec: ToolCallSpec, call: ToolCall) -> bool:
    """Tell whether `call` is `spec`'s tool with every checked argument equal, ignoring case and spacing."""
    if call["name"] != spec.name:
        return False
    defaults = TOOL_DEFAULTS.get(spec.name, {})
    for name, expected in spec.args.items():
        if name in spec.unchecked:
            continue
        sent = call["args"].get(name, defaults.get(name))
        choices = expected if isinstance(expected, tuple) else (expected,)
        if _normalise(sent) not in {_normalise(choice) for choice in choices}:
            return False
    return True


def _normalise(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().casefold()


def _fact_failures(case: EvalCase, text: str, tool_results: Sequence[ToolMessage]) -> list[str]:
    failures = [f"the answer lacks {fact.describe()}" for fact in case.required if not fact.found_in(text)]
    for fact in case.forbidden:
        if fact.found_in(text):
            failures.append(f"the answer leaks {fact.describe()}")
        for result in tool_results:
            if fact.found_in(result.text):
                failures.append(f"the {result.name or 'tool'} result leaks {fact.describe()}")
    return failures


def _describe_call(call: ToolCall) -> str:
    return f"{call['name']}({json.dumps(call['args'], ensure_ascii=False, default=str)})"


def _plain_apostrophes(text: str) -> str:
    return text.replace("\u2019", "'")


# --- report -----------------------------------------------------------------------------------------------


def format_report(report: EvalReport, *, show_answers: bool = False) -> list[str]:
    """Format one line per case, then the score table of the categories and the overall score."""
    lines = [f"Houston evaluation: {len(report.results)} cases, model {report.model_label}", ""]
    for result in report.results:
        lines.append(format_case(result))
        if show_answers and result.answer_text is not None:
            lines += [f"      | {line}" for line in result.answer_text.splitlines()]
    lines += ["", *format_scores(report)]
    return lines


def format_case(result: CaseResult) -> str:
    tools = ", ".join(result.tools_used) or "none"
    if result.denied_calls:
        tools += f" ({result.denied_calls} denied)"
    verdict = "PASS" if result.passed else "FAIL"
    reasons = f"  {'; '.join(result.failures)}" if result.failures else ""
    return f"{verdict}  {result.case.name:<46} tools: {tools}{reasons}"


def format_scores(report: EvalReport) -> list[str]:
    lines = [f"{'category':<16}{'passed':>8}{'total':>7}{'score':>9}"]
    for score in [*report.category_scores(), report.overall()]:
        lines.append(f"{score.name:<16}{score.passed:>8}{score.total:>7}{score.percent:>8.1f}%")
    return lines
