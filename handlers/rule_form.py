"""The rule modal's submitted or current values, read from `view.state.values` and `private_metadata`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from storage.events_schema import Severity
from storage.models import NotificationType
from views.ids import (
    ALL_CLIENTS_VALUE,
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    CLIENT_ACTION,
    CLIENT_BLOCK,
    SEVERITY_ACTION,
    SEVERITY_BLOCK,
    TYPE_ACTION,
    TYPE_BLOCK,
)
from views.rule_burst import BURST_THRESHOLD_ACTION, BURST_THRESHOLD_BLOCK, BURST_WINDOW_ACTION, BURST_WINDOW_BLOCK


@dataclass(frozen=True)
class RuleForm:
    """What the user chose; None where nothing (or nothing valid) was chosen. `client_id` None = all."""

    rule_id: str | None
    channel_id: str | None
    type: NotificationType | None
    client_id: str | None
    min_severity: Severity | None
    burst_threshold: int | None = None
    burst_window_seconds: int | None = None


def parse_rule_form(view: dict[str, Any]) -> RuleForm:
    values = (view.get("state") or {}).get("values") or {}
    try:
        metadata = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        metadata = {}
    client = _selected(values, CLIENT_BLOCK, CLIENT_ACTION)
    return RuleForm(
        rule_id=metadata.get("rule_id") if isinstance(metadata.get("rule_id"), str) else None,
        channel_id=_selected(values, CHANNEL_BLOCK, CHANNEL_ACTION),
        type=_enum(NotificationType, _selected(values, TYPE_BLOCK, TYPE_ACTION)),
        client_id=None if client in (None, ALL_CLIENTS_VALUE) else client,
        min_severity=_enum(Severity, _selected(values, SEVERITY_BLOCK, SEVERITY_ACTION)),
        burst_threshold=_number(_selected(values, BURST_THRESHOLD_BLOCK, BURST_THRESHOLD_ACTION)),
        burst_window_seconds=_number(_selected(values, BURST_WINDOW_BLOCK, BURST_WINDOW_ACTION)),
    )


def _selected(values: dict[str, Any], block_id: str, action_id: str) -> str | None:
    option = ((values.get(block_id) or {}).get(action_id) or {}).get("selected_option") or {}
    value = option.get("value")
    return value if isinstance(value, str) and value else None


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _enum(kind: Any, value: str | None) -> Any:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None
