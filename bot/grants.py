"""Install grants: signed tokens that say which Mission Control account a Slack install belongs to.

    mcg1.<payload>.<signature>

`payload` is the base64url (no padding) of a JSON object with `agency_id`, `client_id` (null for an agency
workspace), `user_id` (the Mission Control user who installs, or null), `grant_id` (unique) and `exp` (Unix
seconds). `signature` is the base64url (no padding) of HMAC-SHA256 under MISSIONCONTROL_INSTALL_SECRET over
the ASCII text `mcg1.<payload>`. docs/install-grants.md describes the format for the platform team.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from secrets import token_urlsafe
from typing import Any

PREFIX = "mcg1"
# A grant is a link parameter; anything longer is not one of ours.
MAX_GRANT_LENGTH = 2_000
MAX_TTL = timedelta(days=30)
MAX_ID_LENGTH = 200


class GrantError(Exception):
    """A grant is malformed, forged or expired; the message is safe to show to the installer."""


@dataclass(frozen=True)
class Grant:
    agency_id: str
    client_id: str | None
    user_id: str | None
    grant_id: str
    expires_at: datetime

    @property
    def is_client_grant(self) -> bool:
        return self.client_id is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "agency_id": self.agency_id,
            "client_id": self.client_id,
            "user_id": self.user_id,
            "grant_id": self.grant_id,
            "exp": int(self.expires_at.timestamp()),
        }


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, signed_text: str) -> str:
    return _b64encode(hmac.new(secret.encode(), signed_text.encode("ascii"), hashlib.sha256).digest())


def issue_grant(
    *, secret: str, agency_id: str, client_id: str | None, user_id: str | None, ttl: timedelta, now: datetime
) -> str:
    """Build a signed grant that expires `ttl` after `now`."""
    if not timedelta(0) < ttl <= MAX_TTL:
        raise ValueError(f"ttl must be between 1 second and {MAX_TTL.days} days")
    for name, value in (("agency id", agency_id), ("client id", client_id), ("user id", user_id)):
        if value is not None and not 1 <= len(value) <= MAX_ID_LENGTH:
            raise ValueError(f"the {name} must be 1 to {MAX_ID_LENGTH} characters")
    grant = Grant(
        agency_id=agency_id,
        client_id=client_id,
        user_id=user_id,
        grant_id=token_urlsafe(12),
        expires_at=now + ttl,
    )
    payload = _b64encode(json.dumps(grant.as_dict(), separators=(",", ":")).encode())
    signed_text = f"{PREFIX}.{payload}"
    return f"{signed_text}.{_signature(secret, signed_text)}"


def verify_grant(token: str, *, signing_secrets: Sequence[str], now: datetime) -> Grant:
    """Return the grant when one of `signing_secrets` signed it and it has not expired; raise GrantError otherwise."""
    parts = token.strip().split(".")
    if len(token) > MAX_GRANT_LENGTH or len(parts) != 3 or parts[0] != PREFIX:
        raise GrantError(
            "The install link is damaged: it does not contain a Mission Control grant. Ask for a new link in "
            "Mission Control."
        )
    signed_text = f"{parts[0]}.{parts[1]}"
    if not any(hmac.compare_digest(_signature(secret, signed_text), parts[2]) for secret in signing_secrets):
        raise GrantError("The install link is not signed by Mission Control. Ask for a new link in Mission Control.")
    grant = _parse_payload(parts[1])
    if grant.expires_at <= now:
        raise GrantError("The install link has expired. Ask for a new link in Mission Control.")
    if grant.expires_at - now > MAX_TTL:
        raise GrantError(
            f"The install link is valid for more than {MAX_TTL.days} days, which Mission Control never issues. "
            "Ask for a new link in Mission Control."
        )
    return grant


def _parse_payload(payload: str) -> Grant:
    try:
        fields = json.loads(_b64decode(payload))
        grant = Grant(
            agency_id=_required_text(fields, "agency_id"),
            client_id=_optional_text(fields, "client_id"),
            user_id=_optional_text(fields, "user_id"),
            grant_id=_required_text(fields, "grant_id"),
            expires_at=datetime.fromtimestamp(_integer(fields, "exp"), tz=UTC),
        )
    except (ValueError, KeyError, TypeError, binascii.Error, OverflowError):
        raise GrantError(
            "The install link is damaged: its grant cannot be read. Ask for a new link in Mission Control."
        ) from None
    return grant


def grant_from_dict(fields: dict[str, Any]) -> Grant:
    """Rebuild a grant kept in storage (the payload of an already verified grant)."""
    return Grant(
        agency_id=fields["agency_id"],
        client_id=fields.get("client_id"),
        user_id=fields.get("user_id"),
        grant_id=fields["grant_id"],
        expires_at=datetime.fromtimestamp(int(fields["exp"]), tz=UTC),
    )


def _integer(fields: dict[str, Any], name: str) -> int:
    value = fields[name]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(name)
    return value


def _required_text(fields: dict[str, Any], name: str) -> str:
    value = fields[name]
    if not isinstance(value, str) or not value or len(value) > MAX_ID_LENGTH:
        raise ValueError(name)
    return value


def _optional_text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    return _required_text(fields, name)
