"""Tests for the Slack Web API emulator, driven through slack_sdk's real AsyncWebClient."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

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
