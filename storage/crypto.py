"""Encryption of Slack tokens at rest with Fernet (AES-128-CBC with an HMAC-SHA256 tag).

An encrypted value is stored as `fernet:` followed by the Fernet token, so that a value written before a key
was configured (a plain `xoxb-…` token) can still be distinguished from an encrypted one and read as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENCRYPTED_PREFIX = "fernet:"
KEY_VARIABLE = "MISSIONCONTROL_ENCRYPTION_KEY"
KEY_FORMAT_HELP = (
    f"{KEY_VARIABLE} must be urlsafe-base64 32-byte Fernet keys, comma-separated. Create one with "
    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
)


class InvalidKey(ValueError):
    """An encryption key is not a valid Fernet key, or an operation needs a key and none is set."""


class TokenDecryptionError(Exception):
    """A stored token that no configured key decrypts. The message names where it is stored, never the token."""

    def __init__(
        self, reason: str, *, collection: str | None = None, document_id: str | None = None, field: str | None = None
    ) -> None:
        self.reason = reason
        self.collection = collection
        self.document_id = document_id
        self.field = field
        super().__init__(self._message())

    def at(self, *, collection: str, document_id: str, field: str) -> TokenDecryptionError:
        """Return the same error with the place of the token filled in."""
        return TokenDecryptionError(self.reason, collection=collection, document_id=document_id, field=field)

    def _message(self) -> str:
        places = [("collection", self.collection), ("document", self.document_id), ("field", self.field)]
        where = ", ".join(f"{name} {value}" for name, value in places if value is not None)
        location = f" ({where})" if where else ""
        return f"Failed to decrypt a stored Slack token{location}: {self.reason}"


class TokenCipher:
    """Encrypts and decrypts token strings with a list of Fernet keys, newest first, or passes them through.

    With keys, `encrypt` always uses the newest key and `decrypt` tries every key. Without keys, `encrypt`
    returns its input unchanged. `decrypt` reads plaintext as is in both cases, and raises
    `TokenDecryptionError` for an encrypted value that no key opens. None passes through every method.
    """

    def __init__(self, keys: Sequence[str | bytes] = ()) -> None:
        fernets = [_load_key(key, position=index + 1, count=len(keys)) for index, key in enumerate(keys)]
        self._newest: Fernet | None = fernets[0] if fernets else None
        self._all: MultiFernet | None = MultiFernet(fernets) if fernets else None

    @classmethod
    def from_setting(cls, value: str | None) -> TokenCipher:
        """Build a cipher from the comma-separated setting. None or an empty string means no encryption."""
        keys = [part.strip() for part in (value or "").split(",") if part.strip()]
        return cls(keys)

    @property
    def enabled(self) -> bool:
        return self._all is not None

    @overload
    def encrypt(self, value: str) -> str: ...
    @overload
    def encrypt(self, value: None) -> None: ...
    def encrypt(self, value: str | None) -> str | None:
        if value is None or self._newest is None:
            return value
        return ENCRYPTED_PREFIX + self._newest.encrypt(value.encode()).decode()

    @overload
    def decrypt(self, value: str) -> str: ...
    @overload
    def decrypt(self, value: None) -> None: ...
    def decrypt(self, value: str | None) -> str | None:
        if value is None or not is_encrypted(value):
            return value
        return self._decrypt_with_any_key(_fernet_token(value)).decode()

    def needs_rotation(self, value: str | None) -> bool:
        """Tell whether `value` is plaintext while a key is set, or encrypted under a key other than the newest.

        Returns False when no key is set. Raises `TokenDecryptionError` when `value` is encrypted and no key
        decrypts it.
        """
        if value is None or self._newest is None:
            return False
        if not is_encrypted(value):
            return True
        token = _fernet_token(value)
        try:
            self._newest.decrypt(token)
        except InvalidToken:
            self._decrypt_with_any_key(token)
            return True
        return False

    def rotate(self, value: str) -> str:
        """Return `value` encrypted under the newest key.

        Plaintext stays unchanged when no key is set. Raises `TokenDecryptionError` when `value` is encrypted
        and no key decrypts it.
        """
        if not is_encrypted(value):
            return self.encrypt(value)
        if self._all is None:
            raise _missing_key_error()
        try:
            rotated = self._all.rotate(_fernet_token(value))
        except InvalidToken:
            raise _no_matching_key_error() from None
        return ENCRYPTED_PREFIX + rotated.decode()

    def _decrypt_with_any_key(self, token: bytes) -> bytes:
        if self._all is None:
            raise _missing_key_error()
        try:
            return self._all.decrypt(token)
        except InvalidToken:
            raise _no_matching_key_error() from None


def is_encrypted(value: str) -> bool:
    # NOTE: a plaintext value that starts with "fernet:" would be taken for an encrypted one. Slack tokens
    # start with "xox" or "xapp", so no real token does.
    return value.startswith(ENCRYPTED_PREFIX)


def _fernet_token(value: str) -> bytes:
    return value.removeprefix(ENCRYPTED_PREFIX).encode()


def _missing_key_error() -> TokenDecryptionError:
    return TokenDecryptionError(f"the token is encrypted but {KEY_VARIABLE} is not set")


def _no_matching_key_error() -> TokenDecryptionError:
    return TokenDecryptionError(
        f"no key in {KEY_VARIABLE} decrypts it, or it was altered. "
        "Add the key it was encrypted with after the newest key."
    )


def _load_key(key: str | bytes, *, position: int, count: int) -> Fernet:
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        # The key stays out of the message because it is a secret, even when it is malformed.
        raise InvalidKey(f"Invalid encryption key (key {position} of {count}). {KEY_FORMAT_HELP}") from None
