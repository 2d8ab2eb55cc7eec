"""Rule actions: add and edit in a modal, pause, resume, test message, delete with a confirmation modal.

Every change checks on the server that the user may manage rules and that the rule belongs to the
workspace the request came from, whatever the payload says.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, replace
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.channels import member_channels, refresh_channels
from handlers.home import client_names, refresh_home
from handlers.mending import check_chosen_channel, joinable_channels, release_rule
from handlers.permissions import check_permission, managers_hint
from handlers.rule_form import RuleForm, parse_rule_form
from handlers.services import clock_of, services_of, storage_of, team_key, workspace_of
from storage.events_schema import Severity
from storage.models import Channel, NotificationType, Rule, RuleState, Workspace
from storage.rules import RuleConflict, RuleSpec
from views.help import refusal_message
from views.ids import (
    ADD_RULE_ACTION,
    ALL_CLIENTS_VALUE,
    CHANNEL_ACTION,
    CHANNEL_BLOCK,
    CLIENT_ACTION,
    CLIENT_BLOCK,
    MENU_DELETE,
    MENU_EDIT,
    MENU_PAUSE,
    MENU_RESUME,
    MENU_TEST,
    RULE_DELETE_CALLBACK,
    RULE_MENU_ACTION,
    RULE_MODAL_CALLBACK,
    TYPE_ACTION,
    TYPE_BLOCK,
    parse_rule_menu_value,
)
from views.notice import RULE_GONE_TEXT, RULE_GONE_TITLE, SENDING_TEXT, TEST_TITLE, notice_modal, refusal_modal
from views.rule_burst import BURST_TYPES, burst_errors
from views.rule_modal import (
    CHANNEL_LEFT_ERROR,
    CHANNEL_MISSING_ERROR,
    CLIENT_NOT_IN_ACCOUNT_ERROR,
    RuleModalModel,
    build_delete_confirmation,
    build_rule_modal,
    channel_options,
    client_options,
    duplicate_rule_error,
    shared_channel_warning,
)
from views.rule_preview import PREVIEW_ACTION_ID
from views.rule_text import NOTIFICATION_TYPE_LABELS
from views.rules_list import RulesListModel, build_rules_message
from views.test_message import test_result_text

logger = logging.getLogger(__name__)

TYPE_MISSING_ERROR = "Choose what kind of notification this channel should get."


def register(app: AsyncApp) -> None:
    app.action(ADD_RULE_ACTION)(on_add)
    app.action(RULE_MENU_ACTION)(on_menu)
    app.action(TYPE_ACTION)(on_modal_choice)
    app.action(CHANNEL_ACTION)(on_modal_choice)
    app.action(PREVIEW_ACTION_ID)(on_preview)
    app.options(CHANNEL_ACTION)(on_channel_options)
    app.options(CLIENT_ACTION)(on_client_options)
    app.view(RULE_MODAL_CALLBACK)(on_rule_submitted)
    app.view(RULE_DELETE_CALLBACK)(on_delete_submitted)


# --- Shared steps ---------------------------------------------------------------------------------


async def _workspace(context: AsyncBoltContext) -> Workspace | None:
    return await workspace_of(context)


async def _can_manage(client: AsyncWebClient, context: AsyncBoltContext, workspace: Workspace, user_id: str) -> bool:
    cache = services_of(context).admin_cache
    permission = await check_permission(client=client, cache=cache, workspace=workspace, user_id=user_id)
    if not permission.can_manage:
        logger.info("Rejected a rule change (team %s, user %s)", workspace.team_id, user_id)
    return permission.can_manage


async def _own_rule(context: AsyncBoltContext, rule_id: str | None) -> Rule | None:
    """Return the rule only when it belongs to the requesting workspace."""
    if not rule_id:
        return None
    rule = await storage_of(context).rules.get(rule_id)
    if rule is None or rule.team_id != await team_key(context):
        return None
    return rule


def _in_home(body: dict[str, Any]) -> bool:
    return (body.get("container") or {}).get("type") == "view"


async def _record(context: AsyncBoltContext, *, user_id: str, action: str, before: Rule | None, after: Rule | None):
    rule = after or before
    assert rule is not None
    await storage_of(context).audit.record(
        team_id=rule.team_id,
        user_id=user_id,
        action=action,
        target=f"{NOTIFICATION_TYPE_LABELS[rule.type]} in <#{rule.channel}>",
        before=_rule_fields(before),
        after=_rule_fields(after),
        now=clock_of(context).now(),
    )
    services_of(context).rules_changed()
    logger.info("Rule changed (team %s, user %s, rule %s, action %s)", rule.team_id, user_id, rule.id, action)


def _rule_fields(rule: Rule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    fields = asdict(rule)
    for name in ("created_at", "updated_at"):
        fields.pop(name, None)
    return json.loads(json.dumps(fields, default=str))


def _form_of(rule: Rule | None) -> RuleForm:
    """Describe an existing rule, or an empty form for a new one, as the modal's current choices."""
    if rule is None:
        return RuleForm(rule_id=None, channel_id=None, type=None, client_id=None, min_severity=None)
    return RuleForm(
        rule_id=rule.id,
        channel_id=rule.channel,
        type=rule.type,
        client_id=rule.client_id,
        min_severity=rule.min_severity,
        burst_threshold=rule.burst_threshold,
        burst_window_seconds=rule.burst_window_seconds,
    )


async def _modal_model(
    context: AsyncBoltContext, workspace: Workspace, *, rule: Rule | None, form: RuleForm | None
) -> RuleModalModel:
    """Build the modal's content from a rule being edited, or from the choices made so far."""
    storage = storage_of(context)
    if form is None:
        form = _form_of(rule)
    channel_id, client_id, kind, severity = form.channel_id, form.client_id, form.type, form.min_severity
    channel = await storage.channels.get(workspace.team_id, channel_id) if channel_id else None
    names = await client_names(context, workspace)
    return RuleModalModel(
        rule=rule,
        is_client_workspace=workspace.is_client_workspace,
        selected_type=kind,
        selected_channel=channel,
        selected_client=(client_id, names.get(client_id, client_id)) if client_id else None,
        selected_severity=severity,
        warning=shared_channel_warning(channel.name) if channel and channel.is_shared else None,
        team_id=workspace.team_id,
        burst_threshold=form.burst_threshold,
        burst_window_seconds=form.burst_window_seconds,
    )


# --- Opening the modal, the menu -----------------------------------------------------------------


async def open_add_modal(
    *, client: AsyncWebClient, context: AsyncBoltContext, trigger_id: str, user_id: str, respond: AsyncRespond | None
) -> None:
    workspace = await _workspace(context)
    if workspace is None:
        return
    if not await _can_manage(client, context, workspace, user_id):
        await _refuse(client=client, workspace=workspace, trigger_id=trigger_id, respond=respond)
        return
    model = await _modal_model(context, workspace, rule=None, form=None)
    await client.views_open(trigger_id=trigger_id, view=build_rule_modal(model))


async def open_edit_modal(
    *, client: AsyncWebClient, context: AsyncBoltContext, workspace: Workspace, rule: Rule, trigger_id: str
) -> None:
    model = await _modal_model(context, workspace, rule=rule, form=None)
    await client.views_open(trigger_id=trigger_id, view=build_rule_modal(model))


async def _refuse(
    *, client: AsyncWebClient, workspace: Workspace, trigger_id: str | None, respond: AsyncRespond | None
) -> None:
    hint = managers_hint(workspace)
    if respond is not None:
        await respond(response_type="ephemeral", replace_original=False, **refusal_message(hint))
    elif trigger_id:
        await client.views_open(trigger_id=trigger_id, view=refusal_modal(hint))


async def on_add(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext) -> None:
    await ack()
    respond = None if _in_home(body) else context.respond
    await open_add_modal(
        client=client, context=context, trigger_id=body["trigger_id"], user_id=body["user"]["id"], respond=respond
    )


async def on_menu(
    ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> None:
    await ack()
    parsed = parse_rule_menu_value(((action.get("selected_option") or {}).get("value")) or "")
    workspace = await _workspace(context)
    if parsed is None or workspace is None:
        return
    verb, rule_id = parsed
    user_id, trigger_id = body["user"]["id"], body.get("trigger_id")
    respond = None if _in_home(body) else context.respond
    if not await _can_manage(client, context, workspace, user_id):
        await _refuse(client=client, workspace=workspace, trigger_id=trigger_id, respond=respond)
        return
    rule = await _own_rule(context, rule_id)
    if rule is None:
        if trigger_id:
            await client.views_open(trigger_id=trigger_id, view=notice_modal(RULE_GONE_TITLE, RULE_GONE_TEXT))
    elif verb == MENU_EDIT and trigger_id:
        await open_edit_modal(client=client, context=context, workspace=workspace, rule=rule, trigger_id=trigger_id)
    elif verb == MENU_DELETE and trigger_id:
        channel = await storage_of(context).channels.get(workspace.team_id, rule.channel)
        names = await client_names(context, workspace)
        view = build_delete_confirmation(rule, channel, names.get(rule.client_id or "", rule.client_id))
        await client.views_open(trigger_id=trigger_id, view=view)
    elif verb in (MENU_PAUSE, MENU_RESUME):
        await _pause_or_resume(context, rule, user_id=user_id, pause=verb == MENU_PAUSE)
    elif verb == MENU_TEST:
        await _send_test(client, context, rule, user_id=user_id, trigger_id=trigger_id, respond=respond)
    await _refresh(body, client, context, workspace, respond=respond)


async def _pause_or_resume(context: AsyncBoltContext, rule: Rule, *, user_id: str, pause: bool) -> None:
    state = RuleState.PAUSED if pause else RuleState.ACTIVE
    if rule.state is state:
        return
    after = await storage_of(context).rules.set_state(rule.id, state, reason=None, now=clock_of(context).now())
    if not pause and after is not None:
        # Resume retries the channel with the alerts kept while it failed; if it still fails, they are kept again.
        await release_rule(storage_of(context), after, now=clock_of(context).now())
    await _record(context, user_id=user_id, action="paused" if pause else "resumed", before=rule, after=after)


async def _send_test(
    client: AsyncWebClient,
    context: AsyncBoltContext,
    rule: Rule,
    *,
    user_id: str,
    trigger_id: str | None,
    respond: AsyncRespond | None,
) -> None:
    view_id = None
    if respond is None and trigger_id:
        # The trigger expires after about 3 seconds, so the modal opens before the post, then shows its result.
        opened = await client.views_open(trigger_id=trigger_id, view=notice_modal(TEST_TITLE, SENDING_TEXT))
        view_id = (opened.get("view") or {}).get("id")
    outcome = await services_of(context).test_messages.send_test(rule, user_id=user_id)
    result = test_result_text(outcome.ok, rule.channel, outcome.error)
    if view_id:
        await client.views_update(view_id=view_id, view=notice_modal(TEST_TITLE, result))
    elif respond is not None:
        await respond(response_type="ephemeral", replace_original=False, text=result)
    if not outcome.ok:
        services_of(context).rules_changed()


async def _refresh(
    body: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    workspace: Workspace,
    *,
    respond: AsyncRespond | None,
) -> None:
    if respond is None:
        await refresh_home(body, client, context)
        return
    await respond(response_type="ephemeral", replace_original=True, **await rules_message(context, workspace, True))


async def rules_message(context: AsyncBoltContext, workspace: Workspace, can_manage: bool) -> dict[str, Any]:
    storage = storage_of(context)
    model = RulesListModel(
        rules=await storage.rules.list(team_id=workspace.team_id),
        channels={channel.channel_id: channel for channel in await storage.channels.list_for_team(workspace.team_id)},
        client_names=await client_names(context, workspace),
        can_manage=can_manage,
        admin_names_hint=managers_hint(workspace),
    )
    return build_rules_message(model)


# --- Inside the modal ------------------------------------------------------------------------------


async def on_modal_choice(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    """Redraw the modal when the type or channel changes: severity for outliers, shared-channel warning."""
    await ack()
    view = body.get("view") or {}
    workspace = await _workspace(context)
    if workspace is None or view.get("callback_id") != RULE_MODAL_CALLBACK:
        return
    form = parse_rule_form(view)
    rule = await _own_rule(context, form.rule_id)
    model = await _modal_model(context, workspace, rule=rule, form=form)
    await client.views_update(view_id=view["id"], hash=view.get("hash"), view=build_rule_modal(model))


async def on_preview(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    """Replay the last seven days through the draft rule and show the counts under the Preview button.

    The replay may take longer than Slack's 3 seconds, so the click is acknowledged first and the modal is
    updated with `views.update` afterwards.
    """
    await ack()
    view = body.get("view") or {}
    workspace = await _workspace(context)
    previewer = services_of(context).rule_preview
    if workspace is None or previewer is None or view.get("callback_id") != RULE_MODAL_CALLBACK:
        return
    form = parse_rule_form(view)
    client_id = workspace.client_id if workspace.is_client_workspace else form.client_id
    preview = await previewer.preview(
        workspace=workspace,
        type=form.type,
        client_id=client_id,
        min_severity=form.min_severity,
        burst_threshold=form.burst_threshold,
        burst_window_seconds=form.burst_window_seconds,
    )
    rule = await _own_rule(context, form.rule_id)
    model = replace(await _modal_model(context, workspace, rule=rule, form=form), preview=preview)
    await client.views_update(view_id=view["id"], view=build_rule_modal(model))


async def on_channel_options(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    storage, team_id, now = storage_of(context), await team_key(context) or "", clock_of(context).now()
    channels = await member_channels(client, storage, team_id=team_id, now=now)
    joinable = await joinable_channels(client, storage, team_id=team_id, now=now)
    await ack(options=channel_options(channels, str(body.get("value") or ""), joinable))


async def on_client_options(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
    workspace = await _workspace(context)
    names = await client_names(context, workspace) if workspace else {}
    await ack(
        options=client_options(sorted(names.items(), key=lambda item: item[1].lower()), str(body.get("value") or ""))
    )


# --- Submissions -----------------------------------------------------------------------------------


async def _submitting_manager(
    ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
) -> Workspace | None:
    """Return the workspace when the submitter may manage rules; otherwise answer the submission and return None."""
    workspace = await _workspace(context)
    if workspace is None:
        await ack()
        return None
    if not await _can_manage(client, context, workspace, body["user"]["id"]):
        await ack(response_action="update", view=refusal_modal(managers_hint(workspace)))
        return None
    return workspace


async def on_rule_submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    workspace = await _submitting_manager(ack, body, client, context)
    if workspace is None:
        return
    await save_rule_form(ack, body, client, context, workspace, parse_rule_form(body["view"]))


async def save_rule_form(
    ack: AsyncAck,
    body: dict[str, Any],
    client: AsyncWebClient,
    context: AsyncBoltContext,
    workspace: Workspace,
    form: RuleForm,
    *,
    close_all: bool = False,
) -> None:
    """Validate and save a submitted rule form, then acknowledge the submission.

    A public channel the bot is not in gets the join offer pushed over the modal. `close_all` is for the
    join offer's own submission: it closes both modals, and shows any error in a notice instead.
    """
    user_id = body["user"]["id"]
    rule = await _own_rule(context, form.rule_id)
    if form.rule_id and rule is None:
        await ack(response_action="update", view=notice_modal(RULE_GONE_TITLE, RULE_GONE_TEXT))
        return
    errors, spec = await _validate(client, context, workspace, form)
    if errors.get(CHANNEL_BLOCK) == CHANNEL_LEFT_ERROR and not close_all:
        check = await check_chosen_channel(client, workspace, form)
        if check.offer is not None and len(errors) == 1:
            await ack(response_action="push", view=check.offer)
            return
        errors[CHANNEL_BLOCK] = check.error or CHANNEL_LEFT_ERROR
    saved, error = (None, None) if errors or spec is None else await _save(context, spec, rule, created_by=user_id)
    if error:
        errors[CHANNEL_BLOCK] = error
    if errors or saved is None:
        if close_all:
            await ack(response_action="update", view=notice_modal(RULE_GONE_TITLE, " ".join(errors.values())))
        else:
            await ack(response_action="errors", errors=errors)
        return
    saved = await _save_burst_policy(context, saved, form)
    await ack(response_action="clear") if close_all else await ack()
    if rule is not None and rule.state is RuleState.FAILING:
        # The form only saves a channel the bot is in, so the rule can post again, to its new channel if moved.
        await release_rule(storage_of(context), saved, now=clock_of(context).now())
    await _record(context, user_id=user_id, action="edited" if rule else "added", before=rule, after=saved)
    await refresh_home(body, client, context)


async def _validate(
    client: AsyncWebClient, context: AsyncBoltContext, workspace: Workspace, form: RuleForm
) -> tuple[dict[str, str], RuleSpec | None]:
    errors: dict[str, str] = {}
    if form.channel_id is None:
        errors[CHANNEL_BLOCK] = CHANNEL_MISSING_ERROR
    elif not await _bot_is_in(client, context, workspace.team_id, form.channel_id):
        errors[CHANNEL_BLOCK] = CHANNEL_LEFT_ERROR
    if form.type is None:
        errors[TYPE_BLOCK] = TYPE_MISSING_ERROR
    client_id = form.client_id
    if workspace.is_client_workspace:
        client_id = workspace.client_id
    elif client_id is not None and client_id not in await client_names(context, workspace):
        errors[CLIENT_BLOCK] = CLIENT_NOT_IN_ACCOUNT_ERROR
    errors.update(burst_errors(threshold=form.burst_threshold, window_seconds=form.burst_window_seconds))
    if errors or form.channel_id is None or form.type is None:
        return errors, None
    severity: Severity | None = form.min_severity if form.type is NotificationType.OUTLIER_ALERTS else None
    return {}, RuleSpec(workspace.team_id, form.channel_id, form.type, client_id, severity)


async def _bot_is_in(client: AsyncWebClient, context: AsyncBoltContext, team_id: str, channel_id: str) -> bool:
    """Check the channel against the cache, and against Slack when the cache does not confirm it."""
    storage = storage_of(context)

    def usable(channel: Channel | None) -> bool:
        return channel is not None and channel.is_member and not channel.is_archived

    if usable(await storage.channels.get(team_id, channel_id)):
        return True
    try:
        await refresh_channels(client, storage, team_id=team_id, now=clock_of(context).now())
    except SlackApiError as error:
        logger.warning("Channel list refresh failed (team %s, error %s)", team_id, error.response.get("error"))
        return False
    return usable(await storage.channels.get(team_id, channel_id))


async def _save(
    context: AsyncBoltContext, spec: RuleSpec, rule: Rule | None, *, created_by: str
) -> tuple[Rule | None, str | None]:
    rules, now = storage_of(context).rules, clock_of(context).now()
    try:
        if rule is None:
            return await rules.create(spec, now=now, created_by=created_by), None
        return await rules.update_spec(rule.id, spec, now=now), None
    except RuleConflict as conflict:
        if rule is not None and conflict.existing.id == rule.id:
            return await rules.update_spec(rule.id, spec, now=now), None
        workspace = await _workspace(context)
        names = await client_names(context, workspace) if workspace else {}
        client_name = names.get(spec.client_id, spec.client_id) if spec.client_id else None
        return None, duplicate_rule_error(spec.type, client_name)


async def _save_burst_policy(context: AsyncBoltContext, rule: Rule, form: RuleForm) -> Rule:
    """Store the burst settings chosen in the modal; an empty menu keeps the rule's current value."""
    if rule.type not in BURST_TYPES or (form.burst_threshold is None and form.burst_window_seconds is None):
        return rule
    rules = storage_of(context).rules
    await rules.set_burst_policy(
        rule.id,
        window_seconds=form.burst_window_seconds or rule.burst_window_seconds,
        threshold=form.burst_threshold or rule.burst_threshold,
        now=clock_of(context).now(),
    )
    return await rules.get(rule.id) or rule


submitting_manager = _submitting_manager


async def on_delete_submitted(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext):
    user_id = body["user"]["id"]
    if await _submitting_manager(ack, body, client, context) is None:
        return
    rule = await _own_rule(context, parse_rule_form(body["view"]).rule_id)
    await ack()
    if rule is not None and await storage_of(context).rules.delete(rule.id):
        await _record(context, user_id=user_id, action="deleted", before=rule, after=None)
    await refresh_home(body, client, context)


__all__ = ["ALL_CLIENTS_VALUE", "open_add_modal", "open_edit_modal", "register", "rules_message", "save_rule_form"]
