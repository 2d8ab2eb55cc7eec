"""manifest.yml: valid for Slack, and every subscribed event and command has a listener."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import jsonschema
import pytest
import yaml
from slack_sdk.signature import SignatureVerifier

from bot.cli import manifest_for
from tests.conftest import ROOT, SIGNING_SECRET, TEAM_ID, BotFactory, single_workspace_env
from tests.slack_emulator import SlackEmulator

# Slack's published manifest schema is not copied into this repository; it sits beside the checkout.
SCHEMA_PATH = ROOT.parent / "shared" / "slack" / "manifest.schema.json"


def load_manifest() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "manifest.yml").read_text(encoding="utf-8"))


def test_manifest_matches_slack_schema() -> None:
    if not SCHEMA_PATH.exists():
        pytest.skip(f"Slack's manifest schema is not at {SCHEMA_PATH}")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    errors = [error.message for error in jsonschema.Draft7Validator(schema).iter_errors(load_manifest())]
    assert errors == []


def test_manifest_for_replaces_every_url() -> None:
    text = manifest_for("https://bot.acme.example/")
    assert "missioncontrol.example.com" not in text
    manifest = yaml.safe_load(text)
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://bot.acme.example/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == "https://bot.acme.example/slack/events"


def slack_headers(body: str, content_type: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=timestamp, body=body)
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
        "Content-Type": content_type,
    }


def event_callback(event_type: str) -> dict[str, Any]:
    # Subscriptions such as message.channels deliver events of type "message" with a channel type.
    kind, _, channel_type = event_type.partition(".")
    event: dict[str, Any] = {"type": kind, "user": "U0USER", "event_ts": "1764580000.000100"}
    if kind == "app_mention":
        event.update(channel="C0OPS", ts="1764580000.000100", text="<@U0BOT> hello")
    if kind == "message":
        event.update(channel="C0OPS", channel_type={"im": "im", "groups": "group"}.get(channel_type, "channel"))
        event.update(ts="1764580000.000100", text="hello")
    if event_type == "app_home_opened":
        event["tab"] = "home"
        event["channel"] = "D0HOME"
    if event_type == "tokens_revoked":
        event["tokens"] = {"bot": ["U0BOT"]}
    if event_type in ("channel_rename", "group_rename"):
        event["channel"] = {"id": "C0OPS", "name": "renamed"}
    elif event_type.startswith(("channel_", "group_", "member_")):
        event["channel"] = "C0OPS"
    return {
        "token": "legacy",
        "team_id": TEAM_ID,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": f"Ev{event_type}",
        "event_time": 1764580000,
        "event": event,
    }


@pytest.mark.parametrize("event_type", load_manifest()["settings"]["event_subscriptions"]["bot_events"])
async def test_subscribed_event_has_listener(start_bot: BotFactory, emulator: SlackEmulator, event_type: str) -> None:
    bot = await start_bot(single_workspace_env(emulator))
    body = json.dumps(event_callback(event_type))
    response = await bot.http.post("/slack/events", data=body, headers=slack_headers(body, "application/json"))
    # Bolt answers 404 to an event no listener handles, and Slack retries those.
    assert response.status == 200


async def test_slash_command_answers_help(start_bot: BotFactory, emulator: SlackEmulator) -> None:
    bot = await start_bot(single_workspace_env(emulator))
    response_url = emulator.response_url("help")
    fields = {
        "command": "/missioncontrol",
        "text": "help",
        "team_id": "T0001",
        "user_id": "U0USER",
        "channel_id": "C0OPS",
        "trigger_id": "1.2",
        "response_url": response_url,
    }
    body = urlencode(fields)
    response = await bot.http.post(
        "/slack/events", data=body, headers=slack_headers(body, "application/x-www-form-urlencoded")
    )
    assert response.status == 200
    [answer] = await emulator.wait_for_response("help")
    assert answer["response_type"] == "ephemeral"
    assert "/missioncontrol rules add" in json.dumps(answer["blocks"])


async def test_unsigned_slack_request_is_rejected(start_bot: BotFactory, emulator: SlackEmulator) -> None:
    bot = await start_bot(single_workspace_env(emulator))
    body = json.dumps(event_callback("app_home_opened"))
    headers = slack_headers(body, "application/json") | {"X-Slack-Signature": "v0=" + "0" * 64}
    response = await bot.http.post("/slack/events", data=body, headers=headers)
    assert response.status == 401


async def test_local_mode_slack_endpoint_explains(start_bot: BotFactory) -> None:
    bot = await start_bot()
    response = await bot.http.post("/slack/events", data="{}", headers={"Content-Type": "application/json"})
    assert response.status == 503
    assert "SLACK_BOT_TOKEN" in (await response.json())["error"]


def test_every_scope_and_event_is_explained() -> None:
    manifest = load_manifest()
    guide = (ROOT / "docs" / "slack-app.md").read_text(encoding="utf-8")
    for scope in manifest["oauth_config"]["scopes"]["bot"]:
        assert f"`{scope}`" in guide, scope
    for event in manifest["settings"]["event_subscriptions"]["bot_events"]:
        assert f"`{event}`" in guide, event


def test_oauth_scopes_match_manifest() -> None:
    from bot.slack_setup import BOT_SCOPES

    assert sorted(BOT_SCOPES) == sorted(load_manifest()["oauth_config"]["scopes"]["bot"])
