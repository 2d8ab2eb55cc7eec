"""Requests as Slack sends them to `/slack/events`: signed, with the payload shapes of each kind.

Events are JSON; slash commands are form fields; interactions (block actions, view submissions, options)
are a form with one `payload` field holding JSON.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from slack_sdk.signature import SignatureVerifier

from tests.conftest import SIGNING_SECRET, TEAM_ID

_counter = itertools.count(1)


def slack_headers(body: str, content_type: str, *, secret: str = SIGNING_SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature, "Content-Type": content_type}


class SlackClient:
    """Sends requests to the bot as Slack would, for one workspace and one acting user."""

    def __init__(self, http: TestClient, *, team_id: str = TEAM_ID, user_id: str = "U0ADMIN") -> None:
        self.http = http
        self.team_id = team_id
        self.user_id = user_id

    def as_user(self, user_id: str) -> SlackClient:
        return SlackClient(self.http, team_id=self.team_id, user_id=user_id)

    async def _post(self, body: str, content_type: str) -> ClientResponse:
        return await self.http.post("/slack/events", data=body, headers=slack_headers(body, content_type))

    async def event(self, event: dict[str, Any], *, event_id: str | None = None) -> ClientResponse:
        envelope = {
            "token": "legacy",
            "team_id": self.team_id,
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": event_id or f"Ev{next(_counter):08d}",
            "event_time": int(time.time()),
            "event": event,
        }
        return await self._post(json.dumps(envelope), "application/json")

    async def command(self, text: str, *, response_url: str, trigger_id: str = "trigger-command") -> ClientResponse:
        fields = {
            "command": "/missioncontrol",
            "text": text,
            "team_id": self.team_id,
            "user_id": self.user_id,
            "channel_id": "C0OPS",
            "trigger_id": trigger_id,
            "response_url": response_url,
        }
        return await self._post(urlencode(fields), "application/x-www-form-urlencoded")

    async def interaction(self, payload: dict[str, Any]) -> ClientResponse:
        base = {
            "team": {"id": self.team_id, "domain": "emulated"},
            "user": {"id": self.user_id, "team_id": self.team_id},
            "api_app_id": "A0APP",
            "token": "legacy",
        }
        return await self._post(urlencode({"payload": json.dumps(base | payload)}), "application/x-www-form-urlencoded")

    async def home_action(self, action: dict[str, Any], *, home_view: dict[str, Any] | None = None) -> ClientResponse:
        view = {"id": "VHOME", "type": "home", "private_metadata": (home_view or {}).get("private_metadata", "")}
        return await self.interaction(
            {
                "type": "block_actions",
                "trigger_id": f"trigger-{next(_counter)}",
                "container": {"type": "view", "view_id": "VHOME"},
                "view": view,
                "actions": [action],
            }
        )

    async def message_action(self, action: dict[str, Any], *, response_url: str) -> ClientResponse:
        return await self.interaction(
            {
                "type": "block_actions",
                "trigger_id": f"trigger-{next(_counter)}",
                "container": {"type": "message", "message_ts": "1.1", "channel_id": "C0OPS", "is_ephemeral": True},
                "channel": {"id": "C0OPS"},
                "response_url": response_url,
                "actions": [action],
            }
        )

    async def modal_action(self, view: dict[str, Any], action: dict[str, Any]) -> ClientResponse:
        return await self.interaction(
            {
                "type": "block_actions",
                "trigger_id": f"trigger-{next(_counter)}",
                "container": {"type": "view", "view_id": view["id"]},
                "view": view,
                "actions": [action],
            }
        )

    async def options(self, action_id: str, value: str, *, view: dict[str, Any] | None = None) -> ClientResponse:
        block_id = "channel" if action_id == "channel_select" else "client"
        return await self.interaction(
            {
                "type": "block_suggestion",
                "action_id": action_id,
                "block_id": block_id,
                "value": value,
                "view": view or {},
            }
        )

    async def submit(self, view: dict[str, Any], values: dict[str, Any]) -> ClientResponse:
        submitted = {"type": "modal"} | dict(view) | {"state": {"values": values}}
        return await self.interaction({"type": "view_submission", "trigger_id": "trigger-submit", "view": submitted})


def selected(block_id: str, action_id: str, value: str) -> dict[str, Any]:
    """One input's state as Slack reports it for a select with a chosen option."""
    return {block_id: {action_id: {"type": "static_select", "selected_option": {"value": value}}}}


def overflow(action_id: str, value: str) -> dict[str, Any]:
    return {"type": "overflow", "action_id": action_id, "block_id": "b", "selected_option": {"value": value}}


def button(action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "block_id": "b", "value": value}
