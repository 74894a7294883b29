"""Who is calling: access tokens verified locally against auth's JWKS, revocation in Redis.

No credentials (and, until API keys land, API-key credentials) give the anonymous principal;
the services decide which routes need more. A bad token is a 401 here, never forwarded.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
from knowrithm_common.errors import ServiceUnavailable, Unauthorized
from knowrithm_common.identity import Principal, Role
from knowrithm_common.tokens import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    REVOKED_JTI_KEY,
    VALID_AFTER_KEY,
    AccessTokenClaims,
)
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from knowrithm_gateway.jwks import JwksCache
from knowrithm_gateway.revocation import BatchedMget

logger = logging.getLogger(__name__)

_DECODE_OPTIONS = {"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
_LEEWAY_SECONDS = 5  # clock skew between auth and the gateway


class InvalidToken(Unauthorized):
    code, message = "invalid_token", "Invalid access token"


class TokenExpired(Unauthorized):
    code, message = "token_expired", "Access token has expired"


class TokenRevoked(Unauthorized):
    code, message = "token_revoked", "Access token has been revoked"


class VerifiedTokens:
    """Tokens whose signature and claims already checked out, kept until they expire.

    Verifying an EdDSA JWT costs ~120 µs; a client sends the same token for its whole
    lifetime, so the check runs once per token. Revocation is still checked on every request.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, AccessTokenClaims] = {}
        self._max = max_entries
        self.generation = 0

    def get(self, token: str, *, generation: int) -> AccessTokenClaims | None:
        """The cached claims of a still-valid token, else None."""
        if generation != self.generation:
            # The key set changed (rotation, a removed key): verify everything afresh.
            self._entries.clear()
            self.generation = generation
            return None
        claims = self._entries.get(token)
        if claims is not None and claims.exp + _LEEWAY_SECONDS <= time.time():
            del self._entries[token]
            return None
        return claims

    def put(self, token: str, claims: AccessTokenClaims) -> None:
        """Remember a verified token."""
        if len(self._entries) >= self._max:
            # Wholesale reset keeps this O(1) and lock-free; the cost is one re-verify each.
            self._entries.clear()
        self._entries[token] = claims


class TokenVerifier:
    """Turns an access token into claims, or raises the 401 that says why not."""

    def __init__(self, *, jwks: JwksCache, redis: Redis) -> None:
        self._jwks = jwks
        self._lookups = BatchedMget(redis)
        self._verified = VerifiedTokens()

    async def verify(self, token: str) -> AccessTokenClaims:
        """Signature, issuer, audience, expiry, type, then revocation (one Redis round trip)."""
        claims = self._verified.get(token, generation=self._jwks.generation)
        if claims is None:
            claims = await self._decode(token)
            self._verified.put(token, claims)
        await self._check_revocation(claims)
        return claims

    async def _decode(self, token: str) -> AccessTokenClaims:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
        keys = await self._jwks.keys_for(kid)
        if not keys:
            raise InvalidToken("Access token signed with an unknown key")
        raw = _decode_with_any(token, keys)
        try:
            claims = AccessTokenClaims.model_validate(raw)
        except ValidationError as exc:
            raise InvalidToken("Access token claims are malformed") from exc
        if claims.typ != "access":
            raise InvalidToken("Not an access token")
        return claims

    async def _check_revocation(self, claims: AccessTokenClaims) -> None:
        keys = (REVOKED_JTI_KEY.format(jti=claims.jti), VALID_AFTER_KEY.format(user_id=claims.sub))
        try:
            revoked, valid_after = await self._lookups.mget(keys)
        except (RedisError, OSError) as exc:
            # Fail closed: without the deny-list a signed-out token would still work.
            raise ServiceUnavailable("Cannot check token revocation right now") from exc
        if revoked is not None:
            raise TokenRevoked()
        if valid_after is not None and claims.iat < float(valid_after):
            raise TokenRevoked("Access token was issued before a forced sign-out")


def _decode_with_any(token: str, keys: list[Any]) -> dict[str, Any]:
    error: jwt.PyJWTError = jwt.InvalidSignatureError()
    for key in keys:
        try:
            return jwt.decode(
                token, key, algorithms=["EdDSA"], audience=ACCESS_TOKEN_AUDIENCE,
                issuer=ACCESS_TOKEN_ISSUER, options=_DECODE_OPTIONS, leeway=_LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenExpired() from exc
        except jwt.InvalidSignatureError as exc:
            error = exc  # another key of the set may still match
        except jwt.PyJWTError as exc:
            raise InvalidToken() from exc
    raise InvalidToken() from error


def principal_from_claims(claims: AccessTokenClaims, request_id: str) -> Principal:
    """The principal a user's access token stands for."""
    try:
        role = Role(claims.role)
    except ValueError as exc:
        raise InvalidToken("Access token carries an unknown role") from exc
    return Principal(
        kind="user", company_id=claims.company_id, user_id=claims.sub, role=role,
        scopes=claims.scopes, impersonator_id=claims.imp, request_id=request_id,
    )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def resolve_api_key(
    api_key: str, api_secret: str, *, request_id: str
) -> Principal | None:
    """Extension point for `X-API-Key` + `X-API-Secret`: the key's principal, or None.

    API keys arrive in a later issue (hashed secrets at auth, a key cache and rate limits in
    Redis here). Until then a request carrying them proceeds as anonymous.
    """
    return None


class Authenticator:
    """Picks the credentials of a request and returns the principal to assert."""

    def __init__(self, verifier: TokenVerifier) -> None:
        self._verifier = verifier

    async def principal(
        self, *, authorization: str | None, api_key: str | None, api_secret: str | None,
        request_id: str,
    ) -> Principal:
        """Bearer token first, then API key, else anonymous."""
        if authorization:
            token = bearer_token(authorization)
            if token is None:
                raise InvalidToken("Authorization header must be 'Bearer <token>'")
            claims = await self._verifier.verify(token)
            return principal_from_claims(claims, request_id)
        if api_key and api_secret:
            principal = await resolve_api_key(api_key, api_secret, request_id=request_id)
            if principal is not None:
                return principal
        return Principal.anonymous(request_id)
