"""Many distinct outlier events for load scenarios, and a way to tell which event a Slack message announced."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from tests.conftest import load_example
from tests.slack_emulator import PostedMessage

# Each generated event names itself in its outlier definition, which the alert message's blocks show.
DEFINITION_PATTERN = re.compile(r"Load check ([a-z0-9-]+)")


def client_of(number: int, clients: int) -> str:
    return f"cl-load-{number % clients:02d}"


def outlier_events(count: int, *, clients: int = 1, prefix: str = "run") -> list[dict[str, Any]]:
    """Return `count` outlier events with distinct ids and outlier ids, spread round-robin over `clients`."""
    template = load_example("outlier_detected.json")
    events = []
    for number in range(count):
        key = f"{prefix}-{number:05d}"
        data = {**template["data"], "outlier_id": f"out-{key}", "definition": f"Load check {key}"}
        events.append({**template, "id": f"evt-{key}", "client_id": client_of(number, clients), "data": data})
    return events


def load_rules_seed(*, clients: int, channel_prefix: str = "C0LOAD") -> str:
    """Return a seed file with one outlier rule per client, each to its own channel."""
    lines = ["rules:"]
    for number in range(clients):
        lines.append(
            f"  - {{channel: {channel_prefix}{number:02d}, type: outlier_alerts, client_id: cl-load-{number:02d}}}"
        )
    return "\n".join(lines) + "\n"


def messages_per_event(messages: list[PostedMessage]) -> Counter[str]:
    """Count the posted messages of each generated event, by its key."""
    counts: Counter[str] = Counter()
    for message in messages:
        match = DEFINITION_PATTERN.search(json.dumps(message.blocks or []))
        if match:
            counts[match.group(1)] += 1
    return counts
