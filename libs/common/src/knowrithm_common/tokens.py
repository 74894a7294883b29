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


class AccessTokenClaims(BaseModel):
    """Claims of an access token (beyond iss/aud/iat/exp)."""

    sub: uuid.UUID
    jti: str
    iat: int
    exp: int
    company_id: uuid.UUID | None = None
    role: str
    typ: str = "access"
    scopes: list[str] = Field(default_factory=list)
    imp: uuid.UUID | None = Field(default=None, description="impersonating super admin's id")


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
