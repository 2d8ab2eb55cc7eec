"""Socket Mode: with SLACK_APP_TOKEN set, Slack traffic arrives over a WebSocket the bot opens.

The emulator answers `apps.connections.open` with a WebSocket on 127.0.0.1 and sends envelopes over it as
Slack does; the bot acknowledges each envelope by its id.
"""

from __future__ import annotations

import json

from tests.conftest import TEAM_ID, BotFactory, single_workspace_env
from tests.slack_emulator import SlackEmulator


async def test_slash_command_over_socket(start_bot: BotFactory, emulator: SlackEmulator) -> None:
    env = single_workspace_env(emulator, SLACK_APP_TOKEN="xapp-test-token")
    del env["SLACK_SIGNING_SECRET"]  # Socket Mode carries all Slack traffic, so no signing secret is needed.
    await start_bot(env)
    command = {
        "command": "/missioncontrol",
        "text": "help",
        "team_id": TEAM_ID,
        "user_id": "U0USER",
        "channel_id": "C0OPS",
        "trigger_id": "1.2",
        "response_url": emulator.response_url("socket"),
    }
    ack = await emulator.send_socket_request("slash_commands", command)
    assert ack["envelope_id"].startswith("envelope-")
    [answer] = await emulator.wait_for_response("socket")
    assert "/missioncontrol rules add" in json.dumps(answer["blocks"])


async def test_app_home_over_socket(start_bot: BotFactory, emulator: SlackEmulator) -> None:
    env = single_workspace_env(emulator, SLACK_APP_TOKEN="xapp-test-token")
    await start_bot(env)
    event = {
        "token": "legacy",
        "team_id": TEAM_ID,
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": "EvSocket1",
        "event_time": 1764580000,
        "event": {"type": "app_home_opened", "user": "U0USER", "tab": "home", "channel": "D0"},
    }
    await emulator.send_socket_request("events_api", event)
    [publish] = await emulator.wait_for_calls("views.publish", 1)
    assert publish.ok
