"""Many distinct outlier events for load scenarios, and a way to tell which event a Slack message announced."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from tests.conftest import RunningBot, load_example
from tests.slack_emulator import PostedMessage

# Far above any scenario's event count, so the burst summary never starts (see `post_every_alert`).
NO_BURST_THRESHOLD = 1_000_000

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


async def post_every_alert(bot: RunningBot) -> None:
    """Raise every rule's burst threshold so each new alert gets a top-level message of its own.

    The load scenarios test the outbox: each accepted event is delivered exactly once. With the default policy
    (threshold 1) a flood of new alerts becomes one post and one summary, and a summary edit cannot show which
    events it counted twice, so the scenarios make every event its own alert and count top-level messages.
    The rule is read from the store for each delivery, so this holds for every instance on the same store.
    """
    rules = bot.runtime.storage.rules
    for rule in await rules.list():
        changed = await rules.set_burst_policy(
            rule.id, window_seconds=rule.burst_window_seconds, threshold=NO_BURST_THRESHOLD, now=bot.runtime.clock.now()
        )
        assert changed, rule.id
    bot.runtime.index.mark_stale()


def messages_per_event(messages: list[PostedMessage]) -> Counter[str]:
    """Count the top-level messages of each generated event, by its key; thread replies are not counted."""
    counts: Counter[str] = Counter()
    for message in messages:
        if message.thread_ts is not None or message.ephemeral_user is not None:
            continue
        match = DEFINITION_PATTERN.search(json.dumps(message.blocks or []))
        if match:
            counts[match.group(1)] += 1
    return counts
