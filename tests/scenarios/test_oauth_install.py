"""OAuth distribution end to end: install links with grants, the callback, routing per workspace, uninstall.

The bot runs in OAuth mode against the Slack emulator, which plays Slack's authorize step by issuing codes
and answers `oauth.v2.access` with a new bot token per install.
"""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.fernet import Fernet

from bot.admin_cli import rotate_key
from bot.grants import issue_grant
from bot.logs import configure_logging
from bot.settings import load_settings
from storage.crypto import TokenCipher
from storage.installations import MongoInstallationStore
from storage.models import NotificationType, WorkspaceStatus
from storage.rules import RuleSpec
from tests.conftest import EVENTS_SECRET, SIGNING_SECRET, BotFactory, RunningBot, load_example
from tests.slack_emulator import SlackEmulator
from tests.slack_requests import SlackClient

INSTALL_SECRET = "test-install-secret"
ENCRYPTION_KEY = Fernet.generate_key().decode()
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def oauth_env(emulator: SlackEmulator) -> dict[str, str]:
    return {
        "SLACK_CLIENT_ID": emulator.client_id,
        "SLACK_CLIENT_SECRET": emulator.client_secret,
        "SLACK_REDIRECT_URI": "https://bot.example.test/slack/oauth_redirect",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": emulator.base_url,
        "MISSIONCONTROL_EVENTS_SECRET": EVENTS_SECRET,
        "MISSIONCONTROL_INSTALL_SECRET": INSTALL_SECRET,
        "MISSIONCONTROL_ENCRYPTION_KEY": ENCRYPTION_KEY,
    }


def grant(agency_id: str = "ag-acme", client_id: str | None = None, **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "secret": INSTALL_SECRET,
        "agency_id": agency_id,
        "client_id": client_id,
        "user_id": "mc-user-1",
        "ttl": timedelta(hours=1),
        "now": datetime.now(UTC),
    }
    fields.update(overrides)
    return issue_grant(**fields)


@pytest.fixture
async def bot(start_bot: BotFactory, emulator: SlackEmulator) -> RunningBot:
    return await start_bot(oauth_env(emulator))


async def begin_install(bot: RunningBot, grant_token: str | None) -> tuple[int, str | None, str]:
    """Open the install link; return the status, the OAuth state and the page or redirect target."""
    query = {"grant": grant_token} if grant_token else {}
    response = await bot.http.get("/slack/install", params=query, allow_redirects=False)
    location = response.headers.get("Location", "")
    state = parse_qs(urlparse(location).query).get("state", [None])[0]
    return response.status, state, location or await response.text()


async def finish_install(bot: RunningBot, state: str, code: str) -> tuple[int, str]:
    """Come back from Slack with the code, carrying the state cookie as the browser would."""
    response = await bot.http.get(
        "/slack/oauth_redirect",
        params={"code": code, "state": state},
        headers={"Cookie": f"slack-app-oauth-state={state}"},
    )
    return response.status, await response.text()


async def install(bot: RunningBot, emulator: SlackEmulator, team_id: str, grant_token: str | None) -> str:
    status, state, _ = await begin_install(bot, grant_token)
    assert status == 302
    assert state is not None
    code = emulator.issue_oauth_code(team_id, installer_user_id=f"U{team_id}ADMIN")
    status, page = await finish_install(bot, state, code)
    assert status == 200, page
    return page


async def test_agency_and_client_installs(bot: RunningBot, emulator: SlackEmulator) -> None:
    agency_page = await install(bot, emulator, "T0AGENCY", grant())
    client_page = await install(bot, emulator, "T0CLIENT", grant(client_id="cl-alpha"))
    assert "linked to agency ag-acme" in agency_page
    assert "client cl-alpha of agency ag-acme" in client_page

    workspaces = bot.runtime.storage.workspaces
    agency = await workspaces.get("T0AGENCY")
    client = await workspaces.get("T0CLIENT")
    assert agency is not None and client is not None
    assert (agency.agency_id, agency.client_id) == ("ag-acme", None)
    assert (client.agency_id, client.client_id) == ("ag-acme", "cl-alpha")
    assert agency.installer_user_id == "UT0AGENCYADMIN"
    assert agency.status is WorkspaceStatus.ACTIVE


async def test_routing_follows_installs(bot: RunningBot, emulator: SlackEmulator) -> None:
    await install(bot, emulator, "T0AGENCY", grant())
    await install(bot, emulator, "T0CLIENT", grant(client_id="cl-bravo"))
    rules = bot.runtime.storage.rules
    await rules.create(RuleSpec("T0AGENCY", "C0OPS", NotificationType.TASK_FAILURES), now=NOW)
    await rules.create(RuleSpec("T0CLIENT", "C0CLIENTOPS", NotificationType.TASK_FAILURES, "cl-bravo"), now=NOW)
    bot.runtime.index.mark_stale()

    await bot.post_events(load_example("task_failed.json"))  # a cl-bravo task
    await bot.settle()
    agency_posts = emulator.posted_messages(team_id="T0AGENCY")
    client_posts = emulator.posted_messages(team_id="T0CLIENT")
    assert [message.channel for message in agency_posts] == ["C0OPS"]
    assert [message.channel for message in client_posts] == ["C0CLIENTOPS"]
    # Each workspace's message went out with that workspace's own token.
    for call in emulator.calls_to("chat.postMessage"):
        assert call.team_id in ("T0AGENCY", "T0CLIENT")
        assert call.team_id == ("T0AGENCY" if call.params["channel"] == "C0OPS" else "T0CLIENT")


async def test_app_home_shows_account(bot: RunningBot, emulator: SlackEmulator) -> None:
    await install(bot, emulator, "T0CLIENT", grant(client_id="cl-alpha"))
    slack = SlackClient(bot.http, team_id="T0CLIENT", user_id="UT0CLIENTADMIN")
    await slack.event({"type": "app_home_opened", "user": "UT0CLIENTADMIN", "tab": "home", "channel": "D0"})
    await emulator.wait_for_calls("views.publish", 1)
    [publish] = emulator.calls_to("views.publish")
    assert publish.team_id == "T0CLIENT"
    await slack.home_action({"type": "button", "action_id": "home_section:connection", "value": "connection"})
    await emulator.wait_for_calls("views.publish", 2)
    home = json.dumps(emulator.home_views["UT0CLIENTADMIN"])
    assert "cl-alpha" in home
    assert "ag-acme" in home


@pytest.mark.parametrize(
    ("make_grant", "phrase"),
    [
        pytest.param(lambda: grant(secret="forged-secret"), "not signed", id="forged"),
        pytest.param(lambda: grant(now=datetime.now(UTC) - timedelta(hours=2)), "expired", id="expired"),
        pytest.param(lambda: "mcg1.garbage", "damaged", id="damaged"),
    ],
)
async def test_bad_grant_stops_before_slack(bot: RunningBot, make_grant: Any, phrase: str) -> None:
    status, state, page = await begin_install(bot, make_grant())
    assert status == 400
    assert state is None
    assert phrase in page
    assert await bot.runtime.storage.workspaces.list_all() == []


async def test_reused_grant_refused(bot: RunningBot, emulator: SlackEmulator) -> None:
    token = grant()
    await install(bot, emulator, "T0AGENCY", token)
    status, _, page = await begin_install(bot, token)
    assert status == 400
    assert "already used" in page
    assert [workspace.team_id for workspace in await bot.runtime.storage.workspaces.list_all()] == ["T0AGENCY"]


async def test_grant_reused_in_two_open_installs(bot: RunningBot, emulator: SlackEmulator) -> None:
    # Two browser tabs opened the same link before either finished: only the first install may use it.
    token = grant()
    _, first_state, _ = await begin_install(bot, token)
    _, second_state, _ = await begin_install(bot, token)
    assert first_state and second_state
    status, _ = await finish_install(bot, first_state, emulator.issue_oauth_code("T0ONE"))
    assert status == 200
    status, page = await finish_install(bot, second_state, emulator.issue_oauth_code("T0TWO"))
    assert status == 400
    assert "already used" in page
    assert await bot.runtime.storage.workspaces.get("T0TWO") is None


async def test_replayed_state_refused(bot: RunningBot, emulator: SlackEmulator) -> None:
    _, state, _ = await begin_install(bot, grant())
    assert state is not None
    status, _ = await finish_install(bot, state, emulator.issue_oauth_code("T0AGENCY"))
    assert status == 200
    status, page = await finish_install(bot, state, emulator.issue_oauth_code("T0OTHER"))
    assert status == 401
    assert "already used" in page
    assert await bot.runtime.storage.workspaces.get("T0OTHER") is None


async def test_missing_state_refused(bot: RunningBot, emulator: SlackEmulator) -> None:
    response = await bot.http.get("/slack/oauth_redirect", params={"code": emulator.issue_oauth_code("T0X")})
    assert response.status in (400, 401)
    assert "not installed" in (await response.text()).lower()
    assert await bot.runtime.storage.workspaces.list_all() == []


async def test_install_without_grant_is_unlinked(bot: RunningBot, emulator: SlackEmulator) -> None:
    page = await install(bot, emulator, "T0LONE", None)
    assert "not linked" in page
    workspace = await bot.runtime.storage.workspaces.get("T0LONE")
    assert workspace is not None
    assert workspace.agency_id is None
    await bot.runtime.storage.rules.create(RuleSpec("T0LONE", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    bot.runtime.index.mark_stale()
    await bot.post_events(load_example("system_error.json"))
    await bot.settle()
    assert emulator.posted_messages() == []


async def test_link_command_links_workspace(bot: RunningBot, emulator: SlackEmulator) -> None:
    await install(bot, emulator, "T0LONE", None)
    admin = SlackClient(bot.http, team_id="T0LONE", user_id="UT0LONEADMIN")
    await admin.command(f"link {grant(client_id='cl-alpha')}", response_url=emulator.response_url("link"))
    [answer] = await emulator.wait_for_response("link")
    assert "linked to client cl-alpha" in answer["text"]
    workspace = await bot.runtime.storage.workspaces.get("T0LONE")
    assert workspace is not None
    assert workspace.client_id == "cl-alpha"


async def test_tokens_encrypted_at_rest(bot: RunningBot, emulator: SlackEmulator) -> None:
    await install(bot, emulator, "T0AGENCY", grant())
    tokens = {call.response["access_token"] for call in emulator.calls_to("oauth.v2.access")}  # type: ignore[index]
    database = bot.runtime.storage.database
    for collection in ("installations", "installation_bots"):
        documents = [document async for document in database.collection(collection).find({})]
        assert documents, collection
        raw = json.dumps(documents, default=str)
        for token in tokens:
            assert token not in raw


async def test_uninstall_stops_posting_and_reinstall_restores(bot: RunningBot, emulator: SlackEmulator) -> None:
    await install(bot, emulator, "T0AGENCY", grant())
    await bot.runtime.storage.rules.create(RuleSpec("T0AGENCY", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    bot.runtime.index.mark_stale()

    slack = SlackClient(bot.http, team_id="T0AGENCY", user_id="UT0AGENCYADMIN")
    response = await slack.event({"type": "app_uninstalled"})
    assert response.status == 200

    async def inactive() -> bool:
        workspace = await bot.runtime.storage.workspaces.get("T0AGENCY")
        return workspace is not None and workspace.status is WorkspaceStatus.INACTIVE

    await until(inactive)
    emulator.revoke_workspace("T0AGENCY")
    calls_before = len(emulator.calls)
    await bot.post_events(load_example("system_error.json"))
    await bot.settle()
    assert emulator.posted_messages() == []
    assert [call.method for call in emulator.calls[calls_before:]] == []
    assert await bot.runtime.storage.rules.list(team_id="T0AGENCY") != []

    await install(bot, emulator, "T0AGENCY", None)
    await bot.post_events(load_example("system_error.json") | {"id": "evt-after-reinstall"})
    await bot.settle()
    assert [message.channel for message in emulator.posted_messages(team_id="T0AGENCY")] == ["C0OPS"]
    workspace = await bot.runtime.storage.workspaces.get("T0AGENCY")
    assert workspace is not None
    assert workspace.agency_id == "ag-acme"  # a reinstall without a grant keeps the account


async def until(check: Any, timeout: float = 5.0) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_org_wide_and_workspace_installs_coexist(bot: RunningBot, emulator: SlackEmulator) -> None:
    status, state, _ = await begin_install(bot, grant("ag-org"))
    assert state is not None
    org_code = emulator.issue_oauth_code("T0ORGANY", enterprise_id="E0ORG", is_enterprise_install=True)
    status, page = await finish_install(bot, state, org_code)
    assert status == 200, page
    await install(bot, emulator, "T0W1", grant("ag-w1"))

    workspaces = bot.runtime.storage.workspaces
    org = await workspaces.get("E0ORG")
    team = await workspaces.get("T0W1")
    assert org is not None and team is not None
    assert (org.agency_id, team.agency_id) == ("ag-org", "ag-w1")
    tokens = bot.runtime.slack.tokens if bot.runtime.slack else None
    assert tokens is not None
    org_token = await tokens.bot_token("E0ORG")
    team_token = await tokens.bot_token("T0W1")
    assert org_token and team_token
    assert org_token != team_token


async def test_rotating_token_refreshed_before_posting(bot: RunningBot, emulator: SlackEmulator) -> None:
    # A token that expires within two hours is refreshed before use, and the store keeps the new tokens.
    emulator.token_lifetime_seconds = 3600
    _, state, _ = await begin_install(bot, grant())
    assert state is not None
    status, _ = await finish_install(bot, state, emulator.issue_oauth_code("T0AGENCY", token_rotation=True))
    assert status == 200
    [exchange] = emulator.calls_to("oauth.v2.access")
    first_token = exchange.response["access_token"]  # type: ignore[index]
    await bot.runtime.storage.rules.create(RuleSpec("T0AGENCY", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
    bot.runtime.index.mark_stale()

    await bot.post_events(load_example("system_error.json"))
    await bot.settle()
    [post] = emulator.calls_to("chat.postMessage")
    assert post.ok
    assert post.token != first_token
    refreshes = [
        call for call in emulator.calls_to("oauth.v2.access") if call.params.get("grant_type") == "refresh_token"
    ]
    assert len(refreshes) == 1
    installations = bot.runtime.slack.oauth_flow.settings.installation_store  # type: ignore[union-attr]
    bot_row = await installations.async_find_bot(enterprise_id=None, team_id="T0AGENCY")
    assert bot_row is not None
    assert bot_row.bot_token == post.token


async def test_rotate_key_command(bot: RunningBot, emulator: SlackEmulator) -> None:
    await install(bot, emulator, "T0AGENCY", grant())
    new_key = Fernet.generate_key().decode()
    settings = load_settings({"MISSIONCONTROL_ENCRYPTION_KEY": f"{new_key},{ENCRYPTION_KEY}"})
    out = io.StringIO()
    assert await rotate_key(settings, database=bot.runtime.storage.database, stdout=out) == 0
    assert "Re-encrypted tokens in" in out.getvalue()
    only_new = MongoInstallationStore(bot.runtime.storage.database, cipher=TokenCipher([new_key]))
    found = await only_new.async_find_bot(enterprise_id=None, team_id="T0AGENCY")
    assert found is not None
    assert found.bot_token.startswith("xoxb-")


async def test_no_token_reaches_logs(
    start_bot: BotFactory, emulator: SlackEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("slack_sdk").level)
    # The bot's own log set-up at its most talkative level, writing to the captured standard error.
    configure_logging(level="DEBUG", fmt="text")
    try:
        bot = await start_bot(oauth_env(emulator))
        await install(bot, emulator, "T0AGENCY", grant())
        await bot.runtime.storage.rules.create(RuleSpec("T0AGENCY", "C0OPS", NotificationType.SYSTEM_ERRORS), now=NOW)
        bot.runtime.index.mark_stale()
        await bot.post_events(load_example("system_error.json"))
        await bot.settle()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("slack_sdk").setLevel(saved[2])
    logged = capsys.readouterr().err
    secrets = {call.response["access_token"] for call in emulator.calls_to("oauth.v2.access")}  # type: ignore[index]
    secrets |= {emulator.client_secret, INSTALL_SECRET, ENCRYPTION_KEY, SIGNING_SECRET, EVENTS_SECRET}
    assert "GET /slack/oauth_redirect" in logged, "the run logged too little for the check to mean anything"
    for secret in secrets:
        assert secret not in logged
    assert "grant=mcg1" not in logged
    assert "code=code-" not in logged


@pytest.mark.parametrize("order", [("tokens_revoked", "app_uninstalled"), ("app_uninstalled", "tokens_revoked")])
async def test_revocation_events_in_either_order(
    bot: RunningBot, emulator: SlackEmulator, order: tuple[str, ...]
) -> None:
    await install(bot, emulator, "T0AGENCY", grant())
    slack = SlackClient(bot.http, team_id="T0AGENCY", user_id="UT0AGENCYADMIN")
    installations = bot.runtime.slack.oauth_flow.settings.installation_store  # type: ignore[union-attr]
    for event_type in order:
        event: dict[str, Any] = {"type": event_type}
        if event_type == "tokens_revoked":
            event["tokens"] = {"bot": ["U0BOT"], "oauth": ["UT0AGENCYADMIN"]}
        assert (await slack.event(event)).status == 200

    async def gone() -> bool:
        bot_row = await installations.async_find_bot(enterprise_id=None, team_id="T0AGENCY")
        workspace = await bot.runtime.storage.workspaces.get("T0AGENCY")
        return bot_row is None and workspace is not None and workspace.status is WorkspaceStatus.INACTIVE

    await until(gone)
