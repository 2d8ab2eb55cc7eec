"""Signatures of platform events, modelled on Slack's request signing.

X-MissionControl-Request-Timestamp: <unix seconds>
X-MissionControl-Signature: v1=<hex HMAC-SHA256(secret, "v1:" + timestamp + ":" + raw body)>
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from enum import Enum

TIMESTAMP_HEADER = "X-MissionControl-Request-Timestamp"
SIGNATURE_HEADER = "X-MissionControl-Signature"
VERSION = "v1"
MAX_CLOCK_SKEW_SECONDS = 300


class SignatureProblem(str, Enum):
    MISSING_TIMESTAMP = f"The {TIMESTAMP_HEADER} header is missing or not a whole number of seconds."
    STALE_TIMESTAMP = (
        f"The {TIMESTAMP_HEADER} header is more than {MAX_CLOCK_SKEW_SECONDS} seconds away from the server clock."
    )
    MISSING_SIGNATURE = f"The {SIGNATURE_HEADER} header is missing or does not start with {VERSION}=."
    BAD_SIGNATURE = f"The {SIGNATURE_HEADER} header does not match the body and timestamp."


def compute_signature(secret: str, timestamp: str, body: bytes) -> str:
    message = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: str, body: bytes, *, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: compute_signature(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def check_signature(
    *, secrets: Sequence[str], timestamp: str | None, signature: str | None, body: bytes, now: float
) -> SignatureProblem | None:
    """Return what is wrong with a request's signature, or None when any of `secrets` signed it."""
    timestamp = (timestamp or "").strip()
    # isdigit() alone accepts digits such as "²" that int() rejects; Unix seconds fit in 12 digits.
    if not timestamp or len(timestamp) > 12 or not (timestamp.isascii() and timestamp.isdigit()):
        return SignatureProblem.MISSING_TIMESTAMP
    if abs(now - int(timestamp)) > MAX_CLOCK_SKEW_SECONDS:
        return SignatureProblem.STALE_TIMESTAMP
    if not signature or not signature.startswith(f"{VERSION}="):
        return SignatureProblem.MISSING_SIGNATURE
    for secret in secrets:
        if hmac.compare_digest(compute_signature(secret, timestamp, body), signature.strip()):
            return None
    return SignatureProblem.BAD_SIGNATURE
