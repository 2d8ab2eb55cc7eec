"""Install grants: the signed token format, and `missioncontrol grant`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.admin_cli import parse_ttl, print_grant
from bot.grants import GrantError, issue_grant, verify_grant
from bot.settings import load_settings

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SECRET = "install-secret"


def make(**overrides: object) -> str:
    fields: dict[str, object] = {
        "secret": SECRET,
        "agency_id": "ag-acme",
        "client_id": "cl-alpha",
        "user_id": "mc-42",
        "ttl": timedelta(hours=1),
        "now": NOW,
    }
    fields.update(overrides)
    return issue_grant(**fields)  # type: ignore[arg-type]


def test_grant_round_trip() -> None:
    grant = verify_grant(make(), signing_secrets=[SECRET], now=NOW)
    assert (grant.agency_id, grant.client_id, grant.user_id) == ("ag-acme", "cl-alpha", "mc-42")
    assert grant.expires_at == NOW + timedelta(hours=1)
    assert grant.is_client_grant


def test_grant_ids_are_unique() -> None:
    first = verify_grant(make(), signing_secrets=[SECRET], now=NOW)
    second = verify_grant(make(), signing_secrets=[SECRET], now=NOW)
    assert first.grant_id != second.grant_id


def test_grant_matches_documented_format() -> None:
    # Rebuild the signature as docs/install-grants.md tells the platform team to.
    token = make(client_id=None)
    prefix, payload, signature = token.split(".")
    expected = hmac.new(SECRET.encode(), f"{prefix}.{payload}".encode(), hashlib.sha256).digest()
    assert prefix == "mcg1"
    assert base64.urlsafe_b64encode(expected).rstrip(b"=").decode() == signature
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded["client_id"] is None
    assert decoded["exp"] == int((NOW + timedelta(hours=1)).timestamp())


def test_rotated_secret_accepted() -> None:
    grant = verify_grant(make(), signing_secrets=["new-secret", SECRET], now=NOW)
    assert grant.agency_id == "ag-acme"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("not-a-grant", "damaged", id="no-dots"),
        pytest.param("mcg2.abc.def", "damaged", id="wrong-prefix"),
        pytest.param("mcg1." + "a" * 3000 + ".x", "damaged", id="too-long"),
    ],
)
def test_malformed_grant_rejected(token: str, message: str) -> None:
    with pytest.raises(GrantError, match=message):
        verify_grant(token, signing_secrets=[SECRET], now=NOW)


def test_forged_grant_rejected() -> None:
    with pytest.raises(GrantError, match="not signed"):
        verify_grant(make(secret="someone-else"), signing_secrets=[SECRET], now=NOW)


def test_changed_payload_rejected() -> None:
    prefix, _, signature = make().split(".")
    forged_payload = base64.urlsafe_b64encode(json.dumps({"agency_id": "ag-evil"}).encode()).rstrip(b"=").decode()
    with pytest.raises(GrantError, match="not signed"):
        verify_grant(f"{prefix}.{forged_payload}.{signature}", signing_secrets=[SECRET], now=NOW)


def test_expired_grant_rejected() -> None:
    with pytest.raises(GrantError, match="expired"):
        verify_grant(make(), signing_secrets=[SECRET], now=NOW + timedelta(hours=1))


def test_signed_garbage_payload_rejected() -> None:
    payload = base64.urlsafe_b64encode(b'{"agency_id": 5}').rstrip(b"=").decode()
    signed = f"mcg1.{payload}"
    signature = base64.urlsafe_b64encode(hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest())
    with pytest.raises(GrantError, match="cannot be read"):
        verify_grant(f"{signed}.{signature.rstrip(b'=').decode()}", signing_secrets=[SECRET], now=NOW)


@pytest.mark.parametrize(
    ("text", "expected"), [("30m", timedelta(minutes=30)), ("1h", timedelta(hours=1)), ("7d", timedelta(days=7))]
)
def test_parse_ttl(text: str, expected: timedelta) -> None:
    assert parse_ttl(text) == expected


@pytest.mark.parametrize("text", ["0h", "31d", "1w", "h", "-1h"])
def test_parse_ttl_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="--ttl"):
        parse_ttl(text)


def test_grant_command_prints_verifiable_grant() -> None:
    settings = load_settings({"MISSIONCONTROL_INSTALL_SECRET": SECRET})
    out = io.StringIO()
    assert print_grant(settings, agency="ag-acme", client=None, user="mc-1", ttl="2h", stdout=out) == 0
    grant = verify_grant(out.getvalue().strip(), signing_secrets=[SECRET], now=datetime.now(UTC))
    assert grant.client_id is None
    assert grant.user_id == "mc-1"


def test_grant_command_needs_secret(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings({})
    assert print_grant(settings, agency="ag-acme", client=None, user=None, ttl="1h") == 2
    assert "MISSIONCONTROL_INSTALL_SECRET" in capsys.readouterr().err
