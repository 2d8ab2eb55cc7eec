"""Logging set-up: standard error, text or one JSON object per line, no secrets from libraries."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


# The ids a JSON log line carries as fields of their own, so log search can filter on them.
ID_FIELDS = ("team", "channel", "rule", "event", "delivery", "user")
# Log messages name their ids in a trailing group such as "(team T0001, rule rule_ab12)".
_MESSAGE_GROUP = re.compile(r"\(([^()]*)\)")
_MESSAGE_ID = re.compile(r"^(team|channel|rule|event|delivery|user) ([^\s,]+)$")
# A comma-separated list of rule ids, such as "rules rule_a,rule_b", becomes the JSON field `rules`.
_MESSAGE_RULES = re.compile(r"^rules ([^\s,]+(?:,[^\s,]+)*)$")


def log_ids(record: logging.LogRecord, message: str) -> dict[str, str | list[str]]:
    """Collect the ids of a record: from `extra` (`team` or `team_id`, and so on), else from the message.

    A message's list of rules gives the field `rules` (a list), and `rule` too when it names one rule.
    """
    ids: dict[str, str | list[str]] = {}
    for group in _MESSAGE_GROUP.findall(message):
        for part in group.split(", "):
            found = _MESSAGE_ID.match(part.strip())
            if found:
                ids.setdefault(found.group(1), found.group(2))
            listed = _MESSAGE_RULES.match(part.strip())
            if listed:
                rules = listed.group(1).split(",")
                ids.setdefault("rules", rules)
                if len(rules) == 1:
                    ids.setdefault("rule", rules[0])
    for name in ID_FIELDS:
        value = getattr(record, name, None) or getattr(record, f"{name}_id", None)
        if value is not None:
            ids[name] = str(value)
    return ids


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the ids involved and any exception."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
            **log_ids(record, message),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Query parameters that carry secrets or one-time credentials: install grants, OAuth codes and states.
# Bolt's OAuth flow also writes "code: <code>" when an exchange fails.
_SECRET_QUERY = re.compile(r"\b(grant|code|state|token|client_secret)(=|: )[^&\s\"',]+")


class RedactSecrets(logging.Filter):
    """Replace secret query parameters in any record the handler writes, whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_QUERY.sub(r"\1\2[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


class AccessLogger(AbstractAccessLogger):
    """Logs method, path, status and duration; never the query string, which can carry grants or codes."""

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %d %.1fms (remote %s)", request.method, request.path, response.status, time * 1000, request.remote
        )


def configure_logging(*, level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # slack_sdk's debug log prints request and response bodies, which carry tokens (oauth.v2.access, for
    # one), so it stays at INFO or above whatever LOG_LEVEL says.
    logging.getLogger("slack_sdk").setLevel(max(logging.INFO, logging.getLevelName(level)))
    for noisy in ("pymongo", "mongomock", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
