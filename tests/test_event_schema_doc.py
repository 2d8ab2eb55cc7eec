"""docs/platform-events.schema.json is generated from the pydantic models and must not drift from them."""

from __future__ import annotations

import json

import jsonschema
import pytest

from storage.events_schema import platform_events_json_schema
from tests.conftest import EXAMPLES, ROOT

SCHEMA_FILE = ROOT / "docs" / "platform-events.schema.json"


def test_schema_file_is_current() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == platform_events_json_schema(), (
        "docs/platform-events.schema.json is out of date: run "
        "`missioncontrol schema --output docs/platform-events.schema.json`"
    )


@pytest.mark.parametrize("path", sorted((EXAMPLES / "events").glob("*.json")), ids=lambda path: path.name)
def test_examples_match_json_schema(path: object) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))  # type: ignore[attr-defined]
    jsonschema.Draft202012Validator(platform_events_json_schema()).validate(document)
