"""Console sessions: an opaque id in an HttpOnly cookie, everything else in Redis.

The cookie holds only 256 random bits. Redis keeps, under the SHA-256 of that id (someone who
can read Redis still cannot present a session), the form token (CSRF), the chosen language
and, once signed in, the user's access and refresh tokens with what the pages show of the
user. Signing in starts a new session id (no fixation); signing out deletes the record.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from redis.asyncio import Redis

COOKIE = "knowrithm_console"
COOKIE_PATH = "/console"
KEY_PREFIX = "console:session:"


def new_secret() -> str:
    """A fresh random token (session ids, CSRF tokens)."""
    return secrets.token_urlsafe(32)


def session_key(session_id: str) -> str:
    """The Redis key of a session: the id's hash, never the id itself."""
    return KEY_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(slots=True)
class User:
    """The signed-in person as the pages show them (from `GET /auth/user/me`)."""

    id: str
    email: str
    name: str
    role: str
    company_id: str | None = None
    company_name: str | None = None
    language: str = "en"
    timezone: str = "UTC"

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "super_admin")

    @property
    def is_super_admin(self) -> bool:
        return self.role == "super_admin"


@dataclass(slots=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: float  # epoch seconds at which the access token stops working

    def stale(self, leeway: float) -> bool:
        return time.time() + leeway >= self.expires_at


@dataclass(slots=True)
class Impersonation:
    """A super admin acting as another user: their own user and tokens, set aside until it ends."""

    user: User
    tokens: Tokens


@dataclass(slots=True)
class Session:
    """One browser's session; `id` is the cookie value (not stored)."""

    id: str
    csrf: str
    language: str | None = None
    user: User | None = None
    tokens: Tokens | None = None
    notice: str | None = None  # a one-time message for the next page (e.g. "signed out")
    created_at: float = field(default_factory=time.time)
    impersonation: Impersonation | None = None  # set while a super admin acts as someone else

    @property
    def impersonation_over(self) -> bool:
        """An impersonation whose token has run out (it is never refreshed)."""
        if self.impersonation is None:
            return False
        return self.tokens is None or self.tokens.expires_at <= time.time()

    def end_impersonation(self) -> None:
        """Back to the super admin's own user and tokens (the impersonation's are forgotten)."""
        if self.impersonation is not None:
            self.user, self.tokens = self.impersonation.user, self.impersonation.tokens
            self.impersonation = None

    @property
    def signed_in(self) -> bool:
        return self.user is not None and self.tokens is not None

    def dump(self) -> str:
        data = asdict(self)
        data.pop("id")
        return json.dumps(data)

    @classmethod
    def load(cls, session_id: str, raw: bytes | str) -> Session:
        data: dict[str, Any] = json.loads(raw)
        user = User(**data.pop("user")) if data.get("user") else None
        tokens = Tokens(**data.pop("tokens")) if data.get("tokens") else None
        aside = data.pop("impersonation", None)
        impersonation = Impersonation(User(**aside["user"]), Tokens(**aside["tokens"])) if aside else None
        data.pop("user", None)
        data.pop("tokens", None)
        return cls(id=session_id, user=user, tokens=tokens, impersonation=impersonation, **data)


class SessionStore:
    """Sessions in Redis, each living `idle` seconds past its last save (signed out: `anonymous`)."""

    def __init__(self, redis: Redis, *, idle_seconds: int, anonymous_seconds: int) -> None:
        self.redis = redis
        self.idle = idle_seconds
        self.anonymous = anonymous_seconds

    async def get(self, session_id: str | None) -> Session | None:
        """The session of this cookie value, or None when there is none (any more)."""
        if not session_id or len(session_id) > 128:
            return None
        raw = await self.redis.get(session_key(session_id))
        return Session.load(session_id, raw) if raw is not None else None

    async def new(self, *, language: str | None = None, notice: str | None = None) -> Session:
        """A new signed-out session with its own CSRF token (saved)."""
        session = Session(id=new_secret(), csrf=new_secret(), language=language, notice=notice)
        await self.save(session)
        return session

    async def save(self, session: Session) -> None:
        ttl = self.idle if session.signed_in else self.anonymous
        await self.redis.set(session_key(session.id), session.dump(), ex=ttl)

    async def touch(self, session: Session) -> None:
        """Start the idle time again."""
        await self.redis.expire(session_key(session.id), self.idle if session.signed_in else self.anonymous)

    async def delete(self, session: Session) -> None:
        await self.redis.delete(session_key(session.id))

    async def reload(self, session: Session) -> Session | None:
        """The session as Redis holds it now (another request may have refreshed its tokens)."""
        return await self.get(session.id)
