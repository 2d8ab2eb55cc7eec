"""Log formats: JSON lines carry level, logger, message and the ids involved; text stays the default."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from bot.logs import JsonFormatter, RedactSecrets, configure_logging
from bot.settings import load_settings


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("bot.delivery", logging.INFO, __file__, 1, message, args, None)
    for name, value in extra.items():
        setattr(entry, name, value)
    return entry


def test_json_line_ids_from_message() -> None:
    line = JsonFormatter().format(
        record("Posted message (delivery %s, team %s, channel %s, ts %s)", "d1", "T0001", "C0001", "1.2")
    )
    entry = json.loads(line)

    assert entry["level"] == "INFO"
    assert entry["logger"] == "bot.delivery"
    assert entry["message"] == "Posted message (delivery d1, team T0001, channel C0001, ts 1.2)"
    assert entry["delivery"] == "d1"
    assert entry["team"] == "T0001"
    assert entry["channel"] == "C0001"
    assert "ts" not in entry


def test_json_line_ids_from_extra() -> None:
    entry = json.loads(JsonFormatter().format(record("Rule changed", rule_id="rule_1", event="evt_1", team="T9")))

    assert entry["rule"] == "rule_1"
    assert entry["event"] == "evt_1"
    assert entry["team"] == "T9"


def test_json_line_without_ids() -> None:
    entry = json.loads(JsonFormatter().format(record("Bot started (port %d)", 3000)))

    assert set(entry) == {"time", "level", "logger", "message"}


def test_json_line_exception() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        entry = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    parsed = json.loads(JsonFormatter().format(entry))

    assert "ValueError: boom" in parsed["exception"]


def test_redaction_before_json() -> None:
    entry = record("GET /slack/install?grant=%s", "mcg1.secret")
    RedactSecrets().filter(entry)

    assert "mcg1.secret" not in JsonFormatter().format(entry)


def test_text_format_default(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("slack_sdk").level)
    configure_logging(level="INFO", fmt=load_settings({}).LOG_FORMAT)
    try:
        logging.getLogger("bot.test").info("Started (team %s)", "T0001")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("slack_sdk").setLevel(saved[2])
    line = capsys.readouterr().err.strip()

    assert line.endswith("INFO    bot.test: Started (team T0001)")
    assert not line.startswith("{")


def test_json_line_rules_list() -> None:
    entry = json.loads(JsonFormatter().format(record("Created deliveries (event %s, rules %s)", "e1", "rule_a,rule_b")))

    assert entry["event"] == "e1"
    assert entry["rules"] == ["rule_a", "rule_b"]
    assert "rule" not in entry


def test_json_line_single_rule_list() -> None:
    entry = json.loads(JsonFormatter().format(record("Created deliveries (event %s, rules %s)", "e1", "rule_a")))

    assert entry["rules"] == ["rule_a"]
    assert entry["rule"] == "rule_a"
