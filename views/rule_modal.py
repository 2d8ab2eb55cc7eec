"""The modal that adds or edits a notification rule, its option lists, and the delete confirmation.

The channel and client pickers are `external_select` menus. Slack requests their options from the app as
the user types, and the handler returns `channel_options` or `client_options`. The type picker sets
`dispatch_action`, so choosing a type sends a `block_actions` event and the handler can rebuild the modal
with or without the minimum severity field, which only outlier alerts have.

When the handler rebuilds the modal with `views.update`, Slack keeps what the user already entered in
inputs whose `block_id` and `action_id` are unchanged, so the handler passes those choices back in
`RuleModalModel` for the initial options to match.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from storage.events_schema import Severity
from storage.models import Channel, NotificationType, Rule
from views.ids import (
    ALL_CLIENTS_VALUE,
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    CLIENT_ACTION,
    CLIENT_BLOCK,
    RULE_DELETE_CALLBACK,
    RULE_MODAL_CALLBACK,
    SEVERITY_ACTION,
    SEVERITY_BLOCK,
    TYPE_ACTION,
    TYPE_BLOCK,
)
from views.rule_burst import burst_inputs
from views.rule_preview import RulePreview, preview_blocks
from views.rule_text import (
    ALL_CLIENTS_LABEL,
    MAX_CLIENT_NAME,
    MAX_OPTION_TEXT,
    MAX_OPTION_VALUE,
    MAX_SELECT_OPTIONS,
    NOTIFICATION_TYPE_DESCRIPTIONS,
    NOTIFICATION_TYPE_LABELS,
    SEVERITY_LABELS,
    channel_name_text,
    client_text,
    context_block,
    option,
    plain_text,
    section_block,
    shared_channel_warning,
)
from views.text import escape_and_truncate, truncate

__all__ = [
    "CHANNEL_LEFT_ERROR",
    "CHANNEL_MISSING_ERROR",
    "CLIENT_NOT_IN_ACCOUNT_ERROR",
    "DUPLICATE_RULE_ERROR",
    "RuleModalModel",
    "build_delete_confirmation",
    "build_rule_modal",
    "channel_options",
    "client_options",
    "duplicate_rule_error",
    "shared_channel_warning",
]

# --- User-facing copy -------------------------------------------------------------------------------

ADD_TITLE = "Add notification"
EDIT_TITLE = "Edit notification"
SUBMIT_LABEL = "Save"
CLOSE_LABEL = "Cancel"

CHANNEL_LABEL = "Channel"
CHANNEL_PLACEHOLDER = "Choose a channel"
CHANNEL_HINT = (
    "Lists the channels Mission Control is in, and public channels it joins when you save. "
    "A private channel is missing? Type /invite @Mission Control there, then open this list again."
)
TYPE_LABEL = "Notification type"
TYPE_PLACEHOLDER = "Choose what to send"
CLIENT_LABEL = "Client"
CLIENT_PLACEHOLDER = "Choose a client"
SEVERITY_LABEL = "Minimum severity"
SEVERITY_PLACEHOLDER = "All severities"
SEVERITY_HINT = "Outlier alerts below this severity are not sent. Leave it empty to send all of them."

PRIVATE_MARK = "(private)"
SHARED_MARK = "(shared)"
# A public channel the bot is not in yet: saving the rule offers to join it.
JOIN_MARK = "(joins on save)"

DELETE_TITLE = "Delete notification"
DELETE_SUBMIT = "Delete"
DELETE_TEXT = "*{type}* for {client} will no longer be posted to {channel}. You can add the notification again later."

# Submit errors, shown under the named input with `response_action: errors`. Slack shows them as plain text.
DUPLICATE_RULE_ERROR = "This channel already gets {type} for {client}."
CHANNEL_LEFT_ERROR = "Mission Control is no longer in this channel: invite it again or choose another."
CLIENT_NOT_IN_ACCOUNT_ERROR = "This client is not part of your account."
CHANNEL_MISSING_ERROR = "Choose a channel. Only channels Mission Control is in can receive notifications."

# Slack's limit for modal titles and the submit and close buttons (node-slack-sdk types, slack_sdk `View`).
MAX_MODAL_TITLE = 24


@dataclass(frozen=True)
class RuleModalModel:
    """Content of the rule modal: the rule being edited (None to add one) and the current choices.

    `selected_client` is (client id, name), or None for All Clients. It is ignored in a client workspace,
    whose rules always cover its own client. `warning` is plain text, such as `shared_channel_warning`.
    """

    rule: Rule | None
    is_client_workspace: bool
    selected_type: NotificationType | None
    selected_channel: Channel | None
    selected_client: tuple[str, str] | None
    selected_severity: Severity | None
    warning: str | None
    team_id: str
    # The result of the Preview button, shown under it once the user pressed it.
    preview: RulePreview | None = None
    # Burst settings chosen so far, or the rule's own; None shows the menus without a choice.
    burst_threshold: int | None = None
    burst_window_seconds: int | None = None


def build_rule_modal(model: RuleModalModel) -> dict[str, Any]:
    """Build the add or edit modal for `views.open`, `views.update` or `views.push`.

    `private_metadata` is JSON: `{"rule_id": id or null, "team_id": ...}`.
    """
    blocks = [_channel_input(model.selected_channel), _type_input(model.selected_type)]
    if not model.is_client_workspace:
        blocks.append(_client_input(model.selected_client))
    if model.selected_type is NotificationType.OUTLIER_ALERTS:
        blocks.append(_severity_input(model.selected_severity))
    blocks.extend(
        burst_inputs(model.selected_type, threshold=model.burst_threshold, window_seconds=model.burst_window_seconds)
    )
    blocks.extend(preview_blocks(model.preview))
    if model.warning:
        blocks.append(context_block(escape_and_truncate(model.warning, 1_000)))
    metadata = {"rule_id": model.rule.id if model.rule else None, "team_id": model.team_id}
    return _modal(
        title=EDIT_TITLE if model.rule else ADD_TITLE,
        submit=SUBMIT_LABEL,
        callback_id=RULE_MODAL_CALLBACK,
        metadata=metadata,
        blocks=blocks,
    )


def _modal(
    *, title: str, submit: str, callback_id: str, metadata: dict[str, Any], blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": plain_text(title, MAX_MODAL_TITLE),
        "submit": plain_text(submit, MAX_MODAL_TITLE),
        "close": plain_text(CLOSE_LABEL, MAX_MODAL_TITLE),
        "private_metadata": json.dumps(metadata),
        "blocks": blocks,
    }


def _input(
    block_id: str, label: str, element: dict[str, Any], *, hint: str | None = None, optional: bool = False
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": plain_text(label), "element": element}
    if hint:
        block["hint"] = plain_text(hint, 2_000)
    if optional:
        block["optional"] = True
    return block


def _channel_input(selected: Channel | None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "external_select",
        "action_id": CHANNEL_ACTION,
        "placeholder": plain_text(CHANNEL_PLACEHOLDER),
        "min_query_length": 0,
    }
    if selected is not None:
        element["initial_option"] = _channel_option(selected)
    block = _input(CHANNEL_BLOCK, CHANNEL_LABEL, element, hint=CHANNEL_HINT)
    # Choosing a channel sends a block action, so a shared channel's warning appears before Save.
    block["dispatch_action"] = True
    return block


def _type_input(selected: NotificationType | None) -> dict[str, Any]:
    options = [_type_option(notification_type) for notification_type in NotificationType]
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": TYPE_ACTION,
        "placeholder": plain_text(TYPE_PLACEHOLDER),
        "options": options,
    }
    if selected is not None:
        element["initial_option"] = _type_option(selected)
    block = _input(TYPE_BLOCK, TYPE_LABEL, element)
    block["dispatch_action"] = True
    return block


def _type_option(notification_type: NotificationType) -> dict[str, Any]:
    return option(
        NOTIFICATION_TYPE_LABELS[notification_type],
        notification_type.value,
        NOTIFICATION_TYPE_DESCRIPTIONS[notification_type],
    )


def _client_input(selected: tuple[str, str] | None) -> dict[str, Any]:
    element = {
        "type": "external_select",
        "action_id": CLIENT_ACTION,
        "placeholder": plain_text(CLIENT_PLACEHOLDER),
        "min_query_length": 0,
        "initial_option": _all_clients_option() if selected is None else _client_option(*selected),
    }
    return _input(CLIENT_BLOCK, CLIENT_LABEL, element)


def _severity_input(selected: Severity | None) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "static_select",
        "action_id": SEVERITY_ACTION,
        "placeholder": plain_text(SEVERITY_PLACEHOLDER),
        "options": [_severity_option(severity) for severity in Severity],
    }
    if selected is not None:
        element["initial_option"] = _severity_option(selected)
    return _input(SEVERITY_BLOCK, SEVERITY_LABEL, element, hint=SEVERITY_HINT, optional=True)


def _severity_option(severity: Severity) -> dict[str, Any]:
    return option(SEVERITY_LABELS[severity], severity.value)


# --- Options for the external selects ---------------------------------------------------------------


def channel_options(channels: list[Channel], query: str, joinable: Sequence[Channel] = ()) -> list[dict[str, Any]]:
    """List the channels the bot can post to whose name contains `query`, for the channel picker.

    Only channels the bot is a member of and that are not archived are listed, sorted by name, then the
    public channels of `joinable` that the bot could join, marked as such. At most 100 are listed (Slack's
    limit for one options response). A leading "#" in the query is ignored. The option value is the
    channel id.
    """
    needle = query.strip().lstrip("#").lower()
    matching = [
        channel
        for channel in channels
        if channel.is_member
        and not channel.is_archived
        and needle in channel.name.lower()
        and len(channel.channel_id) <= MAX_OPTION_VALUE
    ]
    matching.sort(key=lambda channel: (channel.name.lower(), channel.channel_id))
    options = [_channel_option(channel) for channel in matching[:MAX_SELECT_OPTIONS]]
    listed = {channel.channel_id for channel in matching}
    extra = [
        channel
        for channel in joinable
        if channel.channel_id not in listed
        and not channel.is_member
        and not channel.is_private
        and not channel.is_archived
        and needle in channel.name.lower()
        and len(channel.channel_id) <= MAX_OPTION_VALUE
    ]
    extra.sort(key=lambda channel: (channel.name.lower(), channel.channel_id))
    room = MAX_SELECT_OPTIONS - len(options)
    return options + [_channel_option(channel, joins=True) for channel in extra[: max(0, room)]]


def _channel_option(channel: Channel, *, joins: bool = False) -> dict[str, Any]:
    """Build "#name (private) (shared)", cutting the name so that the marks stay visible."""
    flags = ((PRIVATE_MARK, channel.is_private), (SHARED_MARK, channel.is_shared), (JOIN_MARK, joins))
    marks = [mark for mark, on in flags if on]
    suffix = "".join(f" {mark}" for mark in marks)
    name = truncate("#" + channel.name, MAX_OPTION_TEXT - len(suffix))
    return option(name + suffix, channel.channel_id)


def client_options(clients: list[tuple[str, str]], query: str) -> list[dict[str, Any]]:
    """List "All Clients" and the clients whose name or id contains `query`, for the client picker.

    `clients` are (client id, name) pairs. "All Clients" comes first when the query is empty or matches
    it, then the matching clients sorted by name, at most 100 options in all.

    NOTE: a client id longer than 75 characters cannot be an option value, so such a client is left out.
    """
    needle = query.strip().lower()
    options: list[dict[str, Any]] = []
    if needle in ALL_CLIENTS_LABEL.lower():
        options.append(_all_clients_option())
    matching = [
        (client_id, name)
        for client_id, name in clients
        if (needle in name.lower() or needle in client_id.lower())
        and len(client_id) <= MAX_OPTION_VALUE
        and client_id != ALL_CLIENTS_VALUE
    ]
    matching.sort(key=lambda client: (client[1].lower(), client[0]))
    options += [_client_option(client_id, name) for client_id, name in matching]
    return options[:MAX_SELECT_OPTIONS]


def _all_clients_option() -> dict[str, Any]:
    return option(ALL_CLIENTS_LABEL, ALL_CLIENTS_VALUE)


def _client_option(client_id: str, name: str) -> dict[str, Any]:
    """Build a client option. The id is the description when the name differs from it."""
    label = " ".join(name.split()) or client_id
    description = client_id if label != client_id else None
    return option(label, client_id, description)


# --- Delete confirmation and submit errors ----------------------------------------------------------


def build_delete_confirmation(rule: Rule, channel: Channel | None, client_name: str | None) -> dict[str, Any]:
    """Build the modal that confirms deleting a rule. `private_metadata` is `{"rule_id", "team_id"}` JSON."""
    text = DELETE_TEXT.format(
        type=NOTIFICATION_TYPE_LABELS[rule.type],
        client=client_text(rule, client_name),
        channel=channel_name_text(channel, rule.channel),
    )
    return _modal(
        title=DELETE_TITLE,
        submit=DELETE_SUBMIT,
        callback_id=RULE_DELETE_CALLBACK,
        metadata={"rule_id": rule.id, "team_id": rule.team_id},
        blocks=[section_block(text)],
    )


def duplicate_rule_error(notification_type: NotificationType, client_name: str | None) -> str:
    """Build the error for a rule that already exists. `client_name` None means All Clients."""
    client = ALL_CLIENTS_LABEL if client_name is None else truncate(" ".join(client_name.split()), MAX_CLIENT_NAME)
    return DUPLICATE_RULE_ERROR.format(type=NOTIFICATION_TYPE_LABELS[notification_type].lower(), client=client)
