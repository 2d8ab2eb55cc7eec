"""`missioncontrol check` against the Slack emulator, the in-memory store and manifest files on disk."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.check import MANIFEST, CheckResult, Status, run_checks
from bot.cli import main
from bot.settings import Settings
from bot.slack_setup import BOT_SCOPES
from storage.database import Database
from tests.conftest import ROOT, TEAM_ID, single_workspace_env
from tests.slack_emulator import SlackEmulator


def by_name(results: list[CheckResult]) -> dict[str, CheckResult]:
    return {result.name: result for result in results}


def closed_port() -> int:
    """Return a 127.0.0.1 port that nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def manifest_with_scopes(tmp_path: Path, scopes: list[str]) -> Path:
    document = yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))
    document["oauth_config"]["scopes"]["bot"] = scopes
    path = tmp_path / "manifest.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def test_check_local_mode_passes(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)

    code = main(["check"])
    lines = capsys.readouterr().out.splitlines()

    assert code == 0
    assert [line.split()[:2] for line in lines] == [
        ["ok", "settings:"],
        ["skip", "mongodb:"],
        ["skip", "slack:"],
        ["ok", "manifest:"],
    ]
    assert "keeps its data in memory inside its own process" in lines[1]


def test_check_bad_setting_fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxp-user-token")

    code = main(["check"])
    lines = capsys.readouterr().out.splitlines()

    assert code == 1
    assert lines[0].startswith("FAIL settings: SLACK_BOT_TOKEN is not a bot token")
    assert lines[1].startswith("ok   manifest:")


async def test_check_single_workspace_passes(emulator: SlackEmulator, database: Database) -> None:
    results = by_name(await run_checks(single_workspace_env(emulator), database=database))

    assert results["settings"].status is Status.OK
    assert "single-workspace mode" in results["settings"].detail
    assert results["mongodb"].status is Status.OK
    assert results["slack"].status is Status.OK
    assert f"team {TEAM_ID}" in results["slack"].detail
    assert [call.method for call in emulator.calls] == ["auth.test"]


async def test_check_revoked_token_fails(emulator: SlackEmulator) -> None:
    emulator.fail_next("auth.test", "token_revoked")

    results = by_name(await run_checks(single_workspace_env(emulator)))

    assert results["slack"].status is Status.FAIL
    assert results["slack"].detail.startswith("auth.test failed (token_revoked): the token was revoked")


async def test_check_unreachable_slack_fails(emulator: SlackEmulator) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api/"

    results = by_name(await run_checks(single_workspace_env(emulator, SLACK_API_URL=url)))

    assert results["slack"].status is Status.FAIL
    assert f"auth.test at {url} failed" in results["slack"].detail
    assert "SLACK_API_URL" in results["slack"].detail


OAUTH_ENV = {
    "SLACK_CLIENT_ID": "1.2",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_REDIRECT_URI": "https://bot.example.com/slack/oauth_redirect",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "MISSIONCONTROL_EVENTS_SECRET": "events-secret",
    "MISSIONCONTROL_INSTALL_SECRET": "install-secret",
}


async def test_check_oauth_mode_skips_slack() -> None:
    results = by_name(await run_checks(OAUTH_ENV))

    assert results["settings"].status is Status.OK
    assert results["slack"].status is Status.SKIP
    assert "OAuth mode" in results["slack"].detail


async def test_check_oauth_without_key_warns() -> None:
    results = by_name(await run_checks(OAUTH_ENV))

    assert results["encryption"].status is Status.WARN
    assert results["encryption"].line().startswith("warn encryption: MISSIONCONTROL_ENCRYPTION_KEY is not set")


async def test_check_oauth_with_key_ok() -> None:
    key = "kbA6uZK8vVZ3y6J3b2a5Ssm2Wv0yq4n1bV0m7Xxk3yU="

    results = by_name(await run_checks({**OAUTH_ENV, "MISSIONCONTROL_ENCRYPTION_KEY": key}))

    assert results["encryption"].status is Status.OK


def test_check_warning_does_not_fail(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    for name, value in OAUTH_ENV.items():
        monkeypatch.setenv(name, value)

    code = main(["check"])

    assert code == 0
    assert "warn encryption:" in capsys.readouterr().out


def test_check_unreachable_mongodb_fails() -> None:
    # A separate process, because pymongo's monitor can leave a socket to the closed port for the garbage
    # collector, which pytest then reports in a later test. The check waits for pymongo's 5-second server
    # selection timeout.
    port = closed_port()
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "MONGODB_URI": f"mongodb://operator:hunter2@127.0.0.1:{port}/?replicaSet=rs0",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "check"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = result.stdout.splitlines()

    assert result.returncode == 1
    assert lines[1].startswith(f"FAIL mongodb: the server did not answer ping (127.0.0.1:{port}: ")
    assert "Connect call failed" in lines[1]
    assert "rs.initiate()" in lines[1]
    assert "hunter2" not in result.stdout
    # The check line is the whole report: no log line of the driver or of the ping beside it.
    assert result.stderr == ""


async def test_check_manifest_missing_scope(tmp_path: Path) -> None:
    path = manifest_with_scopes(tmp_path, [scope for scope in BOT_SCOPES if scope != "chat:write"])

    results = by_name(await run_checks({}, manifest=path))

    assert results["manifest"].status is Status.FAIL
    assert "lacks the bot scope chat:write: add it," in results["manifest"].detail


async def test_check_manifest_missing_scopes_plural(tmp_path: Path) -> None:
    path = manifest_with_scopes(tmp_path, [scope for scope in BOT_SCOPES if scope not in {"chat:write", "files:write"}])

    results = by_name(await run_checks({}, manifest=path))

    assert "lacks the bot scopes chat:write, files:write: add them," in results["manifest"].detail


async def test_check_manifest_extra_scope(tmp_path: Path) -> None:
    path = manifest_with_scopes(tmp_path, [*BOT_SCOPES, "admin"])

    results = by_name(await run_checks({}, manifest=path))

    assert results["manifest"].status is Status.FAIL
    assert "no feature uses (admin)" in results["manifest"].detail


async def test_check_manifest_unreadable(tmp_path: Path) -> None:
    results = by_name(await run_checks({}, manifest=tmp_path / "missing.yml"))

    assert results["manifest"].status is Status.FAIL
    assert "cannot read" in results["manifest"].detail


def test_check_manifest_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    path = manifest_with_scopes(tmp_path, BOT_SCOPES[:1])

    code = main(["check", "--manifest", str(path)])

    assert code == 1
    assert "FAIL manifest:" in capsys.readouterr().out
