"""A Slack Web API emulator for tests, benchmarks and manual runs.

`SlackEmulator` serves `/api/{method}` on 127.0.0.1, so a real `AsyncWebClient(token=...,
base_url=emulator.base_url)` can talk to it. It checks tokens, channel membership and Block Kit
limits, returns Slack's error codes, records every call and, on request, fails the next calls
of a method (429 with `Retry-After`, 5xx, or any Slack error).

One emulator can host several workspaces (`add_workspace`) and serve the OAuth v2 install
exchange (`issue_oauth_code`, then `oauth.v2.access`), with token rotation. Each recorded call
names the workspace of the token it used.

Limits and error codes follow Slack's method and Block Kit reference pages (docs.slack.dev) as
of 2026. Lengths are counted in Python characters (code points).

Standalone: `python -m tests.slack_emulator --port 8765` prints the base URL to use as
SLACK_API_URL and one line per call until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import collections
import contextlib
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

from aiohttp import web

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"

# Block Kit and method limits.
MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
# NOTE: Slack documents "250 KB" without stating 1000 or 1024 bytes, so the stricter reading is used.
MAX_VIEW_BYTES = 250_000
MAX_SECTION_TEXT = 3000
MAX_SECTION_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_ACTIONS_ELEMENTS = 25
MAX_BUTTON_TEXT = 75
MAX_BUTTON_VALUE = 2000
MAX_BUTTON_URL = 3000
MAX_ID_LENGTH = 255
MAX_PLACEHOLDER = 150
MAX_OPTION_TEXT = 75
# NOTE: slack_sdk 3.48 allows 150 for an option value, while older Slack pages and node-slack-sdk's
# types state 75. The emulator enforces 75 so that a payload accepted here is accepted in either case.
MAX_OPTION_VALUE = 75
MAX_OPTION_GROUPS = 100
MAX_INPUT_LABEL = 2000
MAX_MARKDOWN_BLOCK_TEXT = 12_000
MAX_VIEW_TITLE = 24
MAX_PRIVATE_METADATA = 3000
MAX_UPDATE_TEXT = 4000
MAX_POST_TEXT = 40_000
MAX_CONVERSATIONS_LIMIT = 999
DEFAULT_CONVERSATIONS_LIMIT = 100

# Options an element may hold: select menus 100, overflow menus 5, radio buttons and checkboxes 10.
MAX_OPTIONS = {
    "static_select": 100,
    "multi_static_select": 100,
    "overflow": 5,
    "radio_buttons": 10,
    "checkboxes": 10,
}
CONFIRM_LIMITS = {"title": 100, "text": 300, "confirm": 30, "deny": 30}

TEXT_TYPES = ("plain_text", "mrkdwn")
CHANNEL_PREFIXES = ("C", "G", "D")
USER_PREFIXES = ("U", "W")

# Methods that take no bot token: the OAuth exchange uses the client id and secret instead.
DEFAULT_USER_TIMEZONE = "Europe/Berlin"
TOKENLESS_METHODS = frozenset({"api.test", "oauth.access", "oauth.v2.access", "oauth.v2.exchange"})
MESSAGE_METHODS = frozenset(
    {
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
    }
)

DEFAULT_CHANNELS = {"C0001": "general", "C0002": "random"}

# OAuth v2: the scopes an install grants unless a test names others, and the life of a rotating
# token (Slack's token rotation issues tokens that expire after 12 hours).
DEFAULT_BOT_SCOPES = "chat:write,commands,channels:read,groups:read,users:read"
DEFAULT_USER_SCOPES = "chat:write"
TOKEN_LIFETIME_SECONDS = 43_200


# --- Mentions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mention:
    """A special token found in message text.

    `kind` is "broadcast" (`<!channel>`, `<!here>`, `<!everyone>`), "user" (`<@U…>`, `<@W…>`),
    "usergroup" (`<!subteam^…>`), "link" (`<https://…|…>`, `<mailto:…>`) or "channel" (`<#C…>`).
    """

    kind: str
    token: str


# Slack parses a control sequence only where a raw "<" starts it, so "&lt;!channel&gt;" is text.
_CONTROL_SEQUENCE = re.compile(r"<([^<>\s][^<>]*)>")
_BROADCAST = re.compile(r"!(channel|here|everyone)(\|[^>]*)?$")
_BARE_BROADCAST = re.compile(r"(?<![\w<!])@(channel|here|everyone)\b")
_RICH_TEXT_TOKENS = {
    "broadcast": lambda element: f"<!{element.get('range', '')}>",
    "user": lambda element: f"<@{element.get('user_id', '')}>",
    "usergroup": lambda element: f"<!subteam^{element.get('usergroup_id', '')}>",
    "channel": lambda element: f"<#{element.get('channel_id', '')}>",
    "link": lambda element: f"<{element.get('url', '')}>",
}


def classify_control_sequence(inner: str) -> str | None:
    """Return the mention kind of the text between "<" and ">", or None for other sequences."""
    if _BROADCAST.match(inner):
        return "broadcast"
    if inner.startswith("!subteam^"):
        return "usergroup"
    if inner.startswith(("@U", "@W")):
        return "user"
    if inner.startswith(("#C", "#G")):
        return "channel"
    if inner.startswith(("http://", "https://", "mailto:")):
        return "link"
    return None


def scan_mrkdwn(text: str, *, bare_broadcasts: bool = False) -> list[Mention]:
    """Find the mentions in one mrkdwn string.

    With `bare_broadcasts`, a plain "@channel", "@here" or "@everyone" also counts, because
    Slack turns them into broadcasts when a message is sent with `link_names` or `parse=full`.
    """
    found: list[Mention] = []
    for match in _CONTROL_SEQUENCE.finditer(text):
        kind = classify_control_sequence(match.group(1))
        if kind is not None:
            found.append(Mention(kind, match.group(0)))
    if bare_broadcasts:
        found.extend(Mention("broadcast", m.group(0)) for m in _BARE_BROADCAST.finditer(text))
    return found


def scan_blocks(blocks: Any) -> list[Mention]:
    """Find the mentions in Block Kit blocks: mrkdwn text objects and rich text elements.

    plain_text objects are skipped because Slack never parses mentions in them.
    """
    found: list[Mention] = []
    _walk_for_mentions(_decode_or_none(blocks), found, in_rich_text=False)
    return found


def _walk_for_mentions(node: Any, found: list[Mention], *, in_rich_text: bool) -> None:
    if isinstance(node, list):
        for item in node:
            _walk_for_mentions(item, found, in_rich_text=in_rich_text)
        return
    if not isinstance(node, dict):
        return
    node_type = node.get("type")
    text = node.get("text")
    if node_type in ("mrkdwn", "markdown") and isinstance(text, str):
        found.extend(scan_mrkdwn(text))
    elif in_rich_text and node_type in _RICH_TEXT_TOKENS:
        found.append(Mention(str(node_type), _RICH_TEXT_TOKENS[str(node_type)](node)))
    in_rich_text = in_rich_text or node_type == "rich_text"
    for value in node.values():
        if isinstance(value, (list, dict)):
            _walk_for_mentions(value, found, in_rich_text=in_rich_text)


def scan_message(payload: Mapping[str, Any] | list[Any] | str) -> list[Mention]:
    """Find every mention in a message payload, a list of blocks or one mrkdwn string.

    A payload is scanned in its fallback `text`, `markdown_text`, streamed `chunks`, `blocks`
    and legacy `attachments`. The `mrkdwn` flag is ignored, so the result errs towards more.
    """
    if isinstance(payload, str):
        return scan_mrkdwn(payload)
    if isinstance(payload, list):
        return scan_blocks(payload)
    bare = _truthy(payload.get("link_names")) or payload.get("parse") == "full"
    found: list[Mention] = []
    for key in ("text", "markdown_text"):
        value = payload.get(key)
        if isinstance(value, str):
            found.extend(scan_mrkdwn(value, bare_broadcasts=bare))
    found.extend(_scan_chunks(payload.get("chunks")))
    found.extend(scan_blocks(payload.get("blocks")))
    found.extend(_scan_attachments(payload.get("attachments")))
    return found


def find_mentions(payload: Mapping[str, Any] | list[Any] | str) -> list[str]:
    """Return the raw tokens of every mention in a payload, such as "<!channel>" or "<@U123>"."""
    return [mention.token for mention in scan_message(payload)]


def _scan_chunks(chunks: Any) -> list[Mention]:
    found: list[Mention] = []
    for chunk in _decode_list(chunks):
        if isinstance(chunk, dict) and isinstance(chunk.get("text"), str):
            found.extend(scan_mrkdwn(chunk["text"]))
    return found


def _scan_attachments(attachments: Any) -> list[Mention]:
    found: list[Mention] = []
    for attachment in _decode_list(attachments):
        if not isinstance(attachment, dict):
            continue
        for key in ("text", "pretext", "footer"):
            if isinstance(attachment.get(key), str):
                found.extend(scan_mrkdwn(attachment[key]))
        for attachment_field in attachment.get("fields") or []:
            if isinstance(attachment_field, dict) and isinstance(attachment_field.get("value"), str):
                found.extend(scan_mrkdwn(attachment_field["value"]))
        found.extend(scan_blocks(attachment.get("blocks")))
    return found


# --- Limit checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LimitProblem:
    """One broken limit: where it is (a JSON pointer into the request), which limit, what was sent."""

    pointer: str
    limit: str
    actual: str

    def describe(self) -> str:
        return f"{self.limit} ({self.actual}) at {self.pointer}"

    def slack_message(self) -> str:
        """Format the problem as Slack does in `response_metadata.messages`."""
        return f"[ERROR] {self.limit} ({self.actual}) [json-pointer:{self.pointer}]"


class BlockKitChecker:
    """Collects the Block Kit limit problems of one payload in `problems`."""

    def __init__(self) -> None:
        self.problems: list[LimitProblem] = []
        self._block_checks: dict[str, Callable[[dict[str, Any], str], None]] = {
            "section": self._check_section,
            "header": self._check_header,
            "context": self._check_context,
            "actions": self._check_actions,
            "input": self._check_input,
        }

    def report(self, pointer: str, limit: str, actual: str) -> None:
        self.problems.append(LimitProblem(pointer, limit, actual))

    def check_length(self, value: Any, pointer: str, name: str, maximum: int) -> None:
        if isinstance(value, str) and len(value) > maximum:
            self.report(pointer, f"{name}: at most {maximum} characters", f"got {len(value)}")

    def check_count(self, items: Any, pointer: str, name: str, maximum: int) -> list[Any]:
        """Check that `items` is an array of at most `maximum` entries, and return its entries."""
        if not isinstance(items, list):
            self.report(pointer, f"{name}: must be an array", f"got {type(items).__name__}")
            return []
        if len(items) > maximum:
            self.report(pointer, f"{name}: at most {maximum}", f"got {len(items)}")
        return items

    def check_text(self, value: Any, pointer: str, name: str, maximum: int | None, *, plain_only: bool = False) -> None:
        """Check a text object: it needs `type` and a non-empty `text` within `maximum`."""
        if not isinstance(value, dict) or "type" not in value or not isinstance(value.get("text"), str):
            self.report(pointer, f"{name}: must be a text object with type and text", _summarize(value))
            return
        allowed = ("plain_text",) if plain_only else TEXT_TYPES
        if value["type"] not in allowed:
            self.report(f"{pointer}/type", f"{name}: type must be {' or '.join(allowed)}", str(value["type"]))
        text: str = value["text"]
        if not text:
            self.report(f"{pointer}/text", f"{name}: must not be empty", "got 0 characters")
        elif maximum is not None:
            self.check_length(text, f"{pointer}/text", name, maximum)

    def check_blocks(self, blocks: Any, pointer: str, *, maximum: int, surface: str) -> None:
        entries = self.check_count(blocks, pointer, f"{surface} blocks", maximum)
        for index, block in enumerate(entries):
            self.check_block(block, f"{pointer}/{index}")
        self._check_markdown_total(entries, pointer)

    def check_block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            self.report(pointer, "block: must be an object with a type", _summarize(block))
            return
        self.check_length(block.get("block_id"), f"{pointer}/block_id", "block_id", MAX_ID_LENGTH)
        check = self._block_checks.get(block["type"])
        if check is not None:
            check(block, pointer)

    def check_element(self, element: Any, pointer: str) -> None:
        """Check an interactive element: ids, button fields, options, placeholder, confirm."""
        if not isinstance(element, dict):
            self.report(pointer, "element: must be an object", _summarize(element))
            return
        self.check_length(element.get("action_id"), f"{pointer}/action_id", "action_id", MAX_ID_LENGTH)
        if element.get("type") == "button":
            self._check_button(element, pointer)
        if "placeholder" in element:
            self.check_text(element["placeholder"], f"{pointer}/placeholder", "placeholder", MAX_PLACEHOLDER)
        if "confirm" in element:
            self._check_confirm(element["confirm"], f"{pointer}/confirm")
        self._check_options(element, pointer)

    def _check_section(self, block: dict[str, Any], pointer: str) -> None:
        if "text" not in block and "fields" not in block:
            self.report(pointer, "section: needs text or fields", "got neither")
        if "text" in block:
            self.check_text(block["text"], f"{pointer}/text", "section text", MAX_SECTION_TEXT)
        if "fields" in block:
            fields = self.check_count(block["fields"], f"{pointer}/fields", "section fields", MAX_SECTION_FIELDS)
            for index, item in enumerate(fields):
                self.check_text(item, f"{pointer}/fields/{index}", "section field text", MAX_FIELD_TEXT)
        if "accessory" in block:
            self.check_element(block["accessory"], f"{pointer}/accessory")

    def _check_header(self, block: dict[str, Any], pointer: str) -> None:
        self.check_text(block.get("text"), f"{pointer}/text", "header text", MAX_HEADER_TEXT, plain_only=True)

    def _check_context(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.check_count(
            block.get("elements"), f"{pointer}/elements", "context elements", MAX_CONTEXT_ELEMENTS
        )
        for index, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "image":
                continue
            self.check_text(element, f"{pointer}/elements/{index}", "context text", None)

    def _check_actions(self, block: dict[str, Any], pointer: str) -> None:
        elements = self.check_count(
            block.get("elements"), f"{pointer}/elements", "actions elements", MAX_ACTIONS_ELEMENTS
        )
        for index, element in enumerate(elements):
            self.check_element(element, f"{pointer}/elements/{index}")

    def _check_input(self, block: dict[str, Any], pointer: str) -> None:
        self.check_text(block.get("label"), f"{pointer}/label", "input label", MAX_INPUT_LABEL, plain_only=True)
        if "hint" in block:
            self.check_text(block["hint"], f"{pointer}/hint", "input hint", MAX_INPUT_LABEL, plain_only=True)
        self.check_element(block.get("element"), f"{pointer}/element")

    def _check_button(self, element: dict[str, Any], pointer: str) -> None:
        self.check_text(element.get("text"), f"{pointer}/text", "button text", MAX_BUTTON_TEXT, plain_only=True)
        self.check_length(element.get("value"), f"{pointer}/value", "button value", MAX_BUTTON_VALUE)
        self.check_length(element.get("url"), f"{pointer}/url", "button url", MAX_BUTTON_URL)

    def _check_confirm(self, confirm: Any, pointer: str) -> None:
        if not isinstance(confirm, dict):
            self.report(pointer, "confirm: must be an object", _summarize(confirm))
            return
        for key, maximum in CONFIRM_LIMITS.items():
            self.check_text(confirm.get(key), f"{pointer}/{key}", f"confirm {key}", maximum)

    def _check_options(self, element: dict[str, Any], pointer: str) -> None:
        maximum = MAX_OPTIONS.get(str(element.get("type")), 100)
        if "options" in element:
            options = self.check_count(element["options"], f"{pointer}/options", "options", maximum)
            self._check_option_list(options, f"{pointer}/options")
        if "option_groups" in element:
            groups = self.check_count(
                element["option_groups"], f"{pointer}/option_groups", "option groups", MAX_OPTION_GROUPS
            )
            for index, group in enumerate(groups):
                self._check_option_group(group, f"{pointer}/option_groups/{index}")

    def _check_option_group(self, group: Any, pointer: str) -> None:
        if not isinstance(group, dict):
            self.report(pointer, "option group: must be an object", _summarize(group))
            return
        self.check_text(group.get("label"), f"{pointer}/label", "option group label", MAX_OPTION_TEXT)
        options = self.check_count(group.get("options"), f"{pointer}/options", "options", 100)
        self._check_option_list(options, f"{pointer}/options")

    def _check_option_list(self, options: list[Any], pointer: str) -> None:
        for index, option in enumerate(options):
            option_pointer = f"{pointer}/{index}"
            if not isinstance(option, dict):
                self.report(option_pointer, "option: must be an object", _summarize(option))
                continue
            self.check_text(option.get("text"), f"{option_pointer}/text", "option text", MAX_OPTION_TEXT)
            self.check_length(option.get("value"), f"{option_pointer}/value", "option value", MAX_OPTION_VALUE)
            if "description" in option:
                self.check_text(
                    option["description"],
                    f"{option_pointer}/description",
                    "option description",
                    MAX_OPTION_TEXT,
                )

    def _check_markdown_total(self, blocks: list[Any], pointer: str) -> None:
        # The 12,000 characters of markdown blocks are counted over the whole payload.
        total = sum(
            len(block.get("text", ""))
            for block in blocks
            if isinstance(block, dict) and block.get("type") == "markdown" and isinstance(block.get("text"), str)
        )
        if total > MAX_MARKDOWN_BLOCK_TEXT:
            self.report(
                pointer,
                f"markdown blocks: at most {MAX_MARKDOWN_BLOCK_TEXT} characters in total",
                f"got {total}",
            )


def check_view(view: Mapping[str, Any]) -> list[LimitProblem]:
    """Check a modal or Home tab view against Slack's limits, except its size."""
    checker = BlockKitChecker()
    checker.check_blocks(view.get("blocks", []), "/view/blocks", maximum=MAX_VIEW_BLOCKS, surface="view")
    if view.get("type") == "modal":
        _check_modal_buttons(view, checker)
    checker.check_length(
        view.get("private_metadata"), "/view/private_metadata", "private_metadata", MAX_PRIVATE_METADATA
    )
    checker.check_length(view.get("callback_id"), "/view/callback_id", "callback_id", MAX_ID_LENGTH)
    checker.check_length(view.get("external_id"), "/view/external_id", "external_id", MAX_ID_LENGTH)
    return checker.problems


def _check_modal_buttons(view: Mapping[str, Any], checker: BlockKitChecker) -> None:
    checker.check_text(view.get("title"), "/view/title", "modal title", MAX_VIEW_TITLE, plain_only=True)
    for key in ("submit", "close"):
        if key in view:
            checker.check_text(view[key], f"/view/{key}", f"modal {key}", MAX_VIEW_TITLE, plain_only=True)
    blocks = view.get("blocks")
    has_input = isinstance(blocks, list) and any(
        isinstance(block, dict) and block.get("type") == "input" for block in blocks
    )
    if has_input and "submit" not in view:
        checker.report("/view/submit", "modal submit: required when the view has input blocks", "missing")


def view_size(view: Mapping[str, Any]) -> int:
    """Return the size in bytes of a view's compact JSON."""
    return len(json.dumps(view, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


# --- Records --------------------------------------------------------------------------------


@dataclass
class RecordedCall:
    """One Web API call as the emulator received it, with the response it sent.

    `params` merges the query string and the body, without the token and without an OAuth
    `client_secret`. `response` is the JSON body sent back, or the raw text of a scripted non-JSON
    response. `received_at` is `time.monotonic()` when the request arrived.

    `team_id` is the workspace of the token used, also when Slack rejected it as revoked or
    expired. It is None for an unknown token, a tokenless method such as `oauth.v2.access`, and
    an app-level token. An org-wide token belongs to no workspace, so its calls record their
    `team_id` parameter instead, or None without one. `enterprise_id` is the token's Enterprise
    Grid organization, if any.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    received_at: float
    response: dict[str, Any] | str
    status: int = 200
    violations: list[str] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    team_id: str | None = None
    enterprise_id: str | None = None

    @property
    def ok(self) -> bool:
        return isinstance(self.response, dict) and self.response.get("ok") is True

    @property
    def error(self) -> str | None:
        return self.response.get("error") if isinstance(self.response, dict) else None


@dataclass
class PostedMessage:
    """A message the bot posted, in its current state: `chat.update` and streaming change it in place.

    `ephemeral_user` is set for `chat.postEphemeral`, `streaming` while a stream is open, and
    `mentions` holds the mentions of the current text and blocks. `team_id` is the workspace
    the message was posted for, as in `RecordedCall.team_id`.
    """

    channel: str
    ts: str
    text: str
    blocks: list[Any] | None
    thread_ts: str | None
    payload: dict[str, Any]
    mentions: list[Mention]
    ephemeral_user: str | None = None
    update_count: int = 0
    streaming: bool = False
    team_id: str | None = None

    @property
    def mention_kinds(self) -> set[str]:
        return {mention.kind for mention in self.mentions}


@dataclass(frozen=True)
class Workspace:
    """A workspace (team) hosted by the emulator. `enterprise_id` is set in an Enterprise Grid org."""

    team_id: str
    team_name: str
    bot_user_id: str
    bot_id: str
    enterprise_id: str | None = None


@dataclass(frozen=True)
class _TokenGrant:
    """The workspace, user and expiry of an access token.

    `team_id` is None for an org-wide install, whose token belongs to `enterprise_id` alone.
    `user_id` is the bot user of a bot token and the installing user of a user token. `expires_at`
    (epoch seconds, as `time.time()`) is set only for tokens issued with token rotation.
    """

    token_type: str
    team_id: str | None
    enterprise_id: str | None
    user_id: str
    bot_id: str | None
    scope: str
    expires_at: float | None = None

    @property
    def is_enterprise_install(self) -> bool:
        return self.team_id is None

    def owned_by(self, team_id: str) -> bool:
        """Tell whether the token belongs to workspace `team_id`, or is an org-wide token of enterprise `team_id`."""
        return self.team_id == team_id or (self.team_id is None and self.enterprise_id == team_id)


@dataclass(frozen=True)
class _PendingInstall:
    """An install waiting for its one-time code to be exchanged at `oauth.v2.access`."""

    team_id: str
    enterprise_id: str | None
    is_enterprise_install: bool
    installer_user_id: str
    bot_scopes: str
    user_scopes: str
    user_token: bool
    token_rotation: bool


@dataclass
class _ScriptedFailure:
    error: str
    status: int
    retry_after: str | None
    body: str | None
    remaining: int


@dataclass(frozen=True)
class _Answer:
    body: dict[str, Any] | str
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)

    def to_response(self) -> web.Response:
        if isinstance(self.body, str):
            return web.Response(status=self.status, text=self.body, content_type="text/html", headers=self.headers)
        return web.json_response(self.body, status=self.status, headers=self.headers)


@dataclass
class _CallContext:
    method: str
    params: dict[str, Any]
    violations: list[str] = field(default_factory=list)
    grant: _TokenGrant | None = None
    client_id: str | None = None
    client_secret: str | None = None

    @property
    def team_id(self) -> str | None:
        """The workspace the call acts for: the token's own, or the `team_id` parameter of an org-wide token."""
        if self.grant is None:
            return None
        if self.grant.team_id is not None:
            return self.grant.team_id
        team_id = self.params.get("team_id")
        return team_id if isinstance(team_id, str) and team_id else None


class _SlackError(Exception):
    """An `{"ok": false}` response, raised from inside a method handler."""

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


# --- The emulator ---------------------------------------------------------------------------


class SlackEmulator:
    """An emulated Slack workspace serving the Web API on 127.0.0.1.

    The channel sets are public and may be changed while a test runs. `member_channels=None`
    makes the bot a member of every C and G channel. The bot is always a member of its DMs (D ids).
    A user id (U or W) given as channel opens the DM "D" + the rest of the user id, as Slack does
    when a bot posts to a user's Messages tab. Any other id returns `channel_not_found`.

    The constructor's arguments describe the first workspace, and its `bot_token` values belong to
    it, as does any token a test adds to `valid_tokens`. `add_workspace` and the OAuth install
    (`issue_oauth_code`, then `oauth.v2.access`) register more workspaces and tokens. Each
    token's calls act for its own workspace: `auth.test`, message and view bodies carry its ids,
    and a message can only be updated through a token of the workspace that posted it.
    NOTE: the channel sets are shared by every workspace, so a channel id is valid in all of them.
    """

    def __init__(
        self,
        *,
        team_id: str = "T0001",
        team_name: str = "Emulated Workspace",
        bot_token: str | Iterable[str] = "xoxb-test-token",
        bot_user_id: str = "U0BOT",
        bot_user_name: str = "missioncontrol",
        bot_id: str = "B0BOT",
        member_channels: Iterable[str] | None = None,
        archived_channels: Iterable[str] = (),
        private_channels: Iterable[str] = (),
        shared_channels: Iterable[str] = (),
        channel_names: Mapping[str, str] | None = None,
        port: int = 0,
        on_call: Callable[[RecordedCall], None] | None = None,
    ) -> None:
        self.team_id = team_id
        self.team_name = team_name
        self.valid_tokens: set[str] = {bot_token} if isinstance(bot_token, str) else set(bot_token)
        self.revoked_tokens: set[str] = set()
        self.bot_user_id = bot_user_id
        self.bot_user_name = bot_user_name
        self.bot_id = bot_id
        self.member_channels: set[str] | None = None if member_channels is None else set(member_channels)
        self.archived_channels: set[str] = set(archived_channels)
        self.private_channels: set[str] = set(private_channels)
        # Slack Connect channels, shared with another organisation.
        self.shared_channels: set[str] = set(shared_channels)
        self.channel_names: dict[str, str] = dict(DEFAULT_CHANNELS if channel_names is None else channel_names)

        # The Enterprise Grid organization of the constructor's workspace, if any, and names of organizations.
        self.enterprise_id: str | None = None
        self.enterprise_names: dict[str, str] = {}
        # Workspaces besides the constructor's one, and the grant of each token registered after the constructor.
        # The constructor's `bot_token` values have no grant and act with the attributes above.
        self._workspaces: dict[str, Workspace] = {}
        self._grants: dict[str, _TokenGrant] = {}

        # OAuth v2: the app's credentials, pending install codes and live refresh tokens.
        self.app_id = "A0APP"
        self.client_id = "C0CLIENTID"
        self.client_secret = "test-client-secret"
        self.token_lifetime_seconds: float = TOKEN_LIFETIME_SECONDS
        self._oauth_codes: dict[str, _PendingInstall] = {}
        self._refresh_tokens: dict[str, _TokenGrant] = {}

        # Users that users.info reports as workspace admins or owners; every other U/W id is a member.
        self.admin_users: set[str] = set()
        self.owner_users: set[str] = set()
        # The `tz` that users.info reports per user; others get DEFAULT_USER_TIMEZONE.
        self.user_timezones: dict[str, str] = {}

        # Socket Mode: app-level tokens accepted by apps.connections.open, the open connections, and the
        # acknowledgements received, by envelope id.
        self.app_tokens: set[str] = {"xapp-test-token"}
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}

        # Files: bytes received at each upload URL, by file id, and the files shared into channels.
        self.uploads: dict[str, bytes] = {}
        self.upload_lengths: dict[str, int] = {}
        self.shared_files: list[dict[str, Any]] = []
        # When set, the upload URL answers this HTTP status instead of 200, as a failing file server would.
        self.upload_failure_status: int | None = None

        # Bodies posted to response URLs (`respond()` in Bolt), by the name given to `response_url`.
        self.responses: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)

        self.calls: list[RecordedCall] = []
        self.limit_violations: list[str] = []
        self.messages: dict[tuple[str, str], PostedMessage] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}

        self._port = port
        self._on_call = on_call
        self._runner: web.AppRunner | None = None
        self._posted: list[PostedMessage] = []
        self._failures: dict[str, collections.deque[_ScriptedFailure]] = collections.defaultdict(collections.deque)
        # Time windows in which every call of a method fails: (monotonic deadline, the failure).
        self._windows: dict[str, tuple[float, _ScriptedFailure]] = {}
        self._new_call = asyncio.Condition()
        self._ts_seconds = int(time.time())
        self._ts_counter = 0
        self._view_counter = 0
        self._handlers: dict[str, Callable[[_CallContext], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.startStream": self._chat_start_stream,
            "chat.appendStream": self._chat_append_stream,
            "chat.stopStream": self._chat_stop_stream,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "users.conversations": self._users_conversations,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "conversations.join": self._conversations_join,
            "conversations.list": self._conversations_list,
            "conversations.open": self._conversations_open,
            "apps.connections.open": self._apps_connections_open,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "oauth.v2.access": self._oauth_v2_access,
        }

    # Lifecycle

    async def start(self) -> None:
        """Start serving on 127.0.0.1 and the configured port (0 picks a free one).

        A restarted emulator listens on the port it had before, so `base_url` stays valid.
        """
        if self._runner is not None:
            raise RuntimeError("The Slack emulator is already running.")
        # A condition binds to the loop that first waits on it, so each start gets a new one.
        self._new_call = asyncio.Condition()
        # Payloads past Slack's own limits must arrive so they can be rejected as Slack does.
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_get("/api/{method}", self._handle_request)
        app.router.add_post("/api/{method}", self._handle_request)
        app.router.add_post("/response/{name}", self._handle_response_url)
        app.router.add_get("/socket", self._handle_socket)
        app.router.add_post("/upload/{file_id}", self._handle_upload)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, HOST, self._port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = runner.addresses[0][1]
        logger.info("Slack emulator started", extra={"base_url": self.base_url})

    async def stop(self) -> None:
        """Stop serving. Recorded calls stay readable."""
        if self._runner is None:
            return
        for socket in list(self._sockets):
            await socket.close()
        await self._runner.cleanup()
        self._runner = None
        logger.info("Slack emulator stopped")

    async def __aenter__(self) -> SlackEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("The Slack emulator is not running; call start() first.")
        return self._port

    @property
    def base_url(self) -> str:
        """The Web API base URL for `AsyncWebClient(base_url=...)` and SLACK_API_URL."""
        return f"http://{HOST}:{self.port}/api/"

    # Recording

    def response_url(self, name: str = "default") -> str:
        """Return a response URL on the emulator; what the bot posts there lands in `responses[name]`."""
        return f"http://{HOST}:{self.port}/response/{name}"

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.responses[request.match_info["name"]].append(body)
        async with self._new_call:
            self._new_call.notify_all()
        return web.json_response({"ok": True})

    async def wait_for_response(
        self, name: str = "default", count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` bodies were posted to the response URL `name`, and return them."""

        async def arrived() -> bool:
            return len(self.responses[name]) >= count

        deadline = asyncio.get_running_loop().time() + timeout
        async with self._new_call:
            while not await arrived():
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.responses[name])} of {count} responses to {name} arrived")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_call.wait(), timeout=remaining)
        return self.responses[name]

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def posted_messages(self, channel: str | None = None, *, team_id: str | None = None) -> list[PostedMessage]:
        """Return the messages posted since the last `clear()`, oldest first, in their current state.

        `channel` and `team_id` keep only the messages of that channel or posted for that workspace.
        """
        return [
            message
            for message in self._posted
            if (channel is None or message.channel == channel) and (team_id is None or message.team_id == team_id)
        ]

    def top_level_messages(self, channel: str | None = None) -> list[PostedMessage]:
        """Return the posted messages that are not thread replies or ephemeral, oldest first."""
        return [
            message
            for message in self.posted_messages(channel)
            if message.thread_ts is None and message.ephemeral_user is None
        ]

    def thread_replies(self, channel: str, thread_ts: str) -> list[PostedMessage]:
        """Return the replies posted in the thread of one message, oldest first."""
        return [message for message in self.posted_messages(channel) if message.thread_ts == thread_ts]

    def clear(self) -> None:
        """Forget recorded calls, violations, the posted-message list and scripted failures.

        Stored messages and views are kept, so a message posted before `clear()` can still be
        updated afterwards.
        """
        self.calls.clear()
        self.limit_violations.clear()
        self._posted.clear()
        self._failures.clear()

    # The timeout parameter is the documented interface of this test helper.
    async def wait_for_calls(
        self,
        method: str,
        count: int,
        timeout: float = 5.0,
    ) -> list[RecordedCall]:
        """Wait until at least `count` calls of `method` were recorded, and return all of them.

        Raises TimeoutError naming the calls received so far.
        """
        try:
            async with asyncio.timeout(timeout):
                async with self._new_call:
                    await self._new_call.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            raise TimeoutError(self._describe_wait_timeout(method, count, timeout)) from None
        return self.calls_to(method)

    def _describe_wait_timeout(self, method: str, count: int, timeout: float) -> str:
        seen = ", ".join(_summarize_call(call) for call in self.calls) or "none"
        return (
            f"Timed out after {timeout} s waiting for {count} {method} call(s); "
            f"received {len(self.calls_to(method))}. Calls so far: {seen}"
        )

    # Scripted failures

    def fail_next(
        self,
        method: str,
        error: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | str | None = None,
        times: int = 1,
        body: str | None = None,
    ) -> None:
        """Fail the next `times` calls of `method` with an error instead of handling them.

        Without arguments the failure is `ratelimited` with HTTP 429 and `Retry-After: 1`. A 5xx
        `status` alone returns `{"ok": false, "error": "internal_error"}`, and any other Slack
        error returns HTTP 200. `retry_after` (seconds) sets the header on any status. `body`
        sends that raw text as text/html instead of JSON, like a proxy's error page. Several
        `fail_next` calls for one method queue in order.
        """
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if error is None:
            error = "internal_error" if status is not None and status >= 500 else "ratelimited"
        if status is None:
            status = 429 if error == "ratelimited" else 200
        if retry_after is None and status == 429:
            retry_after = 1
        header = None if retry_after is None else _format_seconds(retry_after)
        self._failures[method].append(_ScriptedFailure(error, status, header, body, times))

    def fail_until(
        self,
        method: str,
        deadline: float,
        error: str | None = None,
        *,
        status: int | None = None,
        retry_after: float | str | None = None,
    ) -> None:
        """Fail every call of `method` until `time.monotonic()` reaches `deadline`, then answer normally.

        The error, status and header follow `fail_next`. A later call replaces the window of that method.
        """
        self.fail_next(method, error, status=status, retry_after=retry_after)
        self._windows[method] = (deadline, self._failures[method].pop())

    def _take_failure(self, method: str) -> _Answer | None:
        window = self._windows.get(method)
        if window is not None and time.monotonic() < window[0]:
            failure = window[1]
            headers = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
            return _Answer({"ok": False, "error": failure.error}, failure.status, headers)
        queue = self._failures.get(method)
        if not queue:
            return None
        failure = queue[0]
        failure.remaining -= 1
        if failure.remaining == 0:
            queue.popleft()
        headers = {} if failure.retry_after is None else {"Retry-After": failure.retry_after}
        body: dict[str, Any] | str = failure.body if failure.body is not None else {"ok": False, "error": failure.error}
        return _Answer(body, failure.status, headers)

    # Workspaces and tokens

    @property
    def workspaces(self) -> dict[str, Workspace]:
        """Return the registered workspaces by team id, the constructor's one first."""
        first = Workspace(self.team_id, self.team_name, self.bot_user_id, self.bot_id, self.enterprise_id)
        return {self.team_id: first, **self._workspaces}

    def add_workspace(
        self,
        team_id: str,
        *,
        team_name: str | None = None,
        bot_token: str | None = None,
        bot_user_id: str = "U0BOT",
        enterprise_id: str | None = None,
    ) -> str:
        """Register a workspace with one bot token, and return that token.

        Without `bot_token` a new one, `xoxb-{team_id}-{random hex}`, is generated. The bot id is
        the emulator's `bot_id`. Raises ValueError when the team or the token is already registered.
        """
        if team_id in self.workspaces:
            raise ValueError(f"Workspace {team_id} is already registered: use issue_oauth_code() for another token.")
        workspace = Workspace(team_id, team_name or f"Workspace {team_id}", bot_user_id, self.bot_id, enterprise_id)
        grant = _TokenGrant(
            token_type="bot",
            team_id=team_id,
            enterprise_id=enterprise_id,
            user_id=bot_user_id,
            bot_id=self.bot_id,
            scope=DEFAULT_BOT_SCOPES,
        )
        token = bot_token or _new_secret("xoxb", team_id)
        self._register_token(token, grant)
        self._workspaces[team_id] = workspace
        return token

    def revoke_workspace(self, team_id: str) -> set[str]:
        """Revoke every access and refresh token of a workspace, as uninstalling the app does.

        An enterprise id revokes the tokens of that organization's org-wide installs. Revoked
        access tokens then return `token_revoked`, and refresh tokens `invalid_refresh_token`.
        Returns the access tokens revoked.
        """
        revoked = {token for token, grant in self._grants.items() if grant.owned_by(team_id)}
        if team_id == self.team_id:
            revoked |= {token for token in self.valid_tokens if token not in self._grants}
        self.revoked_tokens |= revoked
        self._refresh_tokens = {
            token: grant for token, grant in self._refresh_tokens.items() if not grant.owned_by(team_id)
        }
        return revoked

    def issue_oauth_code(
        self,
        team_id: str,
        *,
        installer_user_id: str = "U0INSTALLER",
        enterprise_id: str | None = None,
        is_enterprise_install: bool = False,
        bot_scopes: str = DEFAULT_BOT_SCOPES,
        user_scopes: str = DEFAULT_USER_SCOPES,
        user_token: bool = False,
        token_rotation: bool = False,
    ) -> str:
        """Return a one-time code that `oauth.v2.access` exchanges for an install of the app.

        The code takes the place of the user's approval on Slack's authorize page. An unknown
        `team_id` is registered as a new workspace of `enterprise_id`, with bot user U0BOT. With
        `is_enterprise_install` the install covers the whole Enterprise Grid organization: its
        tokens belong to the enterprise, and `team_id` only names the installer's workspace.
        `user_token` adds a user token with `user_scopes` for the installer, and `token_rotation`
        makes the tokens expire after `token_lifetime_seconds` and adds refresh tokens.
        """
        known = self.workspaces.get(team_id)
        if is_enterprise_install and enterprise_id is None and (known is None or known.enterprise_id is None):
            raise ValueError(f"An org-wide install needs an enterprise_id, and workspace {team_id} has none.")
        enterprise_id = self._workspace_for_install(team_id, enterprise_id).enterprise_id
        code = _new_secret("code", team_id)
        self._oauth_codes[code] = _PendingInstall(
            team_id=team_id,
            enterprise_id=enterprise_id,
            is_enterprise_install=is_enterprise_install,
            installer_user_id=installer_user_id,
            bot_scopes=bot_scopes,
            user_scopes=user_scopes,
            user_token=user_token,
            token_rotation=token_rotation,
        )
        return code

    def _workspace_for_install(self, team_id: str, enterprise_id: str | None) -> Workspace:
        """Return the workspace an install goes to, registering it when it is new."""
        workspace = self.workspaces.get(team_id)
        if workspace is None:
            workspace = Workspace(team_id, f"Workspace {team_id}", "U0BOT", self.bot_id, enterprise_id)
            self._workspaces[team_id] = workspace
            return workspace
        if enterprise_id is not None and workspace.enterprise_id != enterprise_id:
            raise ValueError(
                f"Workspace {team_id} belongs to enterprise {workspace.enterprise_id}, not {enterprise_id}."
            )
        return workspace

    def _register_token(self, token: str, grant: _TokenGrant) -> None:
        if token in self.valid_tokens or token in self._grants:
            raise ValueError(f"Token {token[:12]}… is already registered.")
        self.valid_tokens.add(token)
        self._grants[token] = grant

    def _grant_for(self, token: str | None) -> _TokenGrant | None:
        """Return the grant of a token, or None when the emulator never accepted the token."""
        if token is None:
            return None
        grant = self._grants.get(token)
        if grant is not None:
            return grant
        if token in self.valid_tokens or token in self.revoked_tokens:
            return self._first_workspace_grant()
        return None

    def _first_workspace_grant(self) -> _TokenGrant:
        return _TokenGrant(
            token_type="bot",
            team_id=self.team_id,
            enterprise_id=self.enterprise_id,
            user_id=self.bot_user_id,
            bot_id=self.bot_id,
            scope=DEFAULT_BOT_SCOPES,
        )

    def _identity(self, context: _CallContext) -> _TokenGrant:
        """Return the grant of the call's token. A call without one acts as the constructor's bot."""
        return context.grant or self._first_workspace_grant()

    def _acting_team_id(self, context: _CallContext) -> str:
        """Return the team id that response bodies name: the call's workspace, else the token's enterprise."""
        if context.grant is None:
            return self.team_id
        return context.team_id or context.grant.enterprise_id or self.team_id

    def _enterprise_name(self, enterprise_id: str) -> str:
        return self.enterprise_names.get(enterprise_id, f"Org {enterprise_id}")

    def _team_object(self, team_id: str | None) -> dict[str, str] | None:
        if team_id is None:
            return None
        return {"id": team_id, "name": self.workspaces[team_id].team_name}

    def _enterprise_object(self, enterprise_id: str | None) -> dict[str, str] | None:
        if enterprise_id is None:
            return None
        return {"id": enterprise_id, "name": self._enterprise_name(enterprise_id)}

    # Request handling

    async def _handle_request(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        received_at = time.monotonic()
        context = _CallContext(method, {})
        try:
            context.params = await _read_params(request)
        except ValueError as error:
            answer = _Answer({"ok": False, "error": str(error)})
            token = _read_token(request, context.params)
            context.grant = self._grant_for(token)
        else:
            token = _read_token(request, context.params)
            context.params.pop("token", None)
            context.client_id, context.client_secret = _read_client_credentials(request, context.params)
            context.grant = self._grant_for(token)
            answer = self._answer(context, token)
        await self._record(context, token, received_at, answer)
        return answer.to_response()

    def _answer(self, context: _CallContext, token: str | None) -> _Answer:
        scripted = self._take_failure(context.method)
        if scripted is not None:
            return scripted
        if context.method == "apps.connections.open":
            # Only app-level tokens open Socket Mode connections; bot tokens get not_allowed_token_type.
            auth_error = None if token in self.app_tokens else ("not_authed" if not token else "not_allowed_token_type")
        else:
            auth_error = None if context.method in TOKENLESS_METHODS else self._token_error(token)
        if auth_error is not None:
            return _Answer({"ok": False, "error": auth_error})
        handler = self._handlers.get(context.method, _answer_ok)
        try:
            return _Answer(handler(context))
        except _SlackError as error:
            return _Answer(error.body())

    def _token_error(self, token: str | None) -> str | None:
        if not token:
            return "not_authed"
        if token in self.revoked_tokens:
            return "token_revoked"
        if token not in self.valid_tokens:
            return "invalid_auth"
        grant = self._grants.get(token)
        if grant is not None and grant.expires_at is not None and time.time() >= grant.expires_at:
            return "token_expired"
        return None

    async def _record(self, context: _CallContext, token: str | None, received_at: float, answer: _Answer) -> None:
        method, params = context.method, context.params
        mentions = scan_message(params) if method in MESSAGE_METHODS else []
        call = RecordedCall(
            method,
            params,
            token,
            received_at,
            answer.body,
            answer.status,
            context.violations,
            mentions,
            team_id=context.team_id,
            enterprise_id=None if context.grant is None else context.grant.enterprise_id,
        )
        self.calls.append(call)
        self.limit_violations.extend(context.violations)
        logger.debug("Slack emulator call", extra={"method": method, "status": answer.status})
        if self._on_call is not None:
            self._on_call(call)
        async with self._new_call:
            self._new_call.notify_all()

    def _violate(self, context: _CallContext, problems: list[LimitProblem], error: str) -> NoReturn:
        """Record the problems as limit violations and raise Slack's error for them."""
        for problem in problems:
            context.violations.append(f"{context.method}: {problem.describe()}")
        raise _SlackError(error, [problem.slack_message() for problem in problems])

    # Channels

    def _resolve_channel(self, channel: Any) -> str:
        """Return the channel id to post to, or raise `channel_not_found`."""
        if not isinstance(channel, str) or not channel:
            raise _SlackError("channel_not_found")
        if channel.startswith(USER_PREFIXES):
            return "D" + channel[1:]
        if not channel.startswith(CHANNEL_PREFIXES):
            raise _SlackError("channel_not_found")
        return channel

    def _is_member(self, channel: str) -> bool:
        if channel.startswith("D"):
            return True
        return self.member_channels is None or channel in self.member_channels

    def _check_can_post(self, channel: str) -> None:
        # Slack hides a private channel from a non-member, so it returns channel_not_found.
        if channel in self.private_channels and not self._is_member(channel):
            raise _SlackError("channel_not_found")
        if channel in self.archived_channels:
            raise _SlackError("is_archived")
        if not self._is_member(channel):
            raise _SlackError("not_in_channel")

    def _known_channels(self) -> set[str]:
        known = set(self.channel_names) | self.archived_channels | self.private_channels | self.shared_channels
        if self.member_channels is not None:
            known |= self.member_channels
        return known

    def _channel_object(self, channel: str, *, team_id: str) -> dict[str, Any]:
        if channel.startswith("D"):
            return {"id": channel, "is_im": True, "user": "U" + channel[1:], "is_member": True}
        shared = channel in self.shared_channels
        return {
            "id": channel,
            "name": self.channel_names.get(channel, f"channel-{channel.lower()}"),
            "is_channel": channel.startswith("C"),
            "is_group": channel.startswith("G"),
            "is_im": False,
            "is_private": channel in self.private_channels,
            "is_archived": channel in self.archived_channels,
            "is_member": self._is_member(channel),
            "is_shared": shared,
            "is_ext_shared": shared,
            "is_org_shared": False,
            "context_team_id": team_id,
        }

    # Method handlers

    def _auth_test(self, context: _CallContext) -> dict[str, Any]:
        grant = self._identity(context)
        if grant.team_id is None:
            # NOTE: an org-wide token reports its enterprise id as team_id here. Bolt's install and
            # authorize code read only bot_id, user_id, url and enterprise_id from auth.test.
            team_name = self._enterprise_name(str(grant.enterprise_id))
            url = f"https://{_slug(team_name)}.enterprise.slack.com/"
        else:
            team_name = self.workspaces[grant.team_id].team_name
            url = f"https://{_slug(team_name)}.slack.com/"
        body: dict[str, Any] = {
            "ok": True,
            "url": url,
            "team": team_name,
            "user": self.bot_user_name if grant.token_type == "bot" else grant.user_id.lower(),
            "team_id": grant.team_id or grant.enterprise_id,
            "user_id": grant.user_id,
        }
        # Bolt (AuthorizeResult.from_auth_test_response) reads a response without bot_id as a user token's.
        if grant.bot_id is not None:
            body["bot_id"] = grant.bot_id
        if grant.enterprise_id is not None:
            body["enterprise_id"] = grant.enterprise_id
        body["is_enterprise_install"] = grant.is_enterprise_install
        if grant.expires_at is not None:
            body["expires_in"] = max(0, int(grant.expires_at - time.time()))
        return body

    # OAuth v2 (oauth.v2.access)

    def _oauth_v2_access(self, context: _CallContext) -> dict[str, Any]:
        """Exchange an install code, or with `grant_type=refresh_token` a refresh token, for tokens."""
        if context.client_id != self.client_id:
            raise _SlackError("invalid_client_id")
        if context.client_secret != self.client_secret:
            raise _SlackError("bad_client_secret")
        grant_type = context.params.get("grant_type") or "authorization_code"
        if grant_type == "refresh_token":
            return self._refresh_access_token(context)
        if grant_type != "authorization_code":
            raise _SlackError("invalid_grant_type")
        return self._exchange_code(context)

    def _exchange_code(self, context: _CallContext) -> dict[str, Any]:
        code = context.params.get("code")
        install = self._oauth_codes.pop(code, None) if isinstance(code, str) else None
        if install is None:
            raise _SlackError("invalid_code")
        workspace = self.workspaces[install.team_id]
        bot = _TokenGrant(
            token_type="bot",
            team_id=None if install.is_enterprise_install else install.team_id,
            enterprise_id=install.enterprise_id,
            user_id=workspace.bot_user_id,
            bot_id=workspace.bot_id,
            scope=install.bot_scopes,
            expires_at=self._token_expiry() if install.token_rotation else None,
        )
        body: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": self._authed_user(install, bot),
            "scope": bot.scope,
            "token_type": "bot",
            "access_token": self._mint_access_token(bot),
            "bot_user_id": bot.user_id,
            "team": self._team_object(bot.team_id),
            "enterprise": self._enterprise_object(bot.enterprise_id),
            "is_enterprise_install": bot.is_enterprise_install,
        }
        if install.token_rotation:
            body["refresh_token"] = self._issue_refresh_token(bot)
            body["expires_in"] = int(self.token_lifetime_seconds)
        return body

    def _authed_user(self, install: _PendingInstall, bot: _TokenGrant) -> dict[str, Any]:
        """Build `authed_user`: the installer's id, plus a user token when the install requested one."""
        authed_user: dict[str, Any] = {"id": install.installer_user_id}
        if not install.user_token:
            return authed_user
        grant = replace(
            bot, token_type="user", user_id=install.installer_user_id, bot_id=None, scope=install.user_scopes
        )
        authed_user["scope"] = grant.scope
        authed_user["access_token"] = self._mint_access_token(grant)
        authed_user["token_type"] = "user"
        if install.token_rotation:
            authed_user["refresh_token"] = self._issue_refresh_token(grant)
            authed_user["expires_in"] = int(self.token_lifetime_seconds)
        return authed_user

    def _refresh_access_token(self, context: _CallContext) -> dict[str, Any]:
        """Rotate a token: a refresh token works once and returns a new access token and refresh token.

        The previous access token stays valid until it expires.
        """
        refresh_token = context.params.get("refresh_token")
        previous = self._refresh_tokens.pop(refresh_token, None) if isinstance(refresh_token, str) else None
        if previous is None:
            raise _SlackError("invalid_refresh_token")
        grant = replace(previous, expires_at=self._token_expiry())
        body: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "access_token": self._mint_access_token(grant),
            "expires_in": int(self.token_lifetime_seconds),
            "refresh_token": self._issue_refresh_token(grant),
            "token_type": grant.token_type,
            "scope": grant.scope,
        }
        if grant.token_type == "bot":
            body["bot_user_id"] = grant.user_id
        body["team"] = self._team_object(grant.team_id)
        body["enterprise"] = self._enterprise_object(grant.enterprise_id)
        body["is_enterprise_install"] = grant.is_enterprise_install
        return body

    def _mint_access_token(self, grant: _TokenGrant) -> str:
        prefix = "xoxb" if grant.token_type == "bot" else "xoxp"
        token = _new_secret(prefix, grant.team_id or str(grant.enterprise_id))
        self._register_token(token, grant)
        return token

    def _issue_refresh_token(self, grant: _TokenGrant) -> str:
        token = _new_secret("xoxe-1", grant.team_id or str(grant.enterprise_id))
        self._refresh_tokens[token] = grant
        return token

    def _token_expiry(self) -> float:
        return time.time() + self.token_lifetime_seconds

    def _chat_post_message(self, context: _CallContext) -> dict[str, Any]:
        params = context.params
        channel = self._resolve_channel(params.get("channel"))
        self._check_can_post(channel)
        blocks = self._check_message_content(context)
        text, warning = self._truncate_post_text(context)
        message = self._store_message(context, channel, text, blocks, thread_ts=params.get("thread_ts"))
        body: dict[str, Any] = {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "message": self._message_body(context, message),
        }
        if warning is not None:
            body["warning"] = warning
            body["response_metadata"] = {"warnings": [warning]}
        return body

    def _chat_post_ephemeral(self, context: _CallContext) -> dict[str, Any]:
        params = context.params
        channel = self._resolve_channel(params.get("channel"))
        self._check_can_post(channel)
        user = params.get("user")
        if not isinstance(user, str) or not user.startswith(USER_PREFIXES):
            raise _SlackError("user_not_found")
        blocks = self._check_message_content(context)
        text, _ = self._truncate_post_text(context)
        message = self._store_message(context, channel, text, blocks, thread_ts=params.get("thread_ts"))
        message.ephemeral_user = user
        return {"ok": True, "message_ts": message.ts}

    def _chat_update(self, context: _CallContext) -> dict[str, Any]:
        params = context.params
        channel = self._resolve_channel(params.get("channel"))
        self._check_can_post(channel)
        message = self.messages.get((channel, str(params.get("ts"))))
        if message is None or message.ephemeral_user is not None:
            raise _SlackError("message_not_found")
        self._check_same_workspace(context, message)
        blocks = self._check_message_content(context)
        text = params.get("text")
        if isinstance(text, str) and len(text) > MAX_UPDATE_TEXT:
            problem = LimitProblem(
                "/text", f"chat.update text: at most {MAX_UPDATE_TEXT} characters", f"got {len(text)}"
            )
            self._violate(context, [problem], "msg_too_long")
        self._apply_update(message, params, blocks)
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._message_body(context, message),
        }

    def _apply_update(self, message: PostedMessage, params: dict[str, Any], blocks: list[Any] | None) -> None:
        # Slack keeps the fields that chat.update leaves out.
        if "text" in params:
            message.text = str(params["text"])
        if "blocks" in params:
            message.blocks = blocks
        message.payload = {**message.payload, **params}
        message.update_count += 1
        message.mentions = scan_message({**message.payload, "blocks": message.blocks, "text": message.text})

    def _check_message_content(self, context: _CallContext) -> list[Any] | None:
        """Check text, blocks and attachments of a chat.* call, and return the parsed blocks."""
        params = context.params
        blocks = _parse_blocks(params.get("blocks"))
        if not _has_content(params, blocks):
            raise _SlackError("no_text")
        if blocks:
            checker = BlockKitChecker()
            checker.check_blocks(blocks, "/blocks", maximum=MAX_MESSAGE_BLOCKS, surface="message")
            if checker.problems:
                self._violate(context, checker.problems, "invalid_blocks")
        return blocks

    def _truncate_post_text(self, context: _CallContext) -> tuple[str, str | None]:
        """Return the text Slack would store, and the `message_truncated` warning when it cut it."""
        text = context.params.get("text")
        text = "" if text is None else str(text)
        if len(text) <= MAX_POST_TEXT:
            return text, None
        problem = LimitProblem(
            "/text", f"{context.method} text: truncated past {MAX_POST_TEXT} characters", f"got {len(text)}"
        )
        context.violations.append(f"{context.method}: {problem.describe()} (warning message_truncated)")
        return text[:MAX_POST_TEXT], "message_truncated"

    def _store_message(
        self, context: _CallContext, channel: str, text: str, blocks: list[Any] | None, *, thread_ts: Any
    ) -> PostedMessage:
        params = context.params
        message = PostedMessage(
            channel=channel,
            ts=self._next_ts(),
            text=text,
            blocks=blocks,
            thread_ts=None if thread_ts is None else str(thread_ts),
            payload=dict(params),
            mentions=scan_message({**params, "text": text, "blocks": blocks}),
            team_id=context.team_id,
        )
        self.messages[(channel, message.ts)] = message
        self._posted.append(message)
        return message

    def _check_same_workspace(self, context: _CallContext, message: PostedMessage) -> None:
        """Raise `message_not_found` when the message was posted in a workspace the token cannot see.

        An org-wide token can reach the messages of every workspace in its enterprise.
        """
        if message.team_id == context.team_id:
            return
        identity = self._identity(context)
        workspace = self.workspaces.get(message.team_id or "")
        if (
            identity.is_enterprise_install
            and workspace is not None
            and workspace.enterprise_id == identity.enterprise_id
        ):
            return
        raise _SlackError("message_not_found")

    def _message_body(self, context: _CallContext, message: PostedMessage) -> dict[str, Any]:
        identity = self._identity(context)
        body: dict[str, Any] = {
            "type": "message",
            "user": identity.user_id,
            "bot_id": identity.bot_id,
            "team": message.team_id or self._acting_team_id(context),
            "ts": message.ts,
            "text": message.text,
        }
        if identity.bot_id is None:
            # A message posted with a user token comes from that user, not from a bot.
            del body["bot_id"]
        if message.blocks:
            body["blocks"] = message.blocks
        if message.thread_ts is not None:
            body["thread_ts"] = message.thread_ts
        return body

    def _next_ts(self) -> str:
        # Message timestamps are "seconds.microseconds" strings that grow with every post.
        self._ts_counter += 1
        seconds, micros = divmod(self._ts_counter, 1_000_000)
        return f"{self._ts_seconds + seconds}.{micros:06d}"

    # Streaming (chat.startStream, chat.appendStream, chat.stopStream)

    def _chat_start_stream(self, context: _CallContext) -> dict[str, Any]:
        params = context.params
        channel = self._resolve_channel(params.get("channel"))
        self._check_can_post(channel)
        if not params.get("thread_ts"):
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: thread_ts"])
        self._check_stream_recipient(context, channel)
        message = self._store_message(context, channel, _stream_text(params), None, thread_ts=params["thread_ts"])
        message.streaming = True
        return {"ok": True, "channel": channel, "ts": message.ts}

    def _check_stream_recipient(self, context: _CallContext, channel: str) -> None:
        # Outside DMs Slack needs to know whom the streamed reply is for.
        if channel.startswith("D"):
            return
        params = context.params
        if params.get("recipient_user_id") and params.get("recipient_team_id"):
            return
        problem = LimitProblem(
            "/recipient_user_id",
            "chat.startStream in a channel: recipient_user_id and recipient_team_id are required",
            "missing",
        )
        self._violate(context, [problem], "invalid_arguments")

    def _chat_append_stream(self, context: _CallContext) -> dict[str, Any]:
        message = self._streaming_message(context)
        message.text += _stream_text(context.params)
        message.mentions = scan_message({"text": message.text, "blocks": message.blocks})
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _chat_stop_stream(self, context: _CallContext) -> dict[str, Any]:
        message = self._streaming_message(context)
        blocks = _parse_blocks(context.params.get("blocks"))
        if blocks:
            message.blocks = blocks
        message.text += _stream_text(context.params)
        message.streaming = False
        message.mentions = scan_message({"text": message.text, "blocks": message.blocks})
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "message": self._message_body(context, message),
        }

    def _streaming_message(self, context: _CallContext) -> PostedMessage:
        channel = self._resolve_channel(context.params.get("channel"))
        message = self.messages.get((channel, str(context.params.get("ts"))))
        if message is None:
            raise _SlackError("message_not_found")
        self._check_same_workspace(context, message)
        if not message.streaming:
            # NOTE: this error name is a guess, not checked against Slack's chat.appendStream page.
            raise _SlackError("message_not_in_streaming_state")
        return message

    # Views

    def _views_publish(self, context: _CallContext) -> dict[str, Any]:
        user_id = context.params.get("user_id")
        if not isinstance(user_id, str) or not user_id:
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: user_id"])
        view = self._checked_view(context, expected_type="home")
        stored = self._store_view(context, view, view_id=self.home_views.get(user_id, {}).get("id"))
        self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    def _views_open(self, context: _CallContext) -> dict[str, Any]:
        if not context.params.get("trigger_id") and not context.params.get("interactivity_pointer"):
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        view = self._checked_view(context, expected_type="modal")
        return {"ok": True, "view": self._store_view(context, view, view_id=None)}

    def _views_update(self, context: _CallContext) -> dict[str, Any]:
        view_id = context.params.get("view_id") or self._view_id_for_external(context.params.get("external_id"))
        if not view_id or view_id not in self.views:
            raise _SlackError("not_found")
        view = self._checked_view(context, expected_type=self.views[view_id].get("type"))
        return {"ok": True, "view": self._store_view(context, view, view_id=view_id)}

    def _view_id_for_external(self, external_id: Any) -> str | None:
        if not external_id:
            return None
        return next((vid for vid, view in self.views.items() if view.get("external_id") == external_id), None)

    def _checked_view(self, context: _CallContext, *, expected_type: Any) -> dict[str, Any]:
        """Parse the `view` parameter and check it against Slack's view limits."""
        try:
            view = _parse_json_value(context.params.get("view"))
        except ValueError:
            view = None
        if not isinstance(view, dict):
            raise _SlackError("invalid_arguments", ["[ERROR] view must be an object [json-pointer:/view]"])
        if view.get("type") != expected_type:
            raise _SlackError(
                "invalid_arguments", [f"[ERROR] view type must be {expected_type} [json-pointer:/view/type]"]
            )
        size = view_size(view)
        if size > MAX_VIEW_BYTES:
            problem = LimitProblem("/view", f"view JSON: at most {MAX_VIEW_BYTES} bytes", f"got {size}")
            self._violate(context, [problem], "view_too_large")
        problems = check_view(view)
        if problems:
            self._violate(context, problems, "invalid_arguments")
        return view

    def _store_view(self, context: _CallContext, view: dict[str, Any], *, view_id: str | None) -> dict[str, Any]:
        if view_id is None:
            self._view_counter += 1
            view_id = f"V{self._view_counter:08d}"
        stored = {
            "private_metadata": "",
            "callback_id": "",
            "state": {"values": {}},
            **view,
            "id": view_id,
            "team_id": self._acting_team_id(context),
            "bot_id": self._identity(context).bot_id,
            "hash": f"{time.time():.6f}-{view_id}",
        }
        self.views[view_id] = stored
        return stored

    # Conversations

    def _users_conversations(self, context: _CallContext) -> dict[str, Any]:
        params = context.params
        limit = _parse_limit(params.get("limit"))
        offset = _decode_cursor(params.get("cursor"))
        channels = self._list_member_channels(
            types=str(params.get("types") or "public_channel").split(","),
            exclude_archived=_truthy(params.get("exclude_archived")),
            team_id=self._acting_team_id(context),
        )
        page = channels[offset : offset + limit]
        more = offset + limit < len(channels)
        next_cursor = _encode_cursor(offset + limit) if more else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def _list_member_channels(self, *, types: list[str], exclude_archived: bool, team_id: str) -> list[dict[str, Any]]:
        wanted = {kind.strip() for kind in types}
        listed = []
        for channel in sorted(self._known_channels()):
            if not self._is_member(channel) or (exclude_archived and channel in self.archived_channels):
                continue
            kind = "private_channel" if channel in self.private_channels else "public_channel"
            if kind in wanted:
                listed.append(self._channel_object(channel, team_id=team_id))
        return listed

    def _conversations_info(self, context: _CallContext) -> dict[str, Any]:
        channel = context.params.get("channel")
        if not isinstance(channel, str) or not channel.startswith(CHANNEL_PREFIXES):
            raise _SlackError("channel_not_found")
        if channel in self.private_channels and not self._is_member(channel):
            raise _SlackError("channel_not_found")
        return {"ok": True, "channel": self._channel_object(channel, team_id=self._acting_team_id(context))}

    def _conversations_list(self, context: _CallContext) -> dict[str, Any]:
        """List the known channels of the requested types, members or not, hiding private channels the bot is not in."""
        params = context.params
        limit = _parse_limit(params.get("limit"))
        offset = _decode_cursor(params.get("cursor"))
        wanted = {kind.strip() for kind in str(params.get("types") or "public_channel").split(",")}
        team_id = self._acting_team_id(context)
        listed = []
        for channel in sorted(self._known_channels()):
            private = channel in self.private_channels
            if channel.startswith("D") or (private and not self._is_member(channel)):
                continue
            if _truthy(params.get("exclude_archived")) and channel in self.archived_channels:
                continue
            if ("private_channel" if private else "public_channel") in wanted:
                listed.append(self._channel_object(channel, team_id=team_id))
        page = listed[offset : offset + limit]
        next_cursor = _encode_cursor(offset + limit) if offset + limit < len(listed) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_join(self, context: _CallContext) -> dict[str, Any]:
        """Join a public channel as the bot; a private one stays hidden (channel_not_found), as in Slack."""
        channel = context.params.get("channel")
        if not isinstance(channel, str) or not channel.startswith(CHANNEL_PREFIXES):
            raise _SlackError("channel_not_found")
        if channel in self.private_channels:
            if self._is_member(channel):
                raise _SlackError("method_not_supported_for_channel_type")
            raise _SlackError("channel_not_found")
        if channel in self.archived_channels:
            raise _SlackError("is_archived")
        already = self._is_member(channel)
        if self.member_channels is not None:
            self.member_channels.add(channel)
        body: dict[str, Any] = {
            "ok": True,
            "channel": self._channel_object(channel, team_id=self._acting_team_id(context)),
        }
        if already:
            body["warning"] = "already_in_channel"
            body["response_metadata"] = {"warnings": ["already_in_channel"]}
        return body

    def _conversations_open(self, context: _CallContext) -> dict[str, Any]:
        """Open the bot's direct message with one user: D + the rest of the user id, as chat.postMessage does."""
        users = str(context.params.get("users") or "")
        if not users:
            raise _SlackError("users_list_not_supplied")
        if "," in users:
            # NOTE: group direct messages (mpim) are not emulated; the bot opens one-to-one ones only.
            raise _SlackError("not_supported")
        if not users.startswith(USER_PREFIXES):
            raise _SlackError("user_not_found")
        return {"ok": True, "channel": {"id": "D" + users[1:]}}

    def _files_get_upload_url(self, context: _CallContext) -> dict[str, Any]:
        filename, length = context.params.get("filename"), context.params.get("length")
        if not filename or length is None:
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: filename or length"])
        self._view_counter += 1
        file_id = f"F{self._view_counter:08d}"
        self.upload_lengths[file_id] = int(length)
        return {"ok": True, "upload_url": f"http://{HOST}:{self.port}/upload/{file_id}", "file_id": file_id}

    async def _handle_upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.upload_lengths:
            return web.Response(status=404, text="unknown upload")
        if self.upload_failure_status is not None:
            return web.Response(status=self.upload_failure_status, text="upload failed")
        self.uploads[file_id] = await request.read()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}")

    def _files_complete_upload(self, context: _CallContext) -> dict[str, Any]:
        files = _parse_json_value(context.params.get("files"))
        if not isinstance(files, list) or not files:
            raise _SlackError("invalid_arguments", ["[ERROR] files must be a non-empty array"])
        completed = []
        for item in files:
            file_id = item.get("id") if isinstance(item, dict) else None
            if file_id not in self.uploads:
                raise _SlackError("file_not_found")
            completed.append({"id": file_id, "title": item.get("title"), "size": len(self.uploads[file_id])})
            self.shared_files.append(
                {
                    "id": file_id,
                    "channel": context.params.get("channel_id"),
                    "thread_ts": context.params.get("thread_ts"),
                    "initial_comment": context.params.get("initial_comment"),
                }
            )
        return {"ok": True, "files": completed}

    def _apps_connections_open(self, context: _CallContext) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://{HOST}:{self.port}/socket"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._sockets.append(socket)
        await socket.send_json({"type": "hello", "num_connections": len(self._sockets)})
        try:
            async for message in socket:
                if message.type != web.WSMsgType.TEXT:
                    continue
                reply = json.loads(message.data)
                waiter = self._socket_acks.pop(str(reply.get("envelope_id")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(reply)
        finally:
            self._sockets.remove(socket)
        return socket

    async def wait_for_socket(self, timeout: float = 5.0) -> None:
        """Wait until the bot has opened a Socket Mode connection."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not self._sockets:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("no Socket Mode connection was opened")
            await asyncio.sleep(0.01)

    async def send_socket_request(self, kind: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send an envelope over Socket Mode, as Slack does, and return the bot's acknowledgement."""
        await self.wait_for_socket(timeout)
        self._view_counter += 1
        envelope_id = f"envelope-{self._view_counter}"
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._socket_acks[envelope_id] = waiter
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload, "accepts_response_payload": True}
        await self._sockets[-1].send_json(envelope)
        return await asyncio.wait_for(waiter, timeout)

    def _users_info(self, context: _CallContext) -> dict[str, Any]:
        user = context.params.get("user")
        if not isinstance(user, str) or not user.startswith(("U", "W")):
            raise _SlackError("user_not_found")
        owner = user in self.owner_users
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": self._acting_team_id(context),
                "name": user.lower(),
                "is_admin": owner or user in self.admin_users,
                "is_owner": owner,
                "is_primary_owner": False,
                "is_bot": user in {workspace.bot_user_id for workspace in self.workspaces.values()},
                "tz": self.user_timezones.get(user, DEFAULT_USER_TIMEZONE),
            },
        }


# --- Request parsing helpers ----------------------------------------------------------------


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge the query string with a JSON or form body. The body wins on a repeated name.

    Raises ValueError carrying Slack's error code when a JSON body is invalid.
    """
    params: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            raise ValueError("invalid_json") from None
        if not isinstance(body, dict):
            raise ValueError("json_not_object")
        params.update(body)
    else:
        form = await request.post()
        params.update({name: value for name, value in form.items() if isinstance(value, str)})
    return params


def _read_token(request: web.Request, params: Mapping[str, Any]) -> str | None:
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Bearer "):
        return authorization.removeprefix("Bearer ").strip() or None
    token = params.get("token")
    return token if isinstance(token, str) and token else None


def _read_client_credentials(request: web.Request, params: dict[str, Any]) -> tuple[str | None, str | None]:
    """Return the OAuth client id and secret, and remove the secret from `params` so it is never recorded.

    slack_sdk sends them as HTTP Basic auth. The `client_id` and `client_secret` parameters are
    read when no Basic auth header is present.
    """
    client_secret = params.pop("client_secret", None)
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("Basic "):
        return _decode_basic_auth(authorization.removeprefix("Basic "))
    client_id = params.get("client_id")
    return (
        client_id if isinstance(client_id, str) else None,
        client_secret if isinstance(client_secret, str) else None,
    )


def _decode_basic_auth(encoded: str) -> tuple[str | None, str | None]:
    """Split base64 `login:password` credentials, or return (None, None) when they are malformed."""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    login, colon, password = decoded.partition(":")
    return (login, password) if colon else (None, None)


def _new_secret(prefix: str, owner: str) -> str:
    """Generate a token or code such as `xoxb-T0002-3f9a…`, ending in 16 random hex digits."""
    return f"{prefix}-{owner}-{secrets.token_hex(8)}"


def _slug(name: str) -> str:
    """Turn a workspace name into the subdomain of its Slack URL."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "workspace"


def _answer_ok(context: _CallContext) -> dict[str, Any]:
    return {"ok": True}


def _parse_json_value(value: Any) -> Any:
    """Decode a parameter that form bodies send as a JSON string; leave other values as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"not valid JSON: {value[:40]!r}") from None
    return value


def _parse_blocks(value: Any) -> list[Any] | None:
    """Decode a `blocks` parameter, or raise Slack's `invalid_blocks_format`."""
    try:
        blocks = _parse_json_value(value)
    except ValueError:
        raise _SlackError("invalid_blocks_format") from None
    if blocks is not None and not isinstance(blocks, list):
        raise _SlackError("invalid_blocks_format")
    return blocks


def _decode_or_none(value: Any) -> Any:
    """Decode like `_parse_json_value`, but return None for invalid JSON (used when only scanning)."""
    try:
        return _parse_json_value(value)
    except ValueError:
        return None


def _decode_list(value: Any) -> list[Any]:
    decoded = _decode_or_none(value)
    return decoded if isinstance(decoded, list) else []


def _has_content(params: Mapping[str, Any], blocks: list[Any] | None) -> bool:
    return bool(params.get("text")) or bool(blocks) or bool(params.get("attachments"))


def _stream_text(params: Mapping[str, Any]) -> str:
    text = str(params.get("markdown_text") or "")
    for chunk in _decode_list(params.get("chunks")):
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text", ""))
    return text


def _parse_limit(value: Any) -> int:
    # NOTE: Slack caps this limit below 1000. The invalid_limit error for larger values is a guess.
    if value is None or value == "":
        return DEFAULT_CONVERSATIONS_LIMIT
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise _SlackError("invalid_limit") from None
    if limit < 0 or limit > MAX_CONVERSATIONS_LIMIT:
        raise _SlackError("invalid_limit")
    return limit or DEFAULT_CONVERSATIONS_LIMIT


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        decoded = base64.b64decode(str(cursor), validate=True).decode()
        return int(decoded.removeprefix("offset:"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _SlackError("invalid_cursor") from None


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in ("1", "true", "yes")
    return bool(value)


def _format_seconds(seconds: float | str) -> str:
    if isinstance(seconds, float) and seconds.is_integer():
        return str(int(seconds))
    return str(seconds)


def _summarize(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return f"got {text[:width]}"


def _summarize_call(call: RecordedCall) -> str:
    outcome = "ok" if call.ok else (call.error or f"HTTP {call.status}")
    channel = call.params.get("channel")
    return f"{call.method}({channel}) {outcome}" if channel else f"{call.method} {outcome}"


# --- Standalone mode ------------------------------------------------------------------------


def format_call(call: RecordedCall) -> list[str]:
    """Format one call as output lines: the call, then each limit violation and mention."""
    text = call.params.get("text") or call.params.get("markdown_text") or ""
    outcome = "ok" if call.ok else (call.error or f"HTTP {call.status}")
    lines = [f"{call.method} channel={call.params.get('channel', '-')} {outcome} text={str(text)[:80]!r}"]
    lines.extend(f"  limit violated: {violation}" for violation in call.violations)
    lines.extend(f"  mention ({mention.kind}): {mention.token}" for mention in call.mentions)
    return lines


def _print_call(call: RecordedCall) -> None:
    for line in format_call(call):
        print(line, flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tests.slack_emulator",
        description="Serve an emulated Slack Web API on 127.0.0.1 and print each call.",
    )
    parser.add_argument("--port", type=int, default=8765, help="TCP port on 127.0.0.1 (0 picks a free port)")
    parser.add_argument("--token", default="xoxb-test-token", help="bot token the emulator accepts")
    parser.add_argument("--team", default="T0001", help="team id that auth.test returns")
    parser.add_argument(
        "--admins", default="", help="comma-separated user ids that users.info reports as workspace admins"
    )
    parser.add_argument(
        "--channels",
        default=None,
        help="comma-separated channel ids the bot is a member of (default: every channel)",
    )
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    members = None if args.channels is None else {c.strip() for c in args.channels.split(",") if c.strip()}
    names = DEFAULT_CHANNELS if members is None else {channel: f"channel-{channel.lower()}" for channel in members}
    emulator = SlackEmulator(
        team_id=args.team,
        bot_token=args.token,
        member_channels=members,
        channel_names=names,
        port=args.port,
        on_call=_print_call,
    )
    emulator.admin_users.update(user.strip() for user in args.admins.split(",") if user.strip())
    async with emulator:
        print(f"SLACK_API_URL={emulator.base_url}", flush=True)
        print(f"SLACK_BOT_TOKEN={args.token}  (team {args.team}, bot user {emulator.bot_user_id})", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        print("Slack emulator stopped.", flush=True)
    except OSError as error:
        print(
            f"Failed to start the Slack emulator on {HOST}:{args.port}: {error}. Choose another --port.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
