"""Settings from the environment, checked once before anything starts.

`load_settings()` is the only place that reads `os.environ`. A missing, half-given or contradictory setting
raises `SettingsError` with one line that names the variable and says what to set.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

logger = logging.getLogger(__name__)

# Known to `send-event` as well, so that local mode works with no configuration at all. It is printed at
# start; it must never protect a server that Slack can reach, so it is refused once Slack credentials are set.
LOCAL_EVENTS_SECRET = "local-development-secret-not-for-production"

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """A setting is missing or invalid; the message names the variable and what to set."""


class SlackMode(str, Enum):
    LOCAL = "local"
    SINGLE_WORKSPACE = "single-workspace"
    OAUTH = "oauth"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", env_ignore_empty=True)

    SLACK_BOT_TOKEN: SecretStr | None = None
    SLACK_SIGNING_SECRET: SecretStr | None = None
    SLACK_CLIENT_ID: str | None = None
    SLACK_CLIENT_SECRET: SecretStr | None = None
    SLACK_REDIRECT_URI: str | None = None
    SLACK_APP_TOKEN: SecretStr | None = None
    SLACK_API_URL: str = DEFAULT_SLACK_API_URL

    MONGODB_URI: SecretStr | None = None
    MONGODB_DATABASE: str = "missioncontrol"
    MONGODB_START_TIMEOUT_SECONDS: float = Field(default=60.0, ge=0, le=3600)

    MISSIONCONTROL_EVENTS_SECRET: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    MISSIONCONTROL_AGENCY_ID: str | None = None
    MISSIONCONTROL_CLIENT_ID: str | None = None
    MISSIONCONTROL_INSTALL_SECRET: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    MISSIONCONTROL_ENCRYPTION_KEY: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    MISSIONCONTROL_RETENTION_DAYS: int = Field(default=30, ge=1, le=3650)
    # Unset: deliveries follow MISSIONCONTROL_RETENTION_DAYS, Houston threads keep three times as long.
    MISSIONCONTROL_DELIVERY_RETENTION_DAYS: int | None = Field(default=None, ge=1, le=3650)
    MISSIONCONTROL_HOUSTON_RETENTION_DAYS: int | None = Field(default=None, ge=1, le=3 * 3650)
    MISSIONCONTROL_WEB_URL: str | None = None

    METRICS_TOKEN: SecretStr | None = None
    OPENAI_API_KEY: SecretStr | None = None
    OPENAI_BASE_URL: str | None = None
    HOUSTON_MODEL: str | None = None
    HOUSTON_TIMEOUT_SECONDS: float = Field(default=60.0, gt=0, le=600)
    HOUSTON_QUESTIONS_PER_USER_HOUR: int = Field(default=20, ge=1)
    HOUSTON_QUESTIONS_PER_WORKSPACE_HOUR: int = Field(default=200, ge=1)

    HOST: str = "127.0.0.1"
    PORT: int = Field(default=3000, ge=0, le=65535)
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "text"

    @field_validator(
        "MISSIONCONTROL_EVENTS_SECRET", "MISSIONCONTROL_INSTALL_SECRET", "MISSIONCONTROL_ENCRYPTION_KEY", mode="before"
    )
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("SLACK_API_URL", "MISSIONCONTROL_WEB_URL")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("LOG_FORMAT")
    @classmethod
    def _log_format(cls, value: str) -> str:
        if value not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value

    @property
    def slack_mode(self) -> SlackMode:
        if self.SLACK_CLIENT_ID:
            return SlackMode.OAUTH
        if self.SLACK_BOT_TOKEN:
            return SlackMode.SINGLE_WORKSPACE
        return SlackMode.LOCAL

    @property
    def slack_api_url(self) -> str:
        url = self.SLACK_API_URL or DEFAULT_SLACK_API_URL
        return url if url.endswith("/") else url + "/"

    @property
    def delivery_retention_days(self) -> int:
        return self.MISSIONCONTROL_DELIVERY_RETENTION_DAYS or self.MISSIONCONTROL_RETENTION_DAYS

    @property
    def houston_retention_days(self) -> int:
        # Conversations are revisited long after the alerts they discuss, so they outlive events by default.
        return self.MISSIONCONTROL_HOUSTON_RETENTION_DAYS or 3 * self.MISSIONCONTROL_RETENTION_DAYS

    @property
    def web_url(self) -> str | None:
        return self.MISSIONCONTROL_WEB_URL.rstrip("/") if self.MISSIONCONTROL_WEB_URL else None

    @property
    def events_secrets(self) -> list[str]:
        """Secrets accepted on `/platform/events`, the signing one first."""
        secrets = [secret.get_secret_value() for secret in self.MISSIONCONTROL_EVENTS_SECRET]
        return secrets or [LOCAL_EVENTS_SECRET]

    @property
    def install_secrets(self) -> list[str]:
        """Secrets accepted on install grants, the signing one first."""
        return [secret.get_secret_value() for secret in self.MISSIONCONTROL_INSTALL_SECRET]

    @property
    def encryption_keys(self) -> list[str]:
        """Fernet keys for tokens at rest, newest first."""
        return [key.get_secret_value() for key in self.MISSIONCONTROL_ENCRYPTION_KEY]

    @property
    def uses_local_events_secret(self) -> bool:
        return not self.MISSIONCONTROL_EVENTS_SECRET

    @property
    def houston_configured(self) -> bool:
        return bool(self.HOUSTON_MODEL and (self.OPENAI_API_KEY or self.OPENAI_BASE_URL))

    @property
    def houston_endpoint(self) -> str:
        """The model endpoint Houston sends questions and data to, for App Home to name."""
        # Only scheme, host and path are shown: a gateway URL may carry a key as user info or query string.
        parts = urlsplit(self.OPENAI_BASE_URL or "https://api.openai.com/v1")
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"

    @property
    def mongodb_uri(self) -> str | None:
        return self.MONGODB_URI.get_secret_value() if self.MONGODB_URI else None


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Read and check the settings; `environ` replaces the process environment when given (tests)."""
    try:
        if environ is None:
            settings = Settings()
        else:
            settings = Settings.model_validate(_non_empty(environ))
    except ValidationError as error:
        raise SettingsError(_describe_validation_error(error)) from None
    _check_combinations(settings)
    return settings


def _non_empty(environ: dict[str, str]) -> dict[str, str]:
    # An exported but empty variable means "not set", as it does for the process environment below.
    return {key: value for key, value in environ.items() if value != ""}


def _describe_validation_error(error: ValidationError) -> str:
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else "settings"
    reason = first["msg"].removeprefix("Value error, ")
    return f"Invalid {name}: {reason}. Set {name} to a valid value or unset it."


def _check_combinations(settings: Settings) -> None:
    has_token = settings.SLACK_BOT_TOKEN is not None
    has_oauth = settings.SLACK_CLIENT_ID is not None or settings.SLACK_CLIENT_SECRET is not None
    if has_token and has_oauth:
        raise SettingsError(
            "SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are both set: set SLACK_BOT_TOKEN for "
            "one workspace or the OAuth variables for many, not both."
        )
    if has_oauth:
        _require(settings, "SLACK_CLIENT_ID", "the app's client id from its Basic Information page")
        _require(settings, "SLACK_CLIENT_SECRET", "the app's client secret from its Basic Information page")
        _require(settings, "SLACK_REDIRECT_URI", "https://YOUR-HOST/slack/oauth_redirect")
        if not settings.install_secrets:
            raise SettingsError(
                "MISSIONCONTROL_INSTALL_SECRET is missing: set it to the secret Mission Control signs install grants "
                "with (required in OAuth mode)."
            )
    if has_token and not settings.SLACK_BOT_TOKEN.get_secret_value().startswith("xoxb-"):  # type: ignore[union-attr]
        raise SettingsError("SLACK_BOT_TOKEN is not a bot token: set it to the xoxb- token of the app.")
    if settings.SLACK_APP_TOKEN and not settings.SLACK_APP_TOKEN.get_secret_value().startswith("xapp-"):
        raise SettingsError("SLACK_APP_TOKEN is not an app-level token: set it to an xapp- token.")
    _check_encryption_keys(settings)
    if (settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL) and not settings.HOUSTON_MODEL:
        raise SettingsError(
            "HOUSTON_MODEL is missing: set it to the model name Houston should use (OPENAI_API_KEY or "
            "OPENAI_BASE_URL is set, and no default model is assumed)."
        )
    if settings.slack_mode is SlackMode.LOCAL:
        for name in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
            if getattr(settings, name) is not None:
                raise SettingsError(
                    f"{name} is set without a Slack token: also set SLACK_BOT_TOKEN (one workspace) or "
                    "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (OAuth), or unset it for local mode."
                )
        return
    if settings.SLACK_APP_TOKEN is None:
        _require(settings, "SLACK_SIGNING_SECRET", "the signing secret from the app's Basic Information page")
    if settings.uses_local_events_secret:
        raise SettingsError(
            "MISSIONCONTROL_EVENTS_SECRET is missing: set it to the secret the platform signs events with "
            "(required whenever Slack credentials are set)."
        )
    if settings.slack_mode is SlackMode.SINGLE_WORKSPACE:
        _require(settings, "MISSIONCONTROL_AGENCY_ID", "the Mission Control agency id of this workspace")


def _check_encryption_keys(settings: Settings) -> None:
    from cryptography.fernet import Fernet

    for position, key in enumerate(settings.encryption_keys, start=1):
        try:
            Fernet(key)
        except ValueError:
            raise SettingsError(
                f"MISSIONCONTROL_ENCRYPTION_KEY key {position} is not a Fernet key: set urlsafe-base64 32-byte keys, "
                "comma-separated, newest first (create one with Fernet.generate_key() from the cryptography package)."
            ) from None


def _require(settings: Settings, name: str, what: str) -> None:
    if getattr(settings, name) in (None, "", []):
        raise SettingsError(f"{name} is missing: set it to {what}.")
