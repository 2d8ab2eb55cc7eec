"""`missioncontrol send-event`: sign a file of events and POST it, as the platform would."""

from __future__ import annotations

import json
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from bot.settings import Settings
from bot.signing import signed_headers

REQUEST_TIMEOUT_SECONDS = 30
MAX_EVENT_ID_LENGTH = 128


def with_new_ids(document: Any) -> Any:
    """Give each event a fresh id, keeping the old one as a readable prefix."""
    for event in _events_of(document):
        suffix = "-" + secrets.token_hex(4)
        base = str(event.get("id", "evt"))[: MAX_EVENT_ID_LENGTH - len(suffix)]
        event["id"] = base + suffix
    return document


def with_current_time(document: Any) -> Any:
    """Set each event's `occurred_at` to now, so routing does not skip it as older than stored state."""
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    for event in _events_of(document):
        event["occurred_at"] = stamp
    return document


def _events_of(document: Any) -> list[dict[str, Any]]:
    events = document.get("events") if isinstance(document, dict) and "events" in document else [document]
    return [event for event in events if isinstance(event, dict)] if isinstance(events, list) else []


def read_body(path: str, *, new_id: bool, now: bool = False, stdin: TextIO | None = None) -> bytes:
    raw = (stdin or sys.stdin).read() if path == "-" else Path(path).read_text(encoding="utf-8")
    if not (new_id or now):
        return raw.encode("utf-8")
    document = json.loads(raw)
    if new_id:
        document = with_new_ids(document)
    if now:
        document = with_current_time(document)
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


async def send_event_file(
    settings: Settings, path: str, *, url: str | None, new_id: bool, now: bool = False, stdout: TextIO | None = None
) -> int:
    out = stdout or sys.stdout
    target = url or f"http://127.0.0.1:{settings.PORT}/platform/events"
    try:
        body = read_body(path, new_id=new_id, now=now)
    except OSError as error:
        print(f"missioncontrol: cannot read {path}: {error.strerror}.", file=sys.stderr)
        return 2
    except json.JSONDecodeError as error:
        print(
            f"missioncontrol: {path} is not valid JSON ({error}); --new-id and --now need valid JSON.", file=sys.stderr
        )
        return 2
    if settings.uses_local_events_secret:
        print(
            "missioncontrol: MISSIONCONTROL_EVENTS_SECRET is not set; signing with the local development secret.",
            file=sys.stderr,
        )
    headers = signed_headers(settings.events_secrets[0], body, now=time.time())
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(target, data=body, headers=headers) as response:
                text = await response.text()
                status = response.status
    except (aiohttp.ClientError, TimeoutError) as error:
        print(
            f"missioncontrol: cannot POST to {target} ({type(error).__name__}): is `missioncontrol serve` running?",
            file=sys.stderr,
        )
        return 1
    out.write(f"{status}\n{_pretty(text)}\n")
    return 0 if 200 <= status < 300 else 1


def _pretty(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text
