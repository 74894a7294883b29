"""Password hashing with argon2 (work runs off the event loop: it is CPU-bound by design)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

# Compared against when the e-mail is unknown, so a miss costs the same time as a wrong password.
_DUMMY_HASH = _hasher.hash("knowrithm-timing-equaliser")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError):
            return False

    return await asyncio.to_thread(check)


# A password hash starting with this marker belongs to an account whose password an admin
# invalidated (force-password-reset): the right password then gets 403 `password_reset_required`.
RESET_REQUIRED_MARK = "!"


def require_password_reset(password_hash: str) -> str:
    """The hash to store so the current password stops signing in until it is reset."""
    if password_hash.startswith(RESET_REQUIRED_MARK):
        return password_hash
    return RESET_REQUIRED_MARK + password_hash
