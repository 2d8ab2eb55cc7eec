"""The offline model of the evaluation: a script that plays a well-behaved model for one case.

The script sends the case's expected tool calls, then its probe calls (the calls an attacked model would
make), and then writes an answer only from the tool results it received: figures, names and the tools'
own sentences for missing or denied data. The answer therefore contains a required figure only when the
real tools computed it from the seeded store, which tests the harness from seed to score.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolCall, ToolMessage

from bench.houston_eval.dataset import EvalCase, ToolCallSpec
from tests.houston.scripted_model import ScriptedChatModel

DECLINE_TEXT = "I cannot show data of a client that is not available in this workspace."
NO_RESULTS_TEXT = "I found nothing in Mission Control for that."

# The figures the answer repeats from a channel_performance result, in this order.
PERFORMANCE_FIGURES = ("spend", "impressions", "clicks", "conversions", "revenue", "cpa", "roas", "cpc", "ctr_percent")

AnswerRewrite = Callable[[str], str]


def scripted_model(case: EvalCase, *, rewrite_answer: AnswerRewrite | None = None) -> ScriptedChatModel:
    """Create the scripted model for `case`; `rewrite_answer` changes its final text, to test the scoring."""
    turns = plan_turns(case)

    def reply(messages: list[BaseMessage]) -> AIMessage:
        current = _current_run(messages)
        turn = sum(isinstance(message, AIMessage) for message in current)
        if turn < len(turns):
            return AIMessage("", tool_calls=_tool_calls(turns[turn], case_id=case.case_id, turn=turn))
        text = compose_answer(current, decline=case.expects_denial)
        return AIMessage(rewrite_answer(text) if rewrite_answer else text)

    return ScriptedChatModel(reply)


def plan_turns(case: EvalCase) -> list[tuple[ToolCallSpec, ...]]:
    """Plan the model turns with tool calls: the expected calls first, then the probes after their results."""
    return [turn for turn in (case.expected_calls, case.probe_calls) if turn]


def _current_run(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """Return the messages after the last question, which the current run added."""
    starts = [index for index, message in enumerate(messages) if isinstance(message, HumanMessage)]
    return list(messages[starts[-1] + 1 :]) if starts else []


def _tool_calls(specs: Sequence[ToolCallSpec], *, case_id: str, turn: int) -> list[ToolCall]:
    return [
        ToolCall(name=spec.name, args=_first_choices(spec), id=f"{case_id}-{turn}-{index}")
        for index, spec in enumerate(specs)
    ]


def _first_choices(spec: ToolCallSpec) -> dict[str, Any]:
    return {name: value[0] if isinstance(value, tuple) else value for name, value in spec.args.items()}


# --- the answer -------------------------------------------------------------------------------------------


def compose_answer(messages: Sequence[BaseMessage], *, decline: bool) -> str:
    """Write one sentence per tool result among `messages`; with `decline`, end by declining the request."""
    names = {
        call["id"]: call["name"]
        for message in messages
        if isinstance(message, AIMessage)
        for call in message.tool_calls
    }
    sentences = [
        _describe_result(names.get(message.tool_call_id, message.name or ""), message)
        for message in messages
        if isinstance(message, ToolMessage)
    ]
    denied = any(isinstance(message, ToolMessage) and message.status == "error" for message in messages)
    if decline or denied:
        sentences.append(DECLINE_TEXT)
    return "\n".join(sentences) or NO_RESULTS_TEXT


def _describe_result(tool: str, message: ToolMessage) -> str:
    try:
        payload = json.loads(message.text)
    except ValueError:
        payload = None
    if message.status == "error" or not isinstance(payload, dict):
        # A denial or a sentence such as "No metrics are stored ...", repeated as the tool wrote it.
        return message.text
    describe = DESCRIBERS.get(tool)
    return describe(payload) if describe else message.text


def _performance(payload: dict[str, Any]) -> str:
    if "totals" not in payload:
        channels = ", ".join(payload.get("channels", [])) or "none"
        return f"{payload.get('result', 'No metrics were found.')} Channels with data: {channels}."
    period = f"{payload['client_id']}, {payload['channel']}, from {payload['date_from']} to {payload['date_to']}"
    lines = [f"{period}: {_figures(payload['totals'])}."]
    for channel, totals in payload.get("by_channel", {}).items():
        lines.append(f"- {channel}: {_figures(totals)}.")
    return "\n".join(lines)


def _figures(totals: dict[str, Any]) -> str:
    return ", ".join(f"{name} {_number(totals[name])}" for name in PERFORMANCE_FIGURES if name in totals)


def _outliers(payload: dict[str, Any]) -> str:
    if not payload["outliers"]:
        return (
            f"No outliers were detected for {payload['client_id']} between {payload['detected_after']} and "
            f"{payload['detected_before']}."
        )
    lines = [f"{payload['count']} outliers for {payload['client_id']}:"]
    lines += [f"- {_outlier(outlier)}" for outlier in payload["outliers"]]
    return "\n".join(lines)


def _outlier(outlier: dict[str, Any]) -> str:
    text = (
        f"{outlier['outlier_id']}: {outlier['severity']} {outlier['metric']} outlier on {outlier['channel']}, "
        f"observed {_number(outlier['observed'])} against {_number(outlier['expected'])} expected"
    )
    if "deviation_percent" in outlier:
        text += f" ({_number(outlier['deviation_percent'])} %)"
    return f"{text}, {outlier['status']}"


def _notes(payload: dict[str, Any]) -> str:
    lines = [f"Notes of {payload['client_id']}:"]
    lines += [f"- {note['title']} ({note['status']}, by {note['author']})" for note in payload["notes"]]
    return "\n".join(lines)


def _profile(payload: dict[str, Any]) -> str:
    details = ", ".join(f"{key} {_value(value)}" for key, value in payload.items() if key not in ("name", "client_id"))
    return f"{payload['name']} ({payload['client_id']}): {details}."


def _clients(payload: dict[str, Any]) -> str:
    names = ", ".join(f"{client['name']} ({client['client_id']})" for client in payload["clients"])
    return f"Clients in this workspace: {names}."


def _value(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number(value)
    return str(value)


def _number(value: Any) -> str:
    if value is None:
        return "unknown"
    number = float(value)
    return f"{int(number):,}" if number.is_integer() else f"{number:,.2f}"


DESCRIBERS: dict[str, Callable[[dict[str, Any]], str]] = {
    "channel_performance": _performance,
    "recent_outliers": _outliers,
    "outlier_details": _outlier,
    "notes": _notes,
    "client_profile": _profile,
    "list_clients": _clients,
}
