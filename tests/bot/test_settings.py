"""Settings from the environment: the modes, and the one-line errors that name the variable to set."""

from __future__ import annotations

import pytest

from bot.settings import (
    DEFAULT_SLACK_API_URL,
    LOCAL_EVENTS_SECRET,
    Settings,
    SettingsError,
    SlackMode,
    load_settings,
)

SINGLE_WORKSPACE = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "MISSIONCONTROL_EVENTS_SECRET": "events-secret",
    "MISSIONCONTROL_AGENCY_ID": "ag-acme",
}
OAUTH = {
    "SLACK_CLIENT_ID": "1234.5678",
    "SLACK_CLIENT_SECRET": "client-secret",
    "SLACK_REDIRECT_URI": "https://bot.example/slack/oauth_redirect",
    "SLACK_SIGNING_SECRET": "signing-secret",
    "MISSIONCONTROL_EVENTS_SECRET": "events-secret",
    "MISSIONCONTROL_INSTALL_SECRET": "install-secret",
}


def without(environ: dict[str, str], *names: str) -> dict[str, str]:
    return {name: value for name, value in environ.items() if name not in names}


BAD_ENVIRONMENTS = [
    pytest.param(without(SINGLE_WORKSPACE, "SLACK_SIGNING_SECRET"), "SLACK_SIGNING_SECRET", id="token-no-signing"),
    pytest.param(without(OAUTH, "SLACK_CLIENT_SECRET"), "SLACK_CLIENT_SECRET", id="client-id-no-secret"),
    pytest.param(without(OAUTH, "SLACK_CLIENT_ID"), "SLACK_CLIENT_ID", id="client-secret-no-id"),
    pytest.param(without(OAUTH, "SLACK_REDIRECT_URI"), "SLACK_REDIRECT_URI", id="oauth-no-redirect"),
    pytest.param({**OAUTH, **SINGLE_WORKSPACE}, "SLACK_BOT_TOKEN", id="both-modes"),
    pytest.param({**SINGLE_WORKSPACE, "SLACK_BOT_TOKEN": "xoxp-user-token"}, "SLACK_BOT_TOKEN", id="user-token"),
    pytest.param({**SINGLE_WORKSPACE, "SLACK_APP_TOKEN": "xoxb-1"}, "SLACK_APP_TOKEN", id="app-token-not-xapp"),
    pytest.param(
        without(SINGLE_WORKSPACE, "MISSIONCONTROL_EVENTS_SECRET"),
        "MISSIONCONTROL_EVENTS_SECRET",
        id="token-no-events-secret",
    ),
    pytest.param(
        without(OAUTH, "MISSIONCONTROL_EVENTS_SECRET"), "MISSIONCONTROL_EVENTS_SECRET", id="oauth-no-events-secret"
    ),
    pytest.param(
        without(OAUTH, "MISSIONCONTROL_INSTALL_SECRET"), "MISSIONCONTROL_INSTALL_SECRET", id="oauth-no-install-secret"
    ),
    pytest.param(
        {**SINGLE_WORKSPACE, "MISSIONCONTROL_EVENTS_SECRET": " , "},
        "MISSIONCONTROL_EVENTS_SECRET",
        id="events-secret-only-commas",
    ),
    pytest.param(
        without(SINGLE_WORKSPACE, "MISSIONCONTROL_AGENCY_ID"), "MISSIONCONTROL_AGENCY_ID", id="single-no-agency"
    ),
    pytest.param(
        {**without(SINGLE_WORKSPACE, "MISSIONCONTROL_AGENCY_ID"), "MISSIONCONTROL_CLIENT_ID": "cl-alpha"},
        "MISSIONCONTROL_AGENCY_ID",
        id="client-workspace-no-agency",
    ),
    pytest.param({"SLACK_SIGNING_SECRET": "signing-secret"}, "SLACK_SIGNING_SECRET", id="signing-secret-no-token"),
    pytest.param({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_APP_TOKEN", id="app-token-no-token"),
    pytest.param({"PORT": "abc"}, "PORT", id="port-not-number"),
    pytest.param({"PORT": "70000"}, "PORT", id="port-too-large"),
    pytest.param({"SLACK_API_URL": "ftp://x"}, "SLACK_API_URL", id="api-url-ftp"),
    pytest.param({"MISSIONCONTROL_WEB_URL": "app.example"}, "MISSIONCONTROL_WEB_URL", id="web-url-no-scheme"),
    pytest.param({"LOG_LEVEL": "loud"}, "LOG_LEVEL", id="log-level-unknown"),
    pytest.param({"LOG_FORMAT": "xml"}, "LOG_FORMAT", id="log-format-unknown"),
    pytest.param({"MISSIONCONTROL_RETENTION_DAYS": "0"}, "MISSIONCONTROL_RETENTION_DAYS", id="retention-zero"),
    pytest.param(
        {"MISSIONCONTROL_DELIVERY_RETENTION_DAYS": "0"},
        "MISSIONCONTROL_DELIVERY_RETENTION_DAYS",
        id="delivery-retention-zero",
    ),
    pytest.param(
        {"MISSIONCONTROL_HOUSTON_RETENTION_DAYS": "many"},
        "MISSIONCONTROL_HOUSTON_RETENTION_DAYS",
        id="houston-retention-not-a-number",
    ),
]


@pytest.mark.parametrize(("environ", "variable"), BAD_ENVIRONMENTS)
def test_load_settings_error_names_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)

    assert variable in str(raised.value)


@pytest.mark.parametrize(("environ", "variable"), BAD_ENVIRONMENTS)
def test_load_settings_error_is_one_line(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(environ)

    assert "\n" not in str(raised.value)


def test_load_settings_error_hides_token() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings({**SINGLE_WORKSPACE, "SLACK_BOT_TOKEN": "xoxp-secret-user-token"})

    assert "xoxp-secret-user-token" not in str(raised.value)


def test_empty_environment_is_local_mode() -> None:
    settings = load_settings({})

    assert settings.slack_mode is SlackMode.LOCAL


def test_empty_environment_uses_local_secret() -> None:
    settings = load_settings({})

    assert settings.events_secrets == [LOCAL_EVENTS_SECRET]
    assert settings.uses_local_events_secret


def test_empty_values_count_as_unset() -> None:
    settings = load_settings({"SLACK_BOT_TOKEN": "", "SLACK_SIGNING_SECRET": "", "PORT": ""})

    assert settings.slack_mode is SlackMode.LOCAL
    assert settings.PORT == 3000


def test_local_mode_with_events_secret() -> None:
    settings = load_settings({"MISSIONCONTROL_EVENTS_SECRET": "mine"})

    assert settings.events_secrets == ["mine"]
    assert not settings.uses_local_events_secret


def test_events_secrets_split_on_commas() -> None:
    settings = load_settings({"MISSIONCONTROL_EVENTS_SECRET": "new-secret, old-secret,,"})

    assert settings.events_secrets == ["new-secret", "old-secret"]


def test_single_workspace_mode() -> None:
    settings = load_settings(SINGLE_WORKSPACE)

    assert settings.slack_mode is SlackMode.SINGLE_WORKSPACE
    assert settings.MISSIONCONTROL_AGENCY_ID == "ag-acme"


def test_socket_mode_needs_no_signing_secret() -> None:
    environ = {**without(SINGLE_WORKSPACE, "SLACK_SIGNING_SECRET"), "SLACK_APP_TOKEN": "xapp-1-abc"}

    settings = load_settings(environ)

    assert settings.slack_mode is SlackMode.SINGLE_WORKSPACE


def test_oauth_mode() -> None:
    settings = load_settings(OAUTH)

    assert settings.slack_mode is SlackMode.OAUTH


DEFAULTS = [
    pytest.param("slack_api_url", DEFAULT_SLACK_API_URL, id="slack-api-url"),
    pytest.param("HOST", "127.0.0.1", id="host"),
    pytest.param("PORT", 3000, id="port"),
    pytest.param("LOG_LEVEL", "INFO", id="log-level"),
    pytest.param("LOG_FORMAT", "text", id="log-format"),
    pytest.param("MONGODB_DATABASE", "missioncontrol", id="database-name"),
    pytest.param("mongodb_uri", None, id="no-mongodb-uri"),
    pytest.param("MISSIONCONTROL_RETENTION_DAYS", 30, id="retention-days"),
    pytest.param("delivery_retention_days", 30, id="delivery-retention-days"),
    pytest.param("houston_retention_days", 90, id="houston-retention-days"),
    pytest.param("web_url", None, id="no-web-url"),
]


@pytest.mark.parametrize(("attribute", "expected"), DEFAULTS)
def test_settings_defaults(attribute: str, expected: object) -> None:
    settings = load_settings({})

    assert getattr(settings, attribute) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("http://127.0.0.1:8888/api", "http://127.0.0.1:8888/api/", id="slash-added"),
        pytest.param("http://127.0.0.1:8888/api/", "http://127.0.0.1:8888/api/", id="slash-kept"),
    ],
)
def test_slack_api_url_trailing_slash(given: str, expected: str) -> None:
    settings = load_settings({"SLACK_API_URL": given})

    assert settings.slack_api_url == expected


def test_web_url_trailing_slash_removed() -> None:
    settings = load_settings({"MISSIONCONTROL_WEB_URL": "https://app.missioncontrol.example/"})

    assert settings.web_url == "https://app.missioncontrol.example"


def test_log_level_any_case() -> None:
    settings = load_settings({"LOG_LEVEL": "debug"})

    assert settings.LOG_LEVEL == "DEBUG"


def test_secrets_hidden_in_repr() -> None:
    settings = load_settings({**SINGLE_WORKSPACE, "MONGODB_URI": "mongodb://user:pw@127.0.0.1/db"})
    text = repr(settings)

    assert "xoxb-1-2-abc" not in text
    assert "signing-secret" not in text
    assert "events-secret" not in text
    assert "user:pw" not in text


def test_process_environment_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PORT", "4123")

    settings = load_settings()

    assert settings.PORT == 4123


def test_process_environment_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOG_LEVEL", "loud")

    with pytest.raises(SettingsError, match="LOG_LEVEL"):
        load_settings()


def test_houston_endpoint_hides_credentials() -> None:
    settings = load_settings(
        {"OPENAI_BASE_URL": "https://user:secret@gateway.example:8443/v1?api-key=topsecret", "HOUSTON_MODEL": "m"}
    )
    assert settings.houston_endpoint == "https://gateway.example:8443/v1"


def test_retention_follows_events_by_default() -> None:
    settings = load_settings({"MISSIONCONTROL_RETENTION_DAYS": "10"})

    assert settings.delivery_retention_days == 10
    assert settings.houston_retention_days == 30


def test_retention_set_per_collection() -> None:
    settings = load_settings(
        {
            "MISSIONCONTROL_RETENTION_DAYS": "10",
            "MISSIONCONTROL_DELIVERY_RETENTION_DAYS": "7",
            "MISSIONCONTROL_HOUSTON_RETENTION_DAYS": "365",
        }
    )

    assert settings.MISSIONCONTROL_RETENTION_DAYS == 10
    assert settings.delivery_retention_days == 7
    assert settings.houston_retention_days == 365
