"""Secrets at rest (provider API keys, database credentials, lead PII): Fernet with ENCRYPTION_KEY.

Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) authenticates what it decrypts, so a
tampered or foreign ciphertext is refused rather than decrypted into garbage. Several keys
may be given, comma-separated, newest first: new values use the first, old ones still
decrypt (key rotation, `MultiFernet`).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr


class UndecryptableSecret(Exception):
    """A stored secret that none of the configured keys can decrypt."""


class SecretBox:
    """Encrypts and decrypts short secrets for storage."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("ENCRYPTION_KEY is empty; generate one with Fernet.generate_key()")
        self._fernet = MultiFernet([Fernet(k.encode()) for k in parts])

    def encrypt(self, plaintext: str) -> str:
        """The ciphertext (URL-safe text) of `plaintext`."""
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        """The plaintext of a value `encrypt` produced with one of the configured keys."""
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise UndecryptableSecret("stored secret cannot be decrypted with the configured keys") from exc


def hint(secret: str | None) -> str | None:
    """What a response may show of a secret: its last four characters, masked."""
    if not secret:
        return None
    return "••••" + secret[-4:] if len(secret) > 8 else "••••"


def generate_key() -> str:
    """A new random ENCRYPTION_KEY value."""
    return Fernet.generate_key().decode()


def readable_fernet_keys(value: SecretStr) -> SecretStr:
    """Settings validator of ENCRYPTION_KEY: empty, or Fernet keys a SecretBox can use.

    A key that is set but unreadable is a deployment mistake: the service refuses to start.
    """
    if value.get_secret_value().strip():
        try:
            SecretBox(value.get_secret_value())
        except ValueError as exc:  # binascii.Error is a ValueError too
            raise ValueError("ENCRYPTION_KEY must hold Fernet keys, comma-separated") from exc
    return value
