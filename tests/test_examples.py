"""Checks that the example events and the local-mode seed file agree with the event schema and each other."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from storage.events_schema import (
    EVENT_TYPES,
    EventBatch,
    OutlierDetectedEvent,
    PlatformEvent,
    Severity,
    TaskFailedEvent,
    TaskState,
    event_adapter,
)
from storage.models import ROUTED_EVENT_TYPES, NotificationType

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"
EVENTS_DIR = EXAMPLES_DIR / "events"
SEED_FILE = EXAMPLES_DIR / "seed.yaml"

EVENT_FILES = sorted(EVENTS_DIR.glob("*.json"))
WORKSPACE_KEYS = {"team_id", "name", "agency_id", "client_id"}
RULE_KEYS = {"id", "team_id", "channel", "type", "client_id", "min_severity"}
CHANNEL_ID = re.compile(r"^C[A-Z0-9]+$")


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _parse_events(body: Any) -> list[PlatformEvent]:
    """Validate a request body in either form and return its events."""
    if isinstance(body, dict) and "events" in body:
        return list(EventBatch.model_validate(body).events)
    return [event_adapter.validate_python(body)]


def _raw_example_events() -> list[tuple[str, Any]]:
    """Return every example event as parsed JSON, labelled with its file name and, in a batch, its index.

    The events are not validated here, so that an invalid file fails its own test instead of collection.
    """
    labelled: list[tuple[str, Any]] = []
    for path in EVENT_FILES:
        body = _load_json(path)
        if isinstance(body, dict) and "events" in body:
            labelled.extend((f"{path.name}[{index}]", event) for index, event in enumerate(body["events"]))
        else:
            labelled.append((path.name, body))
    return labelled


def _load_seed() -> dict[str, Any]:
    seed = yaml.safe_load(SEED_FILE.read_text(encoding="utf-8"))
    assert isinstance(seed, dict), "seed.yaml must be a mapping with workspaces and rules"
    return seed


def _is_posted(raw_event: Any) -> bool:
    """Tell whether the event posts a message at all. Private notes are stored but never posted."""
    if raw_event.get("type") not in ROUTED_EVENT_TYPES:
        return False
    return raw_event.get("data", {}).get("private", False) is not True


def _rule_matches(rule: dict[str, Any], workspace: dict[str, Any], event: PlatformEvent) -> bool:
    """Decide whether one seed rule of one seed workspace would route the event.

    The check restates the routing contract without using the bot's router. The workspace belongs to
    the event's agency, and a client workspace receives only its own client's events. The rule's client
    is null (all clients) or the event's client, and an outlier meets the rule's minimum severity.
    """
    if workspace["agency_id"] != event.agency_id:
        return False
    if workspace["client_id"] is not None and workspace["client_id"] != event.client_id:
        return False
    if rule["type"] != ROUTED_EVENT_TYPES[event.type].value:
        return False
    if rule["client_id"] is not None and rule["client_id"] != event.client_id:
        return False
    min_severity = rule.get("min_severity")
    if min_severity is not None and isinstance(event, OutlierDetectedEvent):
        return event.data.severity.rank >= Severity(min_severity).rank
    return True


POSTED_EXAMPLES = [(label, raw_event) for label, raw_event in _raw_example_events() if _is_posted(raw_event)]


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_example_file_validates(path: Path) -> None:
    events = _parse_events(_load_json(path))

    assert events, f"{path.name} contains no events"


def test_batch_example_size() -> None:
    body = _load_json(EVENTS_DIR / "batch.json")

    assert 3 <= len(body["events"]) <= 5
    assert len({event["type"] for event in body["events"]}) > 1


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_has_example(event_type: str) -> None:
    path = EVENTS_DIR / f"{event_type.replace('.', '_')}.json"

    assert path.is_file(), f"missing example file {path.name}"
    events = _parse_events(_load_json(path))
    assert [event.type for event in events] == [event_type]


def test_dead_letter_example_state() -> None:
    (event,) = _parse_events(_load_json(EVENTS_DIR / "task_dead_letter.json"))

    assert isinstance(event, TaskFailedEvent)
    assert event.data.state is TaskState.DEAD_LETTER


def test_example_event_ids_unique() -> None:
    ids = [raw_event["id"] for _, raw_event in _raw_example_events()]

    assert len(ids) == len(set(ids)), "an id used twice would be a duplicate when the examples are sent"


def test_seed_structure() -> None:
    seed = _load_seed()

    assert set(seed) == {"workspaces", "rules"}
    for workspace in seed["workspaces"]:
        assert set(workspace) - {"digest"} == WORKSPACE_KEYS, workspace
    team_ids = {workspace["team_id"] for workspace in seed["workspaces"]}
    for rule in seed["rules"]:
        assert set(rule) <= RULE_KEYS, rule
        assert rule["team_id"] in team_ids, rule
        assert CHANNEL_ID.match(rule["channel"]), rule


def test_seed_loads_with_bot_parser() -> None:
    # The bot's own seed parser is the authority on the format; the checks above read the YAML directly.
    from bot.seed import load_seed_file

    seed = load_seed_file(EXAMPLES_DIR / "seed.yaml")
    assert seed.workspaces[0].digest is not None
    assert seed.workspaces[0].digest.enabled


def test_seed_rule_types_valid() -> None:
    rules = _load_seed()["rules"]

    rule_types = {NotificationType(rule["type"]) for rule in rules}
    assert rule_types == set(NotificationType), "the seed should show one rule for every notification type"


def test_seed_min_severity_outliers_only() -> None:
    for rule in _load_seed()["rules"]:
        if "min_severity" not in rule:
            continue
        assert rule["type"] == NotificationType.OUTLIER_ALERTS.value, rule
        Severity(rule["min_severity"])  # raises ValueError on an unknown level


@pytest.mark.parametrize(
    "raw_event",
    [raw_event for _, raw_event in POSTED_EXAMPLES],
    ids=[label for label, _ in POSTED_EXAMPLES],
)
def test_routed_example_matches_seed_rule(raw_event: Any) -> None:
    event = event_adapter.validate_python(raw_event)
    seed = _load_seed()
    workspaces = {workspace["team_id"]: workspace for workspace in seed["workspaces"]}

    matching = [rule for rule in seed["rules"] if _rule_matches(rule, workspaces[rule["team_id"]], event)]

    assert matching, f"{event.type} {event.id} for client {event.client_id} matches no rule in seed.yaml"


def test_routed_examples_cover_every_routed_type() -> None:
    posted_types = {raw_event["type"] for _, raw_event in POSTED_EXAMPLES}

    assert posted_types == set(ROUTED_EVENT_TYPES)
