"""TokenCipher: Fernet encryption of tokens, plaintext fallback, key rotation and error messages."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from storage.crypto import ENCRYPTED_PREFIX, InvalidKey, TokenCipher, TokenDecryptionError

TOKEN = "xoxb-1111-2222-plaintext-secret"
KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def test_encrypt_round_trip() -> None:
    cipher = TokenCipher([KEY_A])

    encrypted = cipher.encrypt(TOKEN)

    assert encrypted.startswith(ENCRYPTED_PREFIX)
    assert TOKEN not in encrypted
    assert cipher.decrypt(encrypted) == TOKEN


def test_encrypt_without_keys_passes_through() -> None:
    cipher = TokenCipher()

    assert not cipher.enabled
    assert cipher.encrypt(TOKEN) == TOKEN
    assert cipher.decrypt(TOKEN) == TOKEN


def test_none_passes_through() -> None:
    cipher = TokenCipher([KEY_A])

    assert cipher.encrypt(None) is None
    assert cipher.decrypt(None) is None
    assert cipher.needs_rotation(None) is False


def test_plaintext_is_read_as_is_with_keys() -> None:
    assert TokenCipher([KEY_A]).decrypt(TOKEN) == TOKEN


def test_older_key_still_decrypts() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)

    assert TokenCipher([KEY_B, KEY_A]).decrypt(encrypted) == TOKEN


def test_from_setting_splits_comma_separated_keys() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)

    cipher = TokenCipher.from_setting(f" {KEY_B} , {KEY_A},")

    assert cipher.enabled
    assert cipher.decrypt(encrypted) == TOKEN
    assert TokenCipher([KEY_B]).decrypt(cipher.encrypt(TOKEN)) == TOKEN


@pytest.mark.parametrize("setting", [None, "", " , "])
def test_from_setting_empty_means_no_encryption(setting: str | None) -> None:
    assert not TokenCipher.from_setting(setting).enabled


@pytest.mark.parametrize("bad_key", ["not-a-key", "c2hvcnQ=", KEY_A[:-4]])
def test_invalid_key_message(bad_key: str) -> None:
    with pytest.raises(InvalidKey) as caught:
        TokenCipher([KEY_A, bad_key])

    message = str(caught.value)
    assert "key 2 of 2" in message
    assert "MISSIONCONTROL_ENCRYPTION_KEY" in message
    assert "Fernet.generate_key()" in message
    assert bad_key not in message


def test_wrong_key_raises_without_token() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)

    with pytest.raises(TokenDecryptionError) as caught:
        TokenCipher([KEY_B]).decrypt(encrypted)

    assert "no key in MISSIONCONTROL_ENCRYPTION_KEY decrypts it" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None


def test_encrypted_value_without_keys_raises() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)

    with pytest.raises(TokenDecryptionError, match="MISSIONCONTROL_ENCRYPTION_KEY is not set"):
        TokenCipher().decrypt(encrypted)


def test_altered_ciphertext_raises() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)
    altered = encrypted[:-6] + ("AAAAAA" if not encrypted.endswith("AAAAAA") else "BBBBBB")

    with pytest.raises(TokenDecryptionError):
        TokenCipher([KEY_A]).decrypt(altered)


def test_decryption_error_names_location() -> None:
    error = TokenDecryptionError("no key matches").at(
        collection="installations", document_id="abc123", field="bot_token"
    )

    assert str(error) == (
        "Failed to decrypt a stored Slack token (collection installations, document abc123, field bot_token): "
        "no key matches"
    )


@pytest.mark.parametrize(
    ("written_with", "read_with", "expected"),
    [
        pytest.param(None, [KEY_A], True, id="plaintext-with-key"),
        pytest.param(None, [], False, id="plaintext-without-key"),
        pytest.param([KEY_A], [KEY_A], False, id="newest-key"),
        pytest.param([KEY_A], [KEY_B, KEY_A], True, id="older-key"),
        pytest.param([KEY_B], [KEY_B, KEY_A], False, id="newest-of-two"),
    ],
)
def test_needs_rotation(written_with: list[str] | None, read_with: list[str], expected: bool) -> None:
    stored = TOKEN if written_with is None else TokenCipher(written_with).encrypt(TOKEN)

    assert TokenCipher(read_with).needs_rotation(stored) is expected


def test_needs_rotation_with_unknown_key_raises() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)

    with pytest.raises(TokenDecryptionError):
        TokenCipher([KEY_B]).needs_rotation(encrypted)


def test_rotate_moves_to_newest_key() -> None:
    old = TokenCipher([KEY_A]).encrypt(TOKEN)

    rotated = TokenCipher([KEY_B, KEY_A]).rotate(old)

    assert rotated.startswith(ENCRYPTED_PREFIX)
    assert TokenCipher([KEY_B]).decrypt(rotated) == TOKEN
    assert TokenCipher([KEY_B, KEY_A]).needs_rotation(rotated) is False


def test_rotate_encrypts_plaintext() -> None:
    rotated = TokenCipher([KEY_A]).rotate(TOKEN)

    assert rotated.startswith(ENCRYPTED_PREFIX)
    assert TokenCipher([KEY_A]).decrypt(rotated) == TOKEN


def test_rotate_without_keys_keeps_plaintext() -> None:
    assert TokenCipher().rotate(TOKEN) == TOKEN


def test_rotate_encrypted_without_keys_raises() -> None:
    encrypted = TokenCipher([KEY_A]).encrypt(TOKEN)

    with pytest.raises(TokenDecryptionError, match="not set"):
        TokenCipher().rotate(encrypted)
