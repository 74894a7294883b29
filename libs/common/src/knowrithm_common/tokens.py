"""Access-token contract between auth (issues) and the gateway (verifies via JWKS).

Access tokens are EdDSA JWTs signed by auth. Auth publishes its public keys at
`/.well-known/jwks.json`; the gateway verifies locally and checks revocation in Redis.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import BaseModel, Field

ACCESS_TOKEN_ISSUER = "knowrithm-auth"
ACCESS_TOKEN_AUDIENCE = "knowrithm-api"
JWKS_PATH = "/.well-known/jwks.json"

# Redis keys shared by auth (writes) and the gateway (reads): a revoked token's jti, and the
# instant before which every token of a user is refused (forced sign-out).
REVOKED_JTI_KEY = "auth:revoked:jti:{jti}"
VALID_AFTER_KEY = "auth:valid-after:{user_id}"
# A signed-out (or reuse-compromised) sign-in session: every access token carrying its `sid`.
REVOKED_SESSION_KEY = "auth:revoked:sid:{sid}"
# Set while a company is deleted: every credential of that company is refused.
COMPANY_DISABLED_KEY = "auth:company-disabled:{company_id}"
# The gateway's cache of a resolved API key (an ApiKeyRecord as JSON), keyed by the key's hash.
API_KEY_CACHE_KEY = "gw:api-key:{key_hash}"
# Where the gateway asks auth to resolve an API key it has not cached (internal, not proxied).
API_KEY_RESOLVE_PATH = "/internal/v1/api-keys/resolve"

API_KEY_PREFIX = "ak_"
API_SECRET_PREFIX = "as_"


class AccessTokenClaims(BaseModel):
    """Claims of an access token (beyond iss/aud/iat/exp)."""

    sub: uuid.UUID
    jti: str
    iat: float
    exp: int
    company_id: uuid.UUID | None = None
    role: str
    typ: str = "access"
    scopes: list[str] = Field(default_factory=list)
    imp: uuid.UUID | None = Field(default=None, description="impersonating super admin's id")
    sid: uuid.UUID | None = Field(default=None, description="sign-in session (refresh family)")


def credential_hash(value: str) -> str:
    """SHA-256 hex of an API key or secret, or of an opaque refresh/mail token.

    A fast hash is right here: these are 256-bit random strings, not passwords, so there is
    nothing to brute-force, and the gateway checks a secret on every request.
    """
    return hashlib.sha256(value.encode()).hexdigest()


class ApiKeyRecord(BaseModel):
    """What auth tells the gateway about an API key, and what the gateway caches in Redis."""

    id: uuid.UUID
    company_id: uuid.UUID
    user_id: uuid.UUID
    role: str = Field(description="the role of the user who created the key")
    scopes: list[str]
    secret_hash: str
    expires_at: float | None = Field(None, description="unix time")
    rate_limit_per_hour: int
    rate_limit_per_day: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_id(public_key: Ed25519PublicKey) -> str:
    """A stable key id: a hash of the raw public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _b64url(hashlib.sha256(raw).digest()[:12])


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, str]:
    """The JWK (RFC 8037 OKP) form of an Ed25519 public key."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(raw),
        "kid": key_id(public_key),
        "alg": "EdDSA",
        "use": "sig",
    }
