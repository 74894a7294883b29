"""Access tokens: EdDSA JWTs signed with auth's key, verified by the gateway via JWKS."""

from __future__ import annotations

import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from knowrithm_auth.models import User
from knowrithm_common.tokens import ACCESS_TOKEN_AUDIENCE, ACCESS_TOKEN_ISSUER, key_id, public_jwk


class TokenIssuer:
    """Signs access tokens and publishes the matching JWKS."""

    def __init__(self, private_key: Ed25519PrivateKey, *, ttl_seconds: int) -> None:
        self._key = private_key
        self._kid = key_id(private_key.public_key())
        self.ttl_seconds = ttl_seconds

    def access_token(
        self,
        user: User,
        *,
        session_id: uuid.UUID | None = None,
        impersonator_id: uuid.UUID | None = None,
        ttl_seconds: int | None = None,
    ) -> str:
        """A signed access token for `user` in sign-in session `session_id`.

        `iat` keeps sub-second precision so a forced sign-out refuses exactly the tokens
        issued before it, even one issued earlier in the same second.
        """
        now = time.time()
        claims = {
            "iss": ACCESS_TOKEN_ISSUER,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "sub": str(user.id),
            "jti": uuid.uuid4().hex,
            "iat": round(now, 6),
            "exp": int(now) + (ttl_seconds or self.ttl_seconds),
            "company_id": str(user.company_id) if user.company_id else None,
            "role": user.role,
            "typ": "access",
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        if impersonator_id is not None:
            claims["imp"] = str(impersonator_id)
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": self._kid})

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [public_jwk(self._key.public_key())]}
