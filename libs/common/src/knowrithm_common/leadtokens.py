"""Lead tokens: the narrow credential of a widget visitor (a "lead").

The conversations service mints one when a lead registers through the widget; the widget
sends it as `Authorization: Bearer <lead token>` on the few operations a lead may use. The
gateway verifies it with the public key alone (no JWKS: one issuer, one key pair), checks
the jti deny-list and the company-disabled key in Redis like an access token's, and asserts
a `Principal(kind="lead")`. Services scope what a lead sees by `principal.lead_id`.

Format: an EdDSA (Ed25519) JWT whose header says `typ: lead+jwt`, so the gateway can tell it
from an access token before verifying anything (`is_lead_token`).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from pydantic import BaseModel, ValidationError

from knowrithm_common.errors import Unauthorized
from knowrithm_common.identity import load_private_key, load_public_key
from knowrithm_common.tokens import key_id

# Names and labels, not secrets (ruff's S105 reads "TOKEN" in a name as a password).
LEAD_TOKEN_PRIVATE_KEY_ENV = "KNOWRITHM_LEAD_TOKEN_PRIVATE_KEY"  # noqa: S105
LEAD_TOKEN_PUBLIC_KEY_ENV = "KNOWRITHM_LEAD_TOKEN_PUBLIC_KEY"  # noqa: S105
LEAD_TOKEN_HEADER_TYPE = "lead+jwt"  # noqa: S105
LEAD_TOKEN_ISSUER = "knowrithm-conversations"  # noqa: S105
LEAD_TOKEN_AUDIENCE = "knowrithm-api"  # noqa: S105
LEAD_TOKEN_TTL_SECONDS = 7 * 24 * 3600
_LEEWAY_SECONDS = 5  # clock skew between conversations and the gateway
_DECODE_OPTIONS: Any = {"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
_Key = TypeVar("_Key")


class InvalidLeadToken(Unauthorized):
    code = "invalid_token"
    message = "The chat session token is not valid; reload the chat to start a new session"


class LeadTokenExpired(Unauthorized):
    code = "token_expired"
    message = "The chat session has expired; reload the chat to start a new session"


class LeadTokenClaims(BaseModel):
    """Claims of a lead token (beyond iss/aud); `sub` is the lead's id."""

    typ: Literal["lead"] = "lead"
    sub: uuid.UUID
    company_id: uuid.UUID
    agent_id: uuid.UUID
    conversation_id: uuid.UUID | None = None
    jti: str
    iat: int
    exp: int

    @property
    def lead_id(self) -> uuid.UUID:
        return self.sub


def _loaded(load: Callable[[str], _Key], pem: str, variable: str, kind: str) -> _Key:
    try:
        return load(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"{variable} must be an Ed25519 {kind} key in PEM form") from exc


def is_lead_token(token: str) -> bool:
    """Whether the token's (unverified) header says it is a lead token; cheap, no signature check."""
    try:
        return jwt.get_unverified_header(token).get("typ") == LEAD_TOKEN_HEADER_TYPE
    except jwt.PyJWTError:
        return False


class LeadTokenSigner:
    """Mints lead tokens (the conversations service only: it holds the private key)."""

    def __init__(self, private_pem: str, *, ttl_seconds: int = LEAD_TOKEN_TTL_SECONDS) -> None:
        self._key = _loaded(load_private_key, private_pem, LEAD_TOKEN_PRIVATE_KEY_ENV, "private")
        self._kid = key_id(self._key.public_key())
        self._ttl = ttl_seconds

    def mint(
        self, *, lead_id: uuid.UUID, company_id: uuid.UUID, agent_id: uuid.UUID,
        conversation_id: uuid.UUID | None = None,
    ) -> tuple[str, LeadTokenClaims]:
        """A new token for this lead, and its claims (keep `jti` to revoke it later)."""
        now = int(time.time())
        claims = LeadTokenClaims(
            sub=lead_id, company_id=company_id, agent_id=agent_id,
            conversation_id=conversation_id, jti=uuid.uuid4().hex, iat=now, exp=now + self._ttl,
        )
        payload = {
            "iss": LEAD_TOKEN_ISSUER, "aud": LEAD_TOKEN_AUDIENCE,
            **claims.model_dump(mode="json", exclude_none=True),
        }
        headers = {"typ": LEAD_TOKEN_HEADER_TYPE, "kid": self._kid}
        return jwt.encode(payload, self._key, algorithm="EdDSA", headers=headers), claims


class LeadTokenVerifier:
    """Verifies lead tokens with the public key; raises the 401 that says why one is refused."""

    def __init__(self, public_pem: str, *, leeway_seconds: int = _LEEWAY_SECONDS) -> None:
        self._key = _loaded(load_public_key, public_pem, LEAD_TOKEN_PUBLIC_KEY_ENV, "public")
        self._leeway = leeway_seconds

    def verify(self, token: str) -> LeadTokenClaims:
        """The token's claims once signature, issuer, audience, expiry and type check out."""
        if not is_lead_token(token):
            raise InvalidLeadToken("Not a chat session (lead) token")
        try:
            raw = jwt.decode(
                token, self._key, algorithms=["EdDSA"], audience=LEAD_TOKEN_AUDIENCE,
                issuer=LEAD_TOKEN_ISSUER, options=_DECODE_OPTIONS, leeway=self._leeway,
            )
        except jwt.ExpiredSignatureError as exc:
            raise LeadTokenExpired() from exc
        except jwt.PyJWTError as exc:
            raise InvalidLeadToken() from exc
        try:
            return LeadTokenClaims.model_validate(raw)
        except ValidationError as exc:
            raise InvalidLeadToken() from exc
