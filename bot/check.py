"""`missioncontrol check`: settings, MongoDB, Slack's `auth.test` and the manifest's scopes, one line each.

Each line starts with `ok`, `FAIL`, `warn` or `skip`, then the check's name and a sentence. A failing or
warning line also tells what to do. The exit status is 1 when any check fails (a warning does not fail,
because `serve` starts with it too), so a deploy script or a container start can stop on it.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TextIO

import aiohttp
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli import MANIFEST
from bot.mongo_wait import redact_uri, replica_set_advice
from bot.settings import Settings, SettingsError, SlackMode, load_settings
from bot.slack_setup import BOT_SCOPES
from storage.database import Database, open_database

logger = logging.getLogger(__name__)

# auth.test is one small call, so a slow response is a network problem to report, not to wait out.
AUTH_TEST_TIMEOUT_SECONDS = 10

# Advice for the auth.test errors an operator meets (Slack's auth.test reference lists them).
AUTH_TEST_ADVICE = {
    "invalid_auth": "SLACK_BOT_TOKEN is not a valid token: copy the Bot User OAuth Token from OAuth & Permissions",
    "not_authed": "no token reached Slack: set SLACK_BOT_TOKEN",
    "account_inactive": "the token belongs to a deleted user or workspace: reinstall the app and set the new token",
    "token_revoked": "the token was revoked: reinstall the app and set the new SLACK_BOT_TOKEN",
    "token_expired": "the token expired (token rotation is on): turn rotation off or use OAuth mode",
}


class Status(str, Enum):
    OK = "ok"
    FAIL = "FAIL"
    WARN = "warn"
    SKIP = "skip"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: Status
    detail: str

    def line(self) -> str:
        return f"{self.status.value:<4} {self.name}: {self.detail}"


async def run_checks(
    environ: dict[str, str] | None = None,
    *,
    database: Database | None = None,
    manifest: Path = MANIFEST,
) -> list[CheckResult]:
    """Run every check; `environ` replaces the process environment and `database` the MONGODB_URI one (tests)."""
    results = [check_manifest_scopes(manifest)]
    try:
        settings = load_settings(environ)
    except SettingsError as error:
        results.insert(0, CheckResult("settings", Status.FAIL, str(error)))
        return results
    results.insert(0, CheckResult("settings", Status.OK, _describe_mode(settings)))
    results.insert(1, await check_mongodb(settings, database))
    results.insert(2, await check_slack(settings))
    encryption = check_encryption(settings)
    if encryption is not None:
        results.insert(3, encryption)
    return results


def check_encryption(settings: Settings) -> CheckResult | None:
    """Warn in OAuth mode when Slack tokens would be stored unencrypted; None in the other modes."""
    if settings.slack_mode is not SlackMode.OAUTH:
        return None
    if settings.encryption_keys:
        return CheckResult("encryption", Status.OK, "Slack tokens are encrypted in MongoDB.")
    return CheckResult(
        "encryption",
        Status.WARN,
        "MISSIONCONTROL_ENCRYPTION_KEY is not set, so Slack tokens are stored unencrypted in MongoDB: set it to "
        "a Fernet key, such as one printed by python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'.",
    )


def _describe_mode(settings: Settings) -> str:
    mode = settings.slack_mode
    if mode is SlackMode.LOCAL:
        return "local mode (no Slack credentials): messages are printed instead of posted."
    transport = "Socket Mode" if settings.SLACK_APP_TOKEN else "HTTP"
    return f"{mode.value} mode over {transport}."


async def check_mongodb(settings: Settings, database: Database | None) -> CheckResult:
    if database is None and settings.mongodb_uri is None:
        return CheckResult(
            "mongodb",
            Status.SKIP,
            "MONGODB_URI is not set, so `missioncontrol serve` keeps its data in memory inside its own process "
            "and there is no server to check: set MONGODB_URI to use one.",
        )
    owned = database is None
    db = database or open_database(settings.mongodb_uri, settings.MONGODB_DATABASE)
    try:
        failure = await db.ping_failure()
    finally:
        if owned:
            await db.close()
    if failure is None:
        return CheckResult("mongodb", Status.OK, f"the server answers ping (database {settings.MONGODB_DATABASE}).")
    uri = settings.mongodb_uri or ""
    return CheckResult(
        "mongodb",
        Status.FAIL,
        f"the server did not answer ping ({redact_uri(failure)}): {replica_set_advice(uri, failure)} from this host.",
    )


async def check_slack(settings: Settings) -> CheckResult:
    mode = settings.slack_mode
    if mode is SlackMode.LOCAL:
        return CheckResult("slack", Status.SKIP, "local mode: set SLACK_BOT_TOKEN to check a workspace's token.")
    if mode is SlackMode.OAUTH:
        return CheckResult(
            "slack",
            Status.SKIP,
            "OAuth mode: each workspace's token is stored at install and checked when it is used; auth.test "
            "runs in single-workspace mode only.",
        )
    assert settings.SLACK_BOT_TOKEN is not None  # single-workspace mode has a token
    client = AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=AUTH_TEST_TIMEOUT_SECONDS,
    )
    try:
        response = await client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error", "unknown_error"))
        advice = AUTH_TEST_ADVICE.get(code, "check SLACK_BOT_TOKEN and SLACK_API_URL")
        return CheckResult("slack", Status.FAIL, f"auth.test failed ({code}): {advice}.")
    except (aiohttp.ClientError, TimeoutError) as error:
        return CheckResult(
            "slack",
            Status.FAIL,
            f"auth.test at {settings.slack_api_url} failed ({type(error).__name__}): check SLACK_API_URL and that "
            "this host can reach it (through a proxy, if the network needs one).",
        )
    team = response.get("team_id")
    bot_user = response.get("user")
    return CheckResult("slack", Status.OK, f"auth.test accepts the token (team {team}, bot user {bot_user}).")


def check_manifest_scopes(manifest: Path) -> CheckResult:
    """Compare the manifest's bot scopes with `BOT_SCOPES`, the scopes the bot's features call Slack with."""
    try:
        document = yaml.safe_load(manifest.read_text(encoding="utf-8"))
        declared = document["oauth_config"]["scopes"]["bot"]
    except OSError as error:
        return CheckResult("manifest", Status.FAIL, f"cannot read {manifest} ({error.strerror}).")
    except (yaml.YAMLError, KeyError, TypeError):
        return CheckResult(
            "manifest", Status.FAIL, f"{manifest} has no oauth_config.scopes.bot list: restore it from the repository."
        )
    missing = sorted(set(BOT_SCOPES) - set(declared))
    extra = sorted(set(declared) - set(BOT_SCOPES))
    if missing:
        noun, pronoun = ("scope", "it") if len(missing) == 1 else ("scopes", "them")
        return CheckResult(
            "manifest",
            Status.FAIL,
            f"{manifest.name} lacks the bot {noun} {', '.join(missing)}: add {pronoun}, update the app's manifest "
            "in Slack and reinstall the app.",
        )
    if extra:
        return CheckResult(
            "manifest",
            Status.FAIL,
            f"{manifest.name} asks for bot scopes no feature uses ({', '.join(extra)}): remove them, because "
            "workspace admins review every scope at install.",
        )
    return CheckResult(
        "manifest", Status.OK, f"{manifest.name} asks for exactly the {len(BOT_SCOPES)} bot scopes used."
    )


async def check_command(*, manifest: Path | None = None, out: TextIO | None = None) -> int:
    results = await run_checks(manifest=manifest or MANIFEST)
    for result in results:
        (out or sys.stdout).write(result.line() + "\n")
    return 1 if any(result.status is Status.FAIL for result in results) else 0
