"""Signatures of platform events: the HMAC, the headers `send-event` sends, and the checks of the endpoint."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.signing import (
    MAX_CLOCK_SKEW_SECONDS,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureProblem,
    check_signature,
    compute_signature,
    signed_headers,
)

SECRET = "signing-test-secret"
OLD_SECRET = "signing-test-old-secret"
BODY = b'{"id": "evt-1", "type": "note.deleted"}'
NOW = 1_796_115_600  # 2026-12-01T09:00:00Z
TIMESTAMP = str(NOW)


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    message = b"v1:" + timestamp.encode() + b":" + body
    return "v1=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


GOOD = expected_signature(SECRET, TIMESTAMP, BODY)


def test_compute_signature_known_vector() -> None:
    assert compute_signature(SECRET, TIMESTAMP, BODY) == expected_signature(SECRET, TIMESTAMP, BODY)


def test_compute_signature_empty_body() -> None:
    assert compute_signature(SECRET, TIMESTAMP, b"") == expected_signature(SECRET, TIMESTAMP, b"")


def test_compute_signature_non_ascii_secret() -> None:
    secret = "sécret-🔑"

    assert compute_signature(secret, TIMESTAMP, BODY) == expected_signature(secret, TIMESTAMP, BODY)


def test_compute_signature_depends_on_timestamp() -> None:
    assert compute_signature(SECRET, TIMESTAMP, BODY) != compute_signature(SECRET, str(NOW + 1), BODY)


def test_signed_headers_timestamp_whole_seconds() -> None:
    headers = signed_headers(SECRET, BODY, now=NOW + 0.9)

    assert headers[TIMESTAMP_HEADER] == TIMESTAMP


def test_signed_headers_signature_matches() -> None:
    headers = signed_headers(SECRET, BODY, now=NOW)

    assert headers[SIGNATURE_HEADER] == GOOD


def test_signed_headers_content_type_json() -> None:
    headers = signed_headers(SECRET, BODY, now=NOW)

    assert headers["Content-Type"] == "application/json"


CHECK_CASES = [
    pytest.param(TIMESTAMP, GOOD, BODY, [SECRET], None, id="valid"),
    pytest.param(TIMESTAMP, GOOD, BODY, [OLD_SECRET, SECRET], None, id="second-secret-signed"),
    pytest.param(f" {TIMESTAMP} ", GOOD, BODY, [SECRET], None, id="timestamp-with-spaces"),
    pytest.param(TIMESTAMP, GOOD + " ", BODY, [SECRET], None, id="signature-with-trailing-space"),
    pytest.param(None, GOOD, BODY, [SECRET], SignatureProblem.MISSING_TIMESTAMP, id="timestamp-missing"),
    pytest.param("", GOOD, BODY, [SECRET], SignatureProblem.MISSING_TIMESTAMP, id="timestamp-empty"),
    pytest.param("yesterday", GOOD, BODY, [SECRET], SignatureProblem.MISSING_TIMESTAMP, id="timestamp-word"),
    pytest.param(f"{NOW}.5", GOOD, BODY, [SECRET], SignatureProblem.MISSING_TIMESTAMP, id="timestamp-fraction"),
    pytest.param("-5", GOOD, BODY, [SECRET], SignatureProblem.MISSING_TIMESTAMP, id="timestamp-negative"),
    pytest.param(
        str(NOW - MAX_CLOCK_SKEW_SECONDS - 1), GOOD, BODY, [SECRET], SignatureProblem.STALE_TIMESTAMP, id="301s-old"
    ),
    pytest.param(
        str(NOW + MAX_CLOCK_SKEW_SECONDS + 1), GOOD, BODY, [SECRET], SignatureProblem.STALE_TIMESTAMP, id="301s-ahead"
    ),
    pytest.param("0", GOOD, BODY, [SECRET], SignatureProblem.STALE_TIMESTAMP, id="timestamp-zero"),
    pytest.param(TIMESTAMP, None, BODY, [SECRET], SignatureProblem.MISSING_SIGNATURE, id="signature-missing"),
    pytest.param(TIMESTAMP, "", BODY, [SECRET], SignatureProblem.MISSING_SIGNATURE, id="signature-empty"),
    pytest.param(
        TIMESTAMP, "v0=" + GOOD[3:], BODY, [SECRET], SignatureProblem.MISSING_SIGNATURE, id="signature-v0-prefix"
    ),
    pytest.param(TIMESTAMP, GOOD[3:], BODY, [SECRET], SignatureProblem.MISSING_SIGNATURE, id="signature-no-prefix"),
    pytest.param(
        TIMESTAMP, "V1=" + GOOD[3:], BODY, [SECRET], SignatureProblem.MISSING_SIGNATURE, id="signature-upper-prefix"
    ),
    pytest.param(TIMESTAMP, GOOD, BODY, [OLD_SECRET], SignatureProblem.BAD_SIGNATURE, id="other-secret"),
    pytest.param(TIMESTAMP, GOOD, BODY, [], SignatureProblem.BAD_SIGNATURE, id="no-secrets"),
    pytest.param(TIMESTAMP, GOOD, BODY + b" ", [SECRET], SignatureProblem.BAD_SIGNATURE, id="body-changed"),
    pytest.param(str(NOW - 1), GOOD, BODY, [SECRET], SignatureProblem.BAD_SIGNATURE, id="timestamp-changed"),
    pytest.param(
        TIMESTAMP, GOOD.upper(), BODY, [SECRET], SignatureProblem.MISSING_SIGNATURE, id="whole-signature-upper-case"
    ),
    pytest.param(TIMESTAMP, GOOD[:-1], BODY, [SECRET], SignatureProblem.BAD_SIGNATURE, id="signature-truncated"),
]


@pytest.mark.parametrize(("timestamp", "signature", "body", "secrets", "problem"), CHECK_CASES)
def test_check_signature_cases(
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    secrets: list[str],
    problem: SignatureProblem | None,
) -> None:
    result = check_signature(secrets=secrets, timestamp=timestamp, signature=signature, body=body, now=NOW)

    assert result is problem


@pytest.mark.parametrize("offset", [-MAX_CLOCK_SKEW_SECONDS, MAX_CLOCK_SKEW_SECONDS], ids=["300s-old", "300s-ahead"])
def test_check_signature_window_edge(offset: int) -> None:
    timestamp = str(NOW + offset)
    signature = expected_signature(SECRET, timestamp, BODY)

    result = check_signature(secrets=[SECRET], timestamp=timestamp, signature=signature, body=BODY, now=NOW)

    assert result is None


@pytest.mark.parametrize("fraction", [0.4, 0.999], ids=["0.4s", "0.999s"])
def test_check_signature_fractional_server_time(fraction: float) -> None:
    timestamp = str(NOW - MAX_CLOCK_SKEW_SECONDS)
    signature = expected_signature(SECRET, timestamp, BODY)

    # The server clock has a fraction of a second, so 300.4 seconds is already outside the window.
    result = check_signature(secrets=[SECRET], timestamp=timestamp, signature=signature, body=BODY, now=NOW + fraction)

    assert result is SignatureProblem.STALE_TIMESTAMP


@pytest.mark.parametrize("timestamp", ["²", "1" * 5000], ids=["superscript-two", "5000-digits"])
def test_check_signature_odd_digits(timestamp: str) -> None:
    result = check_signature(secrets=[SECRET], timestamp=timestamp, signature=GOOD, body=BODY, now=NOW)

    assert result is SignatureProblem.MISSING_TIMESTAMP


@pytest.mark.parametrize(
    ("problem", "header"),
    [
        pytest.param(SignatureProblem.MISSING_TIMESTAMP, TIMESTAMP_HEADER, id="missing-timestamp"),
        pytest.param(SignatureProblem.STALE_TIMESTAMP, TIMESTAMP_HEADER, id="stale-timestamp"),
        pytest.param(SignatureProblem.MISSING_SIGNATURE, SIGNATURE_HEADER, id="missing-signature"),
        pytest.param(SignatureProblem.BAD_SIGNATURE, SIGNATURE_HEADER, id="bad-signature"),
    ],
)
def test_signature_problem_names_header(problem: SignatureProblem, header: str) -> None:
    assert header in problem.value
