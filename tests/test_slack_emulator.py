"""Tests for the Slack Web API emulator, driven through slack_sdk's real AsyncWebClient."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from tests.slack_emulator import (
    MAX_MESSAGE_BLOCKS,
    MAX_UPDATE_TEXT,
    MAX_VIEW_BLOCKS,
    MAX_VIEW_BYTES,
    SlackEmulator,
    find_mentions,
    scan_message,
)

TOKEN = "xoxb-test-token"
PROJECT_ROOT = Path(__file__).resolve().parent.parent

CHANNEL_NAMES = {
    "C0001": "general",
    "C0002": "alerts",
    "G0003": "private-ops",
    "C0004": "old-alerts",
    "G0005": "secret",
    "C0006": "not-joined",
    "C0007": "partners",
}


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    async with SlackEmulator(
        member_channels={"C0001", "C0002", "G0003", "C0004", "C0007"},
        archived_channels={"C0004"},
        private_channels={"G0003", "G0005"},
        shared_channels={"C0007"},
        channel_names=CHANNEL_NAMES,
    ) as running:
        yield running


@pytest.fixture
def client(emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=emulator.base_url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(text: str = "Go", *, value: str = "v", action_id: str = "go") -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "value": value,
        "action_id": action_id,
    }


def option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value[:75]}, "value": value}


async def slack_error(call: Any) -> SlackApiError:
    """Await a client call that must fail, and return its SlackApiError."""
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# Authentication


async def test_auth_test_returns_workspace_identity(client: AsyncWebClient) -> None:
    response = await client.auth_test()

    assert response["ok"] is True
    assert response["team_id"] == "T0001"
    assert response["user_id"] == "U0BOT"
    assert response["bot_id"] == "B0BOT"
    assert response["url"].startswith("https://")


async def test_auth_test_token_in_form_body(emulator: SlackEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator.base_url}auth.test", data={"token": TOKEN}) as response:
            body = await response.json()

    assert body["ok"] is True
    call = emulator.calls_to("auth.test")[0]
    assert call.token == TOKEN
    assert "token" not in call.params


async def test_token_in_query_string(emulator: SlackEmulator) -> None:
    async with aiohttp.ClientSession() as session:
        url = f"{emulator.base_url}conversations.info"
        async with session.get(url, params={"token": TOKEN, "channel": "C0001"}) as response:
            body = await response.json()

    assert body["ok"] is True
    assert body["channel"]["name"] == "general"


async def test_invalid_token_invalid_auth(emulator: SlackEmulator) -> None:
    client = AsyncWebClient(token="xoxb-wrong", base_url=emulator.base_url)

    error = await slack_error(client.auth_test())

    assert error.response["error"] == "invalid_auth"
    assert emulator.calls[0].token == "xoxb-wrong"


async def test_missing_token_not_authed(emulator: SlackEmulator) -> None:
    client = AsyncWebClient(token=None, base_url=emulator.base_url)

    error = await slack_error(client.auth_test())

    assert error.response["error"] == "not_authed"


async def test_revoked_token_token_revoked(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.revoked_tokens.add(TOKEN)

    error = await slack_error(client.chat_postMessage(channel="C0001", text="hi"))

    assert error.response["error"] == "token_revoked"


# Messages


async def test_post_message_ts_increases(client: AsyncWebClient) -> None:
    first = await client.chat_postMessage(channel="C0001", text="one")
    second = await client.chat_postMessage(channel="C0001", text="two")

    assert first["channel"] == "C0001"
    assert first["message"]["text"] == "one"
    assert first["message"]["bot_id"] == "B0BOT"
    assert float(second["ts"]) > float(first["ts"])


async def test_post_then_update_changes_message(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0001", text="Outlier open", blocks=[section("open")])

    updated = await client.chat_update(channel="C0001", ts=posted["ts"], text="Outlier resolved")

    assert updated["ts"] == posted["ts"]
    assert updated["text"] == "Outlier resolved"
    [message] = emulator.posted_messages("C0001")
    assert message.text == "Outlier resolved"
    assert message.blocks == [section("open")]
    assert message.update_count == 1


async def test_update_unknown_ts_message_not_found(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_update(channel="C0001", ts="1.000001", text="x"))

    assert error.response["error"] == "message_not_found"


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        pytest.param("C0006", "not_in_channel", id="public-not-member"),
        pytest.param("C0004", "is_archived", id="archived"),
        pytest.param("G0005", "channel_not_found", id="private-not-member"),
        pytest.param("X0001", "channel_not_found", id="bad-prefix"),
        pytest.param("general", "channel_not_found", id="name-not-id"),
    ],
)
async def test_post_message_channel_errors(client: AsyncWebClient, channel: str, expected: str) -> None:
    error = await slack_error(client.chat_postMessage(channel=channel, text="hi"))

    assert error.response.status_code == 200
    assert error.response["error"] == expected


async def test_post_message_to_user_opens_dm(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel="U0123", text="hello")

    assert response["channel"] == "D0123"
    assert [message.channel for message in emulator.posted_messages()] == ["D0123"]


async def test_member_channels_change_during_test(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    assert emulator.member_channels is not None
    emulator.member_channels.discard("C0001")

    error = await slack_error(client.chat_postMessage(channel="C0001", text="hi"))

    assert error.response["error"] == "not_in_channel"


async def test_post_message_without_content_no_text(client: AsyncWebClient) -> None:
    error = await slack_error(client.api_call("chat.postMessage", json={"channel": "C0001"}))

    assert error.response["error"] == "no_text"


async def test_post_ephemeral_records_user(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    response = await client.chat_postEphemeral(channel="C0001", user="U0042", text="only you")

    assert response["message_ts"]
    [message] = emulator.posted_messages()
    assert message.ephemeral_user == "U0042"


async def test_post_ephemeral_without_user_fails(client: AsyncWebClient) -> None:
    error = await slack_error(client.api_call("chat.postEphemeral", json={"channel": "C0001", "text": "x"}))

    assert error.response["error"] == "user_not_found"


async def test_ephemeral_message_cannot_be_updated(client: AsyncWebClient) -> None:
    response = await client.chat_postEphemeral(channel="C0001", user="U0042", text="only you")

    error = await slack_error(client.chat_update(channel="C0001", ts=response["message_ts"], text="x"))

    assert error.response["error"] == "message_not_found"


# Scripted failures


async def test_ratelimited_answers_429_retry_after(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_next("chat.postMessage", retry_after=7)

    error = await slack_error(client.chat_postMessage(channel="C0001", text="hi"))
    retried = await client.chat_postMessage(channel="C0001", text="hi")

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert retried["ok"] is True


async def test_ratelimited_default_retry_after(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_next("chat.postMessage", "ratelimited")

    error = await slack_error(client.chat_postMessage(channel="C0001", text="hi"))

    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "1"


async def test_server_error_json_body(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_next("chat.postMessage", status=500)

    error = await slack_error(client.chat_postMessage(channel="C0001", text="hi"))

    assert error.response.status_code == 500
    assert error.response["error"] == "internal_error"
    assert emulator.calls[0].status == 500


async def test_server_error_html_body(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_next("chat.postMessage", status=503, body="<html>Service Unavailable</html>")

    error = await slack_error(client.chat_postMessage(channel="C0001", text="hi"))

    assert error.response.status_code == 503
    assert error.response.get("error") is None
    assert emulator.calls[0].response == "<html>Service Unavailable</html>"


async def test_fail_next_slack_error_times(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_next("chat.postMessage", "not_in_channel", times=2)

    errors = [await slack_error(client.chat_postMessage(channel="C0001", text="hi")) for _ in range(2)]
    third = await client.chat_postMessage(channel="C0001", text="hi")

    assert [error.response.status_code for error in errors] == [200, 200]
    assert [error.response["error"] for error in errors] == ["not_in_channel", "not_in_channel"]
    assert third["ok"] is True


async def test_fail_next_only_affects_its_method(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_next("chat.update")

    response = await client.chat_postMessage(channel="C0001", text="hi")

    assert response["ok"] is True


def test_fail_next_rejects_zero_times() -> None:
    with pytest.raises(ValueError, match="times"):
        SlackEmulator().fail_next("chat.postMessage", times=0)


# Limits


async def test_message_over_50_blocks_invalid_blocks(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    blocks = [section(f"row {index}") for index in range(MAX_MESSAGE_BLOCKS + 1)]

    error = await slack_error(client.chat_postMessage(channel="C0001", text="x", blocks=blocks))

    assert error.response["error"] == "invalid_blocks"
    assert "json-pointer:/blocks" in error.response["response_metadata"]["messages"][0]
    assert len(emulator.limit_violations) == 1
    assert "at most 50" in emulator.limit_violations[0]
    assert emulator.posted_messages() == []


async def test_message_with_50_blocks_accepted(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    blocks = [section(f"row {index}") for index in range(MAX_MESSAGE_BLOCKS)]

    response = await client.chat_postMessage(channel="C0001", text="x", blocks=blocks)

    assert response["ok"] is True
    assert emulator.limit_violations == []


def section_with_fields(count: int) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * count}


def context_with_elements(count: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * count}


def actions_with_buttons(count: int) -> dict[str, Any]:
    return {"type": "actions", "elements": [button(action_id=f"b{index}") for index in range(count)]}


def overflow_with_options(count: int) -> dict[str, Any]:
    options = [option(f"o{index}") for index in range(count)]
    return {**section("menu"), "accessory": {"type": "overflow", "action_id": "menu", "options": options}}


def select_with_option_value(length: int) -> dict[str, Any]:
    select = {"type": "static_select", "action_id": "pick", "options": [option("v" * length)]}
    return {**section("pick"), "accessory": select}


# Each case builds a block of a given size. A block at the limit is accepted, one past it rejected.
BLOCK_LIMIT_CASES: list[tuple[str, Callable[[int], dict[str, Any]], int, str]] = [
    ("section-text", lambda n: section("x" * n), 3000, "section text: at most 3000"),
    ("section-fields", section_with_fields, 10, "section fields: at most 10"),
    (
        "field-text",
        lambda n: {"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * n}]},
        2000,
        "section field text: at most 2000",
    ),
    (
        "header-text",
        lambda n: {"type": "header", "text": {"type": "plain_text", "text": "x" * n}},
        150,
        "header text: at most 150",
    ),
    ("context-elements", context_with_elements, 10, "context elements: at most 10"),
    ("actions-elements", actions_with_buttons, 25, "actions elements: at most 25"),
    (
        "button-text",
        lambda n: {"type": "actions", "elements": [button("x" * n)]},
        75,
        "button text: at most 75",
    ),
    (
        "button-value",
        lambda n: {"type": "actions", "elements": [button(value="x" * n)]},
        2000,
        "button value: at most 2000",
    ),
    ("block-id", lambda n: {**section("x"), "block_id": "b" * n}, 255, "block_id: at most 255"),
    (
        "action-id",
        lambda n: {"type": "actions", "elements": [button(action_id="a" * n)]},
        255,
        "action_id: at most 255",
    ),
    ("overflow-options", overflow_with_options, 5, "options: at most 5"),
    ("option-value", select_with_option_value, 75, "option value: at most 75"),
]


@pytest.mark.parametrize(
    ("build", "limit", "expected"),
    [pytest.param(build, limit, expected, id=name) for name, build, limit, expected in BLOCK_LIMIT_CASES],
)
async def test_block_limit_enforced(
    emulator: SlackEmulator,
    client: AsyncWebClient,
    build: Callable[[int], dict[str, Any]],
    limit: int,
    expected: str,
) -> None:
    accepted = await client.chat_postMessage(channel="C0001", text="x", blocks=[build(limit)])
    error = await slack_error(client.chat_postMessage(channel="C0001", text="x", blocks=[build(limit + 1)]))

    assert accepted["ok"] is True
    assert error.response["error"] == "invalid_blocks"
    assert len(emulator.limit_violations) == 1
    assert expected in emulator.limit_violations[0]


@pytest.mark.parametrize(
    ("text_object", "expected"),
    [
        pytest.param({"text": "no type"}, "must be a text object with type and text", id="missing-type"),
        pytest.param({"type": "mrkdwn"}, "must be a text object with type and text", id="missing-text"),
        pytest.param({"type": "mrkdwn", "text": ""}, "must not be empty", id="empty-text"),
        pytest.param({"type": "markdown", "text": "x"}, "type must be plain_text or mrkdwn", id="wrong-type"),
    ],
)
async def test_malformed_text_object_rejected(
    emulator: SlackEmulator, client: AsyncWebClient, text_object: dict[str, Any], expected: str
) -> None:
    blocks = [{"type": "section", "text": text_object}]

    error = await slack_error(client.chat_postMessage(channel="C0001", text="x", blocks=blocks))

    assert error.response["error"] == "invalid_blocks"
    assert expected in emulator.limit_violations[0]


async def test_header_rejects_mrkdwn(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    blocks = [{"type": "header", "text": {"type": "mrkdwn", "text": "*bold*"}}]

    error = await slack_error(client.chat_postMessage(channel="C0001", text="x", blocks=blocks))

    assert error.response["error"] == "invalid_blocks"
    assert "header text: type must be plain_text" in emulator.limit_violations[0]


async def test_blocks_json_string_checked(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    too_many = json.dumps([section("x")] * (MAX_MESSAGE_BLOCKS + 1))

    error = await slack_error(client.chat_postMessage(channel="C0001", text="x", blocks=too_many))

    assert error.response["error"] == "invalid_blocks"


async def test_blocks_invalid_json_invalid_blocks_format(client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_postMessage(channel="C0001", text="x", blocks="[{not json"))

    assert error.response["error"] == "invalid_blocks_format"


async def test_update_text_over_4000_msg_too_long(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0001", text="short")

    at_limit = await client.chat_update(channel="C0001", ts=posted["ts"], text="x" * MAX_UPDATE_TEXT)
    error = await slack_error(client.chat_update(channel="C0001", ts=posted["ts"], text="x" * (MAX_UPDATE_TEXT + 1)))

    assert at_limit["ok"] is True
    assert error.response["error"] == "msg_too_long"
    assert "chat.update text: at most 4000" in emulator.limit_violations[0]
    assert len(emulator.posted_messages()[0].text) == MAX_UPDATE_TEXT


async def test_update_checks_blocks(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0001", text="short")

    blocks = [section("x" * 3001)]
    error = await slack_error(client.chat_update(channel="C0001", ts=posted["ts"], text="x", blocks=blocks))

    assert error.response["error"] == "invalid_blocks"
    assert emulator.limit_violations[0].startswith("chat.update:")


async def test_post_text_over_40000_truncated(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    response = await client.chat_postMessage(channel="C0001", text="x" * 40_001)

    assert response["ok"] is True
    assert response["warning"] == "message_truncated"
    assert len(emulator.posted_messages()[0].text) == 40_000
    assert "message_truncated" in emulator.limit_violations[0]


# Views


def modal(title: str = "Add rule", blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "type": "modal",
        "title": {"type": "plain_text", "text": title},
        "blocks": blocks or [section("x")],
    }


async def test_views_publish_stores_home_view(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    view = {"type": "home", "blocks": [section("Connection")]}

    first = await client.views_publish(user_id="U0042", view=view)
    second = await client.views_publish(user_id="U0042", view=view)

    assert first["view"]["id"] == second["view"]["id"]
    assert emulator.home_views["U0042"]["blocks"] == [section("Connection")]


async def test_views_publish_101_blocks_rejected(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    view = {"type": "home", "blocks": [section("x")] * (MAX_VIEW_BLOCKS + 1)}

    error = await slack_error(client.views_publish(user_id="U0042", view=view))

    assert error.response["error"] == "invalid_arguments"
    assert "view blocks: at most 100" in emulator.limit_violations[0]


async def test_views_publish_too_large(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    blocks = [section("x" * 2900)] * 90
    assert len(json.dumps(blocks)) > MAX_VIEW_BYTES

    error = await slack_error(client.views_publish(user_id="U0042", view={"type": "home", "blocks": blocks}))

    assert error.response["error"] == "view_too_large"
    assert "view JSON" in emulator.limit_violations[0]


async def test_views_open_title_limit(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    accepted = await client.views_open(trigger_id="1.2.abc", view=modal("x" * 24))
    error = await slack_error(client.views_open(trigger_id="1.2.abc", view=modal("x" * 25)))

    assert accepted["view"]["id"].startswith("V")
    assert error.response["error"] == "invalid_arguments"
    assert "modal title: at most 24" in emulator.limit_violations[0]


async def test_views_open_input_needs_submit(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    input_block = {
        "type": "input",
        "label": {"type": "plain_text", "text": "Channel"},
        "element": {"type": "plain_text_input", "action_id": "channel"},
    }

    error = await slack_error(client.views_open(trigger_id="1.2.abc", view=modal(blocks=[input_block])))

    assert error.response["error"] == "invalid_arguments"
    assert "modal submit" in emulator.limit_violations[0]


async def test_views_update_replaces_view(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    opened = await client.views_open(trigger_id="1.2.abc", view=modal("Loading"))

    updated = await client.views_update(view_id=opened["view"]["id"], view=modal("Add rule"))

    assert updated["view"]["id"] == opened["view"]["id"]
    assert emulator.views[opened["view"]["id"]]["title"]["text"] == "Add rule"


async def test_views_update_unknown_id_not_found(client: AsyncWebClient) -> None:
    error = await slack_error(client.views_update(view_id="V404", view=modal()))

    assert error.response["error"] == "not_found"


# Mentions


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        pytest.param("Hey <!channel>", "broadcast", id="channel"),
        pytest.param("Hey <!here|here>", "broadcast", id="here-with-label"),
        pytest.param("Hey <!everyone>", "broadcast", id="everyone"),
        pytest.param("Ping <@U0042>", "user", id="user"),
        pytest.param("Ping <@W0042|ann>", "user", id="enterprise-user"),
        pytest.param("Ping <!subteam^S0042|@ops>", "usergroup", id="usergroup"),
        pytest.param("See <https://evil.test|the report>", "link", id="link"),
        pytest.param("Mail <mailto:a@b.test|me>", "link", id="mailto"),
        pytest.param("Go to <#C0001>", "channel", id="channel-link"),
    ],
)
def test_find_mentions_detects(text: str, kind: str) -> None:
    [token] = find_mentions({"text": text})

    assert token in text
    assert [mention.kind for mention in scan_message({"text": text})] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("&lt;!channel&gt; stays text", id="escaped-broadcast"),
        pytest.param("&lt;@U0042&gt; stays text", id="escaped-user"),
        pytest.param("&lt;https://evil.test|x&gt;", id="escaped-link"),
        pytest.param("plain @channel without link_names", id="bare-broadcast"),
        pytest.param("a < b and c > d", id="comparison"),
        pytest.param("<!date^1700000000^{date}|Nov 14>", id="date"),
    ],
)
def test_find_mentions_ignores(text: str) -> None:
    assert find_mentions({"text": text}) == []


def test_find_mentions_in_blocks() -> None:
    payload = {
        "text": "fallback",
        "blocks": [
            section("Owner <@U0042>"),
            {"type": "header", "text": {"type": "plain_text", "text": "<!channel> is plain"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "cc <!here>"}]},
            {
                "type": "rich_text",
                "elements": [{"type": "rich_text_section", "elements": [{"type": "broadcast", "range": "everyone"}]}],
            },
        ],
    }

    assert find_mentions(payload) == ["<@U0042>", "<!here>", "<!everyone>"]


def test_find_mentions_bare_with_link_names() -> None:
    assert find_mentions({"text": "@here look", "link_names": True}) == ["@here"]
    assert find_mentions({"text": "@here look", "parse": "full"}) == ["@here"]
    assert find_mentions({"text": "@here look"}) == []


def test_find_mentions_accepts_blocks_json_string() -> None:
    assert find_mentions({"blocks": json.dumps([section("<!channel>")])}) == ["<!channel>"]
    assert find_mentions({"blocks": "[not json"}) == []


async def test_posted_message_records_mentions(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0001", text="cc <!here>", blocks=[section("&lt;!channel&gt;")])

    [message] = emulator.posted_messages()
    assert [mention.token for mention in message.mentions] == ["<!here>"]
    assert message.mention_kinds == {"broadcast"}
    assert emulator.calls_to("chat.postMessage")[0].mentions == message.mentions


async def test_update_rescans_mentions(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0001", text="cc <!here>")

    await client.chat_update(channel="C0001", ts=posted["ts"], text="resolved")

    assert emulator.posted_messages()[0].mentions == []


# Conversations


async def test_users_conversations_paginates(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.member_channels = {f"C1{index:03d}" for index in range(5)}
    listed: list[str] = []
    page_sizes: list[int] = []

    async for page in await client.users_conversations(limit=2):
        page_sizes.append(len(page["channels"]))
        listed.extend(channel["id"] for channel in page["channels"])

    assert page_sizes == [2, 2, 1]
    assert listed == sorted(emulator.member_channels)
    assert [call.params.get("limit") for call in emulator.calls_to("users.conversations")] == ["2"] * 3


async def test_users_conversations_filters(client: AsyncWebClient) -> None:
    response = await client.users_conversations(
        types="public_channel,private_channel", exclude_archived=True, limit=999
    )

    ids = [channel["id"] for channel in response["channels"]]
    assert ids == ["C0001", "C0002", "C0007", "G0003"]
    assert response["response_metadata"]["next_cursor"] == ""


async def test_users_conversations_default_public_only(client: AsyncWebClient) -> None:
    response = await client.users_conversations()

    assert [channel["id"] for channel in response["channels"]] == ["C0001", "C0002", "C0004", "C0007"]


async def test_users_conversations_invalid_cursor(client: AsyncWebClient) -> None:
    error = await slack_error(client.users_conversations(cursor="%%%"))

    assert error.response["error"] == "invalid_cursor"


async def test_users_conversations_limit_too_high(client: AsyncWebClient) -> None:
    error = await slack_error(client.users_conversations(limit=1000))

    assert error.response["error"] == "invalid_limit"


async def test_conversations_info_flags(client: AsyncWebClient) -> None:
    shared = await client.conversations_info(channel="C0007")
    hidden = await slack_error(client.conversations_info(channel="G0005"))

    assert shared["channel"]["name"] == "partners"
    assert shared["channel"]["is_ext_shared"] is True
    assert hidden.response["error"] == "channel_not_found"


# Recording


async def test_unknown_method_answers_ok(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    response = await client.api_call("reactions.add", json={"channel": "C0001", "name": "eyes"})

    assert response["ok"] is True
    assert emulator.calls_to("reactions.add")[0].params == {"channel": "C0001", "name": "eyes"}


async def test_recorded_call_fields(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    await client.auth_test()
    await client.chat_postMessage(channel="C0001", text="hi")

    first, second = emulator.calls
    assert first.token == TOKEN
    assert second.params == {"channel": "C0001", "text": "hi"}
    assert second.received_at >= first.received_at
    assert isinstance(second.response, dict)
    assert second.response["ts"] == emulator.posted_messages()[0].ts


async def test_clear_keeps_messages_for_updates(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0001", text="hi")
    emulator.fail_next("auth.test")

    emulator.clear()
    updated = await client.chat_update(channel="C0001", ts=posted["ts"], text="edited")
    auth = await client.auth_test()

    assert updated["ok"] is True
    assert auth["ok"] is True
    assert [call.method for call in emulator.calls] == ["chat.update", "auth.test"]
    assert emulator.posted_messages() == []


async def test_invalid_json_body(emulator: SlackEmulator) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator.base_url}chat.postMessage", data="{", headers=headers) as response:
            body = await response.json()

    assert body == {"ok": False, "error": "invalid_json"}
    assert emulator.calls[0].token == TOKEN


async def test_wait_for_calls_returns_when_reached(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    async def post_later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C0001", text="late")

    task = asyncio.create_task(post_later())
    calls = await emulator.wait_for_calls("chat.postMessage", 1, timeout=2.0)
    await task

    assert [call.params["text"] for call in calls] == ["late"]


async def test_wait_for_calls_timeout_names_calls(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    await client.chat_postMessage(channel="C0001", text="one")

    with pytest.raises(TimeoutError) as caught:
        await emulator.wait_for_calls("chat.postMessage", 2, timeout=0.1)

    message = str(caught.value)
    assert "received 1" in message
    assert "chat.postMessage(C0001) ok" in message


# Streaming


async def test_chat_stream_assembles_text(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    parent = await client.chat_postMessage(channel="C0001", text="question")
    stream = await client.chat_stream(
        channel="C0001", thread_ts=parent["ts"], recipient_user_id="U0042", recipient_team_id="T0001"
    )

    await stream.append(markdown_text="Spend rose ")
    await stream.stop(markdown_text="12% <!channel>")

    reply = emulator.posted_messages()[1]
    assert reply.text == "Spend rose 12% <!channel>"
    assert reply.thread_ts == parent["ts"]
    assert reply.streaming is False
    assert reply.mention_kinds == {"broadcast"}


async def test_start_stream_in_channel_needs_recipient(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    error = await slack_error(client.chat_startStream(channel="C0001", thread_ts="1.000001"))

    assert error.response["error"] == "invalid_arguments"
    assert "recipient_user_id" in emulator.limit_violations[0]


async def test_append_after_stop_fails(client: AsyncWebClient) -> None:
    started = await client.chat_startStream(channel="D0042", thread_ts="1.000001", markdown_text="a")
    await client.chat_stopStream(channel="D0042", ts=started["ts"])

    error = await slack_error(client.chat_appendStream(channel="D0042", ts=started["ts"], markdown_text="b"))

    assert error.response["error"] == "message_not_in_streaming_state"


# Workspaces


def client_for(emulator: SlackEmulator, token: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=emulator.base_url)


# NOTE: slack_sdk 3.48's oauth_v2_access builds an aiohttp.BasicAuth, which the installed aiohttp 3.14 reports
# as deprecated, and pytest turns warnings into errors. Only tests that call oauth.v2.access through slack_sdk
# ignore that one warning.
SLACK_SDK_BASIC_AUTH = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")


async def exchange_code(emulator: SlackEmulator, code: str, **kwargs: Any) -> AsyncSlackResponse:
    """Call oauth.v2.access as slack_sdk does: client credentials as HTTP Basic auth, the code as a form field."""
    client = AsyncWebClient(base_url=emulator.base_url)
    return await client.oauth_v2_access(
        client_id=emulator.client_id, client_secret=emulator.client_secret, code=code, **kwargs
    )


async def refresh(emulator: SlackEmulator, refresh_token: str) -> AsyncSlackResponse:
    client = AsyncWebClient(base_url=emulator.base_url)
    return await client.oauth_v2_access(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        grant_type="refresh_token",
        refresh_token=refresh_token,
    )


async def test_add_workspace_generates_bot_token(emulator: SlackEmulator) -> None:
    token = emulator.add_workspace("T0002", team_name="Client Co")

    response = await client_for(emulator, token).auth_test()

    assert token.startswith("xoxb-T0002-")
    assert response["team_id"] == "T0002"
    assert response["team"] == "Client Co"
    assert response["url"] == "https://client-co.slack.com/"
    assert response["user_id"] == "U0BOT"
    assert response["bot_id"] == "B0BOT"
    assert response["is_enterprise_install"] is False
    assert "enterprise_id" not in response


async def test_add_workspace_keeps_given_token(emulator: SlackEmulator) -> None:
    token = emulator.add_workspace("T0002", bot_token="xoxb-client", bot_user_id="U0CLIENTBOT")

    response = await client_for(emulator, token).auth_test()

    assert token == "xoxb-client"
    assert response["user_id"] == "U0CLIENTBOT"
    assert emulator.workspaces["T0002"].bot_user_id == "U0CLIENTBOT"


def test_add_workspace_rejects_registered_team() -> None:
    emulator = SlackEmulator()
    emulator.add_workspace("T0002")

    with pytest.raises(ValueError, match="T0002 is already registered"):
        emulator.add_workspace("T0002")
    with pytest.raises(ValueError, match="T0001 is already registered"):
        emulator.add_workspace("T0001")
    with pytest.raises(ValueError, match="already registered"):
        emulator.add_workspace("T0003", bot_token=TOKEN)
    assert set(emulator.workspaces) == {"T0001", "T0002"}


async def test_auth_test_identity_per_token(emulator: SlackEmulator) -> None:
    agency = emulator.add_workspace("T0002", team_name="Agency")
    grid = emulator.add_workspace("T0003", team_name="Grid Team", enterprise_id="E0001")
    expected = {
        TOKEN: ("T0001", "Emulated Workspace", None),
        agency: ("T0002", "Agency", None),
        grid: ("T0003", "Grid Team", "E0001"),
    }

    for token, (team_id, team_name, enterprise_id) in expected.items():
        response = await client_for(emulator, token).auth_test()
        assert response["team_id"] == team_id
        assert response["team"] == team_name
        assert response.get("enterprise_id") == enterprise_id
        assert response["is_enterprise_install"] is False

    calls = emulator.calls_to("auth.test")
    assert [call.team_id for call in calls] == ["T0001", "T0002", "T0003"]
    assert [call.enterprise_id for call in calls] == [None, None, "E0001"]


async def test_two_workspaces_post_side_by_side(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    other = client_for(emulator, emulator.add_workspace("T0002"))

    first = await client.chat_postMessage(channel="C0001", text="for T0001")
    second = await other.chat_postMessage(channel="C0001", text="for T0002")

    calls = emulator.calls_to("chat.postMessage")
    assert [call.team_id for call in calls] == ["T0001", "T0002"]
    assert first["message"]["team"] == "T0001"
    assert second["message"]["team"] == "T0002"
    assert [message.text for message in emulator.posted_messages(team_id="T0002")] == ["for T0002"]
    assert [message.text for message in emulator.posted_messages("C0001", team_id="T0001")] == ["for T0001"]
    assert len(emulator.posted_messages("C0001")) == 2


async def test_workspace_ids_in_views_and_channels(emulator: SlackEmulator) -> None:
    other = client_for(emulator, emulator.add_workspace("T0002"))

    view = await other.views_publish(user_id="U1", view={"type": "home", "blocks": [section("hi")]})
    channel = await other.conversations_info(channel="C0001")
    user = await other.users_info(user="U1")

    assert view["view"]["team_id"] == "T0002"
    assert channel["channel"]["context_team_id"] == "T0002"
    assert user["user"]["team_id"] == "T0002"


async def test_update_from_other_workspace_not_found(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    other = client_for(emulator, emulator.add_workspace("T0002"))
    posted = await client.chat_postMessage(channel="C0001", text="mine")

    error = await slack_error(other.chat_update(channel="C0001", ts=posted["ts"], text="theirs"))

    assert error.response["error"] == "message_not_found"
    assert emulator.posted_messages()[0].text == "mine"


async def test_unknown_token_recorded_without_team(emulator: SlackEmulator) -> None:
    await slack_error(client_for(emulator, "xoxb-wrong").auth_test())

    call = emulator.calls_to("auth.test")[0]
    assert call.team_id is None
    assert call.enterprise_id is None


async def test_revoke_workspace_revokes_only_its_tokens(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    other_token = emulator.add_workspace("T0002")

    revoked = emulator.revoke_workspace("T0002")
    error = await slack_error(client_for(emulator, other_token).chat_postMessage(channel="C0001", text="hi"))
    response = await client.chat_postMessage(channel="C0001", text="hi")

    assert revoked == {other_token}
    assert error.response["error"] == "token_revoked"
    assert emulator.calls_to("chat.postMessage")[0].team_id == "T0002"
    assert response["ok"] is True


@SLACK_SDK_BASIC_AUTH
async def test_revoke_workspace_covers_constructor_tokens(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    installed = await exchange_code(emulator, emulator.issue_oauth_code("T0001"))

    revoked = emulator.revoke_workspace("T0001")
    error = await slack_error(client.auth_test())

    assert revoked == {TOKEN, installed["access_token"]}
    assert error.response["error"] == "token_revoked"


@SLACK_SDK_BASIC_AUTH
async def test_revoke_workspace_drops_refresh_tokens(emulator: SlackEmulator) -> None:
    installed = await exchange_code(emulator, emulator.issue_oauth_code("T0002", token_rotation=True))

    emulator.revoke_workspace("T0002")
    auth_error = await slack_error(client_for(emulator, installed["access_token"]).auth_test())
    refresh_error = await slack_error(refresh(emulator, installed["refresh_token"]))

    assert auth_error.response["error"] == "token_revoked"
    assert refresh_error.response["error"] == "invalid_refresh_token"


@SLACK_SDK_BASIC_AUTH
async def test_revoke_enterprise_revokes_org_install(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0005", enterprise_id="E0001", is_enterprise_install=True)
    installed = await exchange_code(emulator, code)

    revoked = emulator.revoke_workspace("E0001")

    assert revoked == {installed["access_token"]}


# OAuth v2 (oauth.v2.access)


@SLACK_SDK_BASIC_AUTH
async def test_oauth_team_install_response(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002", installer_user_id="U0ADMIN")

    response = await exchange_code(emulator, code)
    identity = await client_for(emulator, response["access_token"]).auth_test()

    assert response.data == {
        "ok": True,
        "app_id": "A0APP",
        "authed_user": {"id": "U0ADMIN"},
        "scope": "chat:write,commands,channels:read,groups:read,users:read",
        "token_type": "bot",
        "access_token": response["access_token"],
        "bot_user_id": "U0BOT",
        "team": {"id": "T0002", "name": "Workspace T0002"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    assert response["access_token"].startswith("xoxb-T0002-")
    assert identity["team_id"] == "T0002"
    assert emulator.workspaces["T0002"].team_name == "Workspace T0002"


@SLACK_SDK_BASIC_AUTH
async def test_oauth_call_recorded_without_secret(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002")
    redirect_uri = "https://example.test/slack/oauth_redirect"

    await exchange_code(emulator, code, redirect_uri=redirect_uri)

    call = emulator.calls_to("oauth.v2.access")[0]
    assert call.params == {"code": code, "redirect_uri": redirect_uri}
    assert call.token is None
    assert call.team_id is None


async def test_oauth_form_credentials_accepted(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002")
    form = {"client_id": emulator.client_id, "client_secret": emulator.client_secret, "code": code}

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator.base_url}oauth.v2.access", data=form) as response:
            body = await response.json()

    assert body["ok"] is True
    assert body["team"]["id"] == "T0002"
    assert emulator.calls_to("oauth.v2.access")[0].params == {"client_id": "C0CLIENTID", "code": code}


@SLACK_SDK_BASIC_AUTH
async def test_oauth_grid_workspace_install(emulator: SlackEmulator) -> None:
    emulator.enterprise_names["E0001"] = "Starship"
    code = emulator.issue_oauth_code("T0005", enterprise_id="E0001")

    response = await exchange_code(emulator, code)
    identity = await client_for(emulator, response["access_token"]).auth_test()

    assert response["team"] == {"id": "T0005", "name": "Workspace T0005"}
    assert response["enterprise"] == {"id": "E0001", "name": "Starship"}
    assert response["is_enterprise_install"] is False
    assert identity["team_id"] == "T0005"
    assert identity["enterprise_id"] == "E0001"


@SLACK_SDK_BASIC_AUTH
async def test_oauth_org_wide_install(emulator: SlackEmulator) -> None:
    emulator.enterprise_names["E0001"] = "Starship"
    code = emulator.issue_oauth_code("T0005", enterprise_id="E0001", is_enterprise_install=True)

    response = await exchange_code(emulator, code)
    org = client_for(emulator, response["access_token"])
    identity = await org.auth_test()
    await org.chat_postMessage(channel="C0001", text="for T0005", team_id="T0005")
    await org.chat_postMessage(channel="C0001", text="no team named")

    assert response["team"] is None
    assert response["enterprise"] == {"id": "E0001", "name": "Starship"}
    assert response["is_enterprise_install"] is True
    assert response["access_token"].startswith("xoxb-E0001-")
    assert identity["team_id"] == "E0001"
    assert identity["team"] == "Starship"
    assert identity["enterprise_id"] == "E0001"
    assert identity["is_enterprise_install"] is True
    assert identity["url"] == "https://starship.enterprise.slack.com/"
    posts = emulator.calls_to("chat.postMessage")
    assert [call.team_id for call in posts] == ["T0005", None]
    assert [call.enterprise_id for call in posts] == ["E0001", "E0001"]


@SLACK_SDK_BASIC_AUTH
async def test_org_wide_token_updates_grid_messages(emulator: SlackEmulator) -> None:
    team_token = await exchange_code(emulator, emulator.issue_oauth_code("T0005", enterprise_id="E0001"))
    org_code = emulator.issue_oauth_code("T0005", is_enterprise_install=True)
    org_token = (await exchange_code(emulator, org_code))["access_token"]
    posted = await client_for(emulator, team_token["access_token"]).chat_postMessage(channel="C0001", text="v1")

    updated = await client_for(emulator, org_token).chat_update(channel="C0001", ts=posted["ts"], text="v2")

    assert updated["ok"] is True
    assert emulator.posted_messages(team_id="T0005")[0].text == "v2"


def test_issue_oauth_code_checks_enterprise() -> None:
    emulator = SlackEmulator()
    emulator.add_workspace("T0005", enterprise_id="E0001")

    with pytest.raises(ValueError, match="needs an enterprise_id"):
        emulator.issue_oauth_code("T0002", is_enterprise_install=True)
    with pytest.raises(ValueError, match="belongs to enterprise E0001, not E0002"):
        emulator.issue_oauth_code("T0005", enterprise_id="E0002")
    assert "T0002" not in emulator.workspaces


@SLACK_SDK_BASIC_AUTH
async def test_oauth_install_with_user_token(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002", installer_user_id="U0ADMIN", user_token=True)

    response = await exchange_code(emulator, code)
    authed_user = response["authed_user"]
    identity = await client_for(emulator, authed_user["access_token"]).auth_test()

    assert authed_user["id"] == "U0ADMIN"
    assert authed_user["scope"] == "chat:write"
    assert authed_user["token_type"] == "user"
    assert authed_user["access_token"].startswith("xoxp-T0002-")
    assert "refresh_token" not in authed_user
    assert identity["user_id"] == "U0ADMIN"
    assert identity["team_id"] == "T0002"
    assert "bot_id" not in identity


@SLACK_SDK_BASIC_AUTH
async def test_oauth_install_with_rotation(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002", user_token=True, token_rotation=True)

    response = await exchange_code(emulator, code)
    identity = await client_for(emulator, response["access_token"]).auth_test()

    assert response["refresh_token"].startswith("xoxe-1-T0002-")
    assert response["expires_in"] == 43_200
    assert response["authed_user"]["refresh_token"].startswith("xoxe-1-T0002-")
    assert response["authed_user"]["expires_in"] == 43_200
    assert 43_100 <= identity["expires_in"] <= 43_200


@SLACK_SDK_BASIC_AUTH
async def test_oauth_reinstall_keeps_previous_token(emulator: SlackEmulator) -> None:
    first = (await exchange_code(emulator, emulator.issue_oauth_code("T0002")))["access_token"]
    second = (await exchange_code(emulator, emulator.issue_oauth_code("T0002")))["access_token"]

    first_identity = await client_for(emulator, first).auth_test()
    second_identity = await client_for(emulator, second).auth_test()

    assert first != second
    assert first_identity["team_id"] == "T0002"
    assert second_identity["team_id"] == "T0002"


@SLACK_SDK_BASIC_AUTH
async def test_oauth_code_reuse_invalid_code(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002")
    await exchange_code(emulator, code)

    error = await slack_error(exchange_code(emulator, code))

    assert error.response["error"] == "invalid_code"


@SLACK_SDK_BASIC_AUTH
async def test_oauth_unknown_code_invalid_code(emulator: SlackEmulator) -> None:
    error = await slack_error(exchange_code(emulator, "code-T0002-unknown"))

    assert error.response["error"] == "invalid_code"


@SLACK_SDK_BASIC_AUTH
@pytest.mark.parametrize(
    ("client_id", "client_secret", "expected"),
    [
        ("C0OTHER", "test-client-secret", "invalid_client_id"),
        ("C0CLIENTID", "wrong-secret", "bad_client_secret"),
    ],
    ids=["wrong-client-id", "wrong-secret"],
)
async def test_oauth_bad_client_credentials(
    emulator: SlackEmulator, client_id: str, client_secret: str, expected: str
) -> None:
    code = emulator.issue_oauth_code("T0002")
    client = AsyncWebClient(base_url=emulator.base_url)

    error = await slack_error(client.oauth_v2_access(client_id=client_id, client_secret=client_secret, code=code))
    retried = await exchange_code(emulator, code)

    assert error.response["error"] == expected
    assert retried["ok"] is True


async def test_oauth_without_credentials_invalid_client_id(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002")

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{emulator.base_url}oauth.v2.access", data={"code": code}) as response:
            body = await response.json()

    assert body == {"ok": False, "error": "invalid_client_id"}


@SLACK_SDK_BASIC_AUTH
async def test_oauth_client_secret_configurable(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002")
    client = AsyncWebClient(base_url=emulator.base_url)
    emulator.client_secret = "rotated-secret"

    error = await slack_error(
        client.oauth_v2_access(client_id="C0CLIENTID", client_secret="test-client-secret", code=code)
    )
    response = await client.oauth_v2_access(client_id="C0CLIENTID", client_secret="rotated-secret", code=code)

    assert error.response["error"] == "bad_client_secret"
    assert response["ok"] is True


@SLACK_SDK_BASIC_AUTH
async def test_oauth_unknown_grant_type(emulator: SlackEmulator) -> None:
    client = AsyncWebClient(base_url=emulator.base_url)

    error = await slack_error(
        client.oauth_v2_access(client_id="C0CLIENTID", client_secret="test-client-secret", grant_type="password")
    )

    assert error.response["error"] == "invalid_grant_type"


@SLACK_SDK_BASIC_AUTH
async def test_oauth_refresh_rotates_bot_token(emulator: SlackEmulator) -> None:
    installed = await exchange_code(emulator, emulator.issue_oauth_code("T0002", token_rotation=True))

    refreshed = await refresh(emulator, installed["refresh_token"])
    new_identity = await client_for(emulator, refreshed["access_token"]).auth_test()
    old_identity = await client_for(emulator, installed["access_token"]).auth_test()

    assert refreshed["token_type"] == "bot"
    assert refreshed["access_token"].startswith("xoxb-T0002-")
    assert refreshed["access_token"] != installed["access_token"]
    assert refreshed["refresh_token"] != installed["refresh_token"]
    assert refreshed["expires_in"] == 43_200
    assert refreshed["bot_user_id"] == "U0BOT"
    assert refreshed["team"] == {"id": "T0002", "name": "Workspace T0002"}
    assert new_identity["team_id"] == "T0002"
    assert old_identity["ok"] is True


@SLACK_SDK_BASIC_AUTH
async def test_oauth_refresh_token_works_once(emulator: SlackEmulator) -> None:
    installed = await exchange_code(emulator, emulator.issue_oauth_code("T0002", token_rotation=True))
    refreshed = await refresh(emulator, installed["refresh_token"])

    error = await slack_error(refresh(emulator, installed["refresh_token"]))
    again = await refresh(emulator, refreshed["refresh_token"])

    assert error.response["error"] == "invalid_refresh_token"
    assert again["ok"] is True


@SLACK_SDK_BASIC_AUTH
async def test_oauth_refresh_rotates_user_token(emulator: SlackEmulator) -> None:
    code = emulator.issue_oauth_code("T0002", installer_user_id="U0ADMIN", user_token=True, token_rotation=True)
    installed = await exchange_code(emulator, code)

    refreshed = await refresh(emulator, installed["authed_user"]["refresh_token"])
    identity = await client_for(emulator, refreshed["access_token"]).auth_test()

    assert refreshed["token_type"] == "user"
    assert refreshed["access_token"].startswith("xoxp-T0002-")
    assert "bot_user_id" not in refreshed
    assert identity["user_id"] == "U0ADMIN"


@SLACK_SDK_BASIC_AUTH
async def test_expired_token_token_expired(emulator: SlackEmulator) -> None:
    emulator.token_lifetime_seconds = 0
    installed = await exchange_code(emulator, emulator.issue_oauth_code("T0002", token_rotation=True))

    error = await slack_error(client_for(emulator, installed["access_token"]).auth_test())
    emulator.token_lifetime_seconds = 60
    refreshed = await refresh(emulator, installed["refresh_token"])
    identity = await client_for(emulator, refreshed["access_token"]).auth_test()

    assert error.response["error"] == "token_expired"
    assert emulator.calls_to("auth.test")[0].team_id == "T0002"
    assert refreshed["expires_in"] == 60
    assert identity["ok"] is True


# Bolt's own install path


class MemoryInstallationStore(AsyncInstallationStore):
    """Installations in a list, latest last: enough for Bolt's OAuth flow and slack_sdk's token rotator."""

    def __init__(self) -> None:
        self.installations: list[Installation] = []

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(__name__)

    async def async_save(self, installation: Installation) -> None:
        self.installations.append(installation)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        for installation in reversed(self.installations):
            same_team = installation.enterprise_id == enterprise_id and installation.team_id == team_id
            if same_team and user_id in (None, installation.user_id):
                return installation
        return None

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        installation = await self.async_find_installation(enterprise_id=enterprise_id, team_id=team_id)
        return None if installation is None else installation.to_bot()


class MemoryStateStore(AsyncOAuthStateStore):
    def __init__(self) -> None:
        self.states: set[str] = set()

    @property
    def logger(self) -> logging.Logger:
        return logging.getLogger(__name__)

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = f"state-{len(self.states)}"
        self.states.add(state)
        return state

    async def async_consume(self, state: str) -> bool:
        if state not in self.states:
            return False
        self.states.remove(state)
        return True


def bolt_oauth_flow(emulator: SlackEmulator, store: AsyncInstallationStore) -> AsyncOAuthFlow:
    settings = AsyncOAuthSettings(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        scopes=["chat:write", "commands"],
        user_scopes=[],
        redirect_uri="https://example.test/slack/oauth_redirect",
        installation_store=store,
        state_store=MemoryStateStore(),
    )
    return AsyncOAuthFlow(client=AsyncWebClient(base_url=emulator.base_url), settings=settings)


@SLACK_SDK_BASIC_AUTH
async def test_bolt_run_installation_with_rotation(emulator: SlackEmulator) -> None:
    flow = bolt_oauth_flow(emulator, MemoryInstallationStore())
    code = emulator.issue_oauth_code("T0002", installer_user_id="U0ADMIN", user_token=True, token_rotation=True)

    installation = await flow.run_installation(code)

    assert installation is not None
    assert installation.team_id == "T0002"
    assert installation.team_name == "Workspace T0002"
    assert installation.enterprise_id is None
    assert installation.is_enterprise_install is False
    assert installation.app_id == "A0APP"
    assert installation.bot_token is not None
    assert installation.bot_token.startswith("xoxb-T0002-")
    assert installation.bot_id == "B0BOT"
    assert installation.bot_user_id == "U0BOT"
    assert installation.user_id == "U0ADMIN"
    assert installation.user_token is not None
    assert installation.user_token.startswith("xoxp-T0002-")
    assert installation.bot_refresh_token is not None
    assert installation.bot_refresh_token.startswith("xoxe-1-T0002-")
    assert installation.bot_token_expires_at is not None
    assert abs(installation.bot_token_expires_at - (time.time() + 43_200)) < 60
    auth_call = emulator.calls_to("auth.test")[0]
    assert auth_call.token == installation.bot_token
    assert auth_call.team_id == "T0002"


@SLACK_SDK_BASIC_AUTH
async def test_bolt_org_wide_installation(emulator: SlackEmulator) -> None:
    flow = bolt_oauth_flow(emulator, MemoryInstallationStore())
    code = emulator.issue_oauth_code("T0005", enterprise_id="E0001", is_enterprise_install=True)

    installation = await flow.run_installation(code)

    assert installation is not None
    assert installation.team_id is None
    assert installation.enterprise_id == "E0001"
    assert installation.enterprise_name == "Org E0001"
    assert installation.enterprise_url == "https://org-e0001.enterprise.slack.com/"
    assert installation.is_enterprise_install is True
    assert installation.bot_id == "B0BOT"


@SLACK_SDK_BASIC_AUTH
async def test_bolt_installation_rotated_by_slack_sdk(emulator: SlackEmulator) -> None:
    store = MemoryInstallationStore()
    flow = bolt_oauth_flow(emulator, store)
    installation = await flow.run_installation(emulator.issue_oauth_code("T0002", token_rotation=True))
    assert installation is not None
    await store.async_save(installation)
    bot = await store.async_find_bot(enterprise_id=None, team_id="T0002")
    assert bot is not None
    rotator = AsyncTokenRotator(
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        client=AsyncWebClient(base_url=emulator.base_url),
    )

    # Asking for rotation a day ahead makes the 12-hour token due now.
    rotated = await rotator.perform_bot_token_rotation(bot=bot, minutes_before_expiration=24 * 60)

    assert rotated is not None
    assert rotated.bot_token != bot.bot_token
    assert rotated.bot_refresh_token != bot.bot_refresh_token
    identity = await client_for(emulator, rotated.bot_token).auth_test()
    assert identity["team_id"] == "T0002"
    reuse = await slack_error(refresh(emulator, str(bot.bot_refresh_token)))
    assert reuse.response["error"] == "invalid_refresh_token"


# Standalone mode


async def test_standalone_prints_calls() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.slack_emulator",
        "--port",
        "0",
        "--channels",
        "C0001",
        cwd=PROJECT_ROOT,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    try:
        first_line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        base_url = first_line.removeprefix("SLACK_API_URL=")
        token_line = (await asyncio.wait_for(process.stdout.readline(), 10)).decode().strip()
        client = AsyncWebClient(token=TOKEN, base_url=base_url)
        await client.chat_postMessage(channel="C0001", text="Alert <!channel>")
        lines = [(await asyncio.wait_for(process.stdout.readline(), 10)).decode().rstrip() for _ in range(2)]
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 10)
    rest = (await process.stdout.read()).decode()

    assert first_line.startswith("SLACK_API_URL=http://127.0.0.1:")
    assert token_line.startswith(f"SLACK_BOT_TOKEN={TOKEN}")
    assert lines[0] == "chat.postMessage channel=C0001 ok text='Alert <!channel>'"
    assert lines[1] == "  mention (broadcast): <!channel>"
    assert process.returncode == 0
    assert "Slack emulator stopped." in rest


async def test_fail_until_fails_within_window(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    emulator.fail_until("chat.postMessage", time.monotonic() + 0.3, status=429, retry_after=2)

    errors = [await slack_error(client.chat_postMessage(channel="C0001", text="hi")) for _ in range(3)]
    await asyncio.sleep(0.35)
    after = await client.chat_postMessage(channel="C0001", text="hi")

    assert [error.response.status_code for error in errors] == [429, 429, 429]
    assert errors[0].response.headers["Retry-After"] == "2"
    assert after["ok"] is True
