"""The internal identity assertion: the gateway signs who is calling, services verify it.

Services never trust bare headers. Every `/api/` request reaching a service must carry a
short-lived EdDSA JWT in `X-Knowrithm-Assertion`, signed with the gateway's private key; the
`AssertionMiddleware` verifies it with the public key and puts a `Principal` on the request.
Public routes (sign-up, login) get an assertion too, of kind `anonymous`, so a service port
reached without the gateway answers 401 for everything under `/api/`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from enum import StrEnum
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key
from fastapi import Request
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from knowrithm_common.errors import Forbidden, KnowrithmError, Unauthorized, error_response

ASSERTION_HEADER = "x-knowrithm-assertion"
_ISSUER = "knowrithm-gateway"
_AUDIENCE = "knowrithm-services"
ASSERTION_TTL_SECONDS = 60


class Role(StrEnum):
    SUPER_ADMIN = "super_admin"
    ADMIN = "admin"
    USER = "user"
    LEAD = "lead"
    ANONYMOUS = "anonymous"


# API-key scopes (the Knowrithm API's enum). `full_access` and `admin` grant everything,
# `write` also grants `update` and `delete`. A scope may name one resource, `documents:write`,
# to grant that action on that resource only.
SCOPES = ("read", "write", "update", "delete", "admin", "full_access")
_IMPLIES = {
    "full_access": {"read", "write", "update", "delete", "admin"},
    "admin": {"read", "write", "update", "delete", "admin"},
    "write": {"write", "update", "delete"},
    "update": {"update"},
    "delete": {"delete"},
    "read": {"read"},
}


def method_scope(method: str) -> str:
    """The scope an API key needs for an HTTP method, unless its route declares another."""
    return {
        "GET": "read",
        "HEAD": "read",
        "OPTIONS": "read",
        "PUT": "update",
        "PATCH": "update",
        "DELETE": "delete",
    }.get(method.upper(), "write")


def valid_scope(scope: str) -> bool:
    """Whether `scope` is one of SCOPES, or `<resource>:<one of SCOPES>`."""
    _, _, action = scope.rpartition(":")
    resource = scope[: -len(action) - 1] if ":" in scope else ""
    return action in SCOPES and (":" not in scope or resource.replace("-", "").isalnum())


def scopes_grant(granted: Iterable[str], needed: str, *, resource: str | None = None) -> bool:
    """Whether scopes `granted` allow action `needed` (on `resource`, if it is named)."""
    for scope in granted:
        scope_resource, _, action = scope.rpartition(":")
        if scope_resource and scope_resource != resource:
            continue
        if needed in _IMPLIES.get(action, ()):
            return True
    return False


class Principal(BaseModel):
    """Who is calling, as asserted by the gateway."""

    kind: str = Field(description="user | api_key | lead | anonymous | service")
    company_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    role: Role = Role.ANONYMOUS
    scopes: list[str] = Field(default_factory=list)
    api_key_id: uuid.UUID | None = None
    lead_id: uuid.UUID | None = None
    impersonator_id: uuid.UUID | None = None

    @property
    def is_authenticated(self) -> bool:
        return self.kind != "anonymous"

    @property
    def is_super_admin(self) -> bool:
        return self.role == Role.SUPER_ADMIN

    @classmethod
    def anonymous(cls) -> Principal:
        return cls(kind="anonymous")

    @classmethod
    def service(cls) -> Principal:
        """The gateway itself calling a service's internal route."""
        return cls(kind="service")


def load_private_key(pem: str) -> Ed25519PrivateKey:
    """Load an Ed25519 private key from PEM text."""
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("expected an Ed25519 private key")
    return key


def load_public_key(pem: str) -> Ed25519PublicKey:
    """Load an Ed25519 public key from PEM text."""
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("expected an Ed25519 public key")
    return key


class AssertionSigner:
    """Signs principals into assertions (gateway only)."""

    def __init__(self, private_key: Ed25519PrivateKey, ttl_seconds: int = ASSERTION_TTL_SECONDS):
        self._key = private_key
        self._ttl = ttl_seconds

    def sign(self, principal: Principal) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": _ISSUER,
            "aud": _AUDIENCE,
            "iat": now,
            "exp": now + self._ttl,
            "p": principal.model_dump(mode="json", exclude_none=True),
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA")


class AssertionVerifier:
    """Verifies assertions and returns the principal they carry."""

    def __init__(self, public_key: Ed25519PublicKey):
        self._key = public_key

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=["EdDSA"],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
            return Principal.model_validate(claims["p"])
        except (jwt.PyJWTError, KeyError, ValueError) as exc:
            raise Unauthorized("Invalid or missing gateway identity assertion") from exc


class AssertionMiddleware:
    """Refuses `/api/` requests that lack a valid gateway assertion; stores the principal."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: AssertionVerifier,
        prefixes: tuple[str, ...] = ("/api/", "/internal/"),
    ):
        self.app = app
        self.verifier = verifier
        self.prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        token = _header(scope, ASSERTION_HEADER.encode())
        try:
            if token is None:
                raise Unauthorized("Requests must come through the gateway")
            principal = self.verifier.verify(token)
        except KnowrithmError as exc:
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller (anonymous for public routes)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise Unauthorized()
    return principal


def authenticated(request: Request) -> Principal:
    """FastAPI dependency: a caller that is not anonymous."""
    principal = current_principal(request)
    if not principal.is_authenticated:
        raise Unauthorized()
    return principal


def require_roles(*roles: Role) -> Callable[[Request], Principal]:
    """Dependency factory: the caller must hold one of `roles`."""
    allowed = set(roles)

    def dependency(request: Request) -> Principal:
        principal = authenticated(request)
        if principal.role not in allowed:
            raise Forbidden("Insufficient role for this operation")
        return principal

    return dependency


def require_scopes(scopes: Iterable[str]) -> Callable[[Request], Principal]:
    """Dependency factory: API-key callers must hold every scope; users pass by role."""
    needed = set(scopes)

    def dependency(request: Request) -> Principal:
        principal = authenticated(request)
        if principal.kind == "api_key" and not all(scopes_grant(principal.scopes, s) for s in needed):
            raise Forbidden(f"API key lacks scope(s): {', '.join(sorted(needed))}")
        return principal

    return dependency


def users_only(request: Request) -> Principal:
    """FastAPI dependency: a signed-in user (a JWT), not an API key or a lead."""
    principal = authenticated(request)
    if principal.kind != "user":
        raise Forbidden("This operation needs a user's access token, not an API key")
    return principal


def gateway_only(request: Request) -> Principal:
    """FastAPI dependency for internal routes: only the gateway itself may call."""
    principal = current_principal(request)
    if principal.kind != "service":
        raise Forbidden("Internal route")
    return principal
