"""Who is calling: access tokens verified locally against auth's JWKS, revocation in Redis.

No credentials (and, until API keys land, API-key credentials) give the anonymous principal;
the services decide which routes need more. A bad token is a 401 here, never forwarded.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from knowrithm_common.errors import ServiceUnavailable, Unauthorized
from knowrithm_common.identity import AssertionSigner, Principal, Role
from knowrithm_common.tokens import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    REVOKED_JTI_KEY,
    VALID_AFTER_KEY,
    AccessTokenClaims,
)
from knowrithm_gateway.jwks import JwksCache
from knowrithm_gateway.revocation import BatchedMget
from knowrithm_gateway.token_cache import SignedPrincipal, VerifiedToken, VerifiedTokens

logger = logging.getLogger(__name__)

_DECODE_OPTIONS: Any = {"require": ["exp", "iat", "iss", "aud", "sub", "jti"]}
_LEEWAY_SECONDS = 5  # clock skew between auth and the gateway


class InvalidToken(Unauthorized):
    code, message = "invalid_token", "Invalid access token"


class TokenExpired(Unauthorized):
    code, message = "token_expired", "Access token has expired"


class TokenRevoked(Unauthorized):
    code, message = "token_revoked", "Access token has been revoked"


class TokenVerifier:
    """Turns an access token into a verified entry, or raises the 401 that says why not."""

    def __init__(self, *, jwks: JwksCache, redis: Redis) -> None:
        self._jwks = jwks
        self._lookups = BatchedMget(redis)
        self._verified = VerifiedTokens(leeway_seconds=_LEEWAY_SECONDS)

    async def verify(self, token: str) -> VerifiedToken:
        """Signature, issuer, audience, expiry, type, then revocation (one Redis round trip)."""
        entry = self._verified.get(token, generation=self._jwks.generation)
        if entry is None:
            claims = await self._decode(token)
            entry = VerifiedToken(claims, SignedPrincipal(principal_from_claims(claims)))
            self._verified.put(token, entry)
        await self._check_revocation(entry.claims)
        return entry

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
        if valid_after is not None and claims.iat < _unix_time(valid_after):
            raise TokenRevoked("Access token was issued before a forced sign-out")


def _unix_time(value: bytes | str) -> float:
    try:
        return float(value)
    except ValueError:
        # Unreadable means a forced sign-out was recorded badly: refuse rather than ignore it.
        logger.error("unreadable valid-after value %r", value)
        return float("inf")


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


def principal_from_claims(claims: AccessTokenClaims) -> Principal:
    """The principal a user's access token stands for.

    No request id inside: the assertion is reused across requests (token_cache.py); the
    request id travels in `X-Request-ID`, which the gateway always sets.
    """
    try:
        role = Role(claims.role)
    except ValueError as exc:
        raise InvalidToken("Access token carries an unknown role") from exc
    return Principal(
        kind="user", company_id=claims.company_id, user_id=claims.sub, role=role,
        scopes=claims.scopes, impersonator_id=claims.imp,
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
    """Picks the credentials of a request and returns the signed assertion to forward."""

    def __init__(self, *, verifier: TokenVerifier, signer: AssertionSigner) -> None:
        self._verifier = verifier
        self._signer = signer
        self._anonymous = SignedPrincipal(Principal.anonymous())

    async def assertion(
        self, *, authorization: str | None, api_key: str | None, api_secret: str | None,
        request_id: str,
    ) -> str:
        """Bearer token first, then API key, else anonymous."""
        if authorization:
            token = bearer_token(authorization)
            if token is None:
                raise InvalidToken("Authorization header must be 'Bearer <token>'")
            entry = await self._verifier.verify(token)
            return entry.signed.assertion_from(self._signer)
        if api_key and api_secret:
            principal = await resolve_api_key(api_key, api_secret, request_id=request_id)
            if principal is not None:
                return self._signer.sign(principal)
        return self._anonymous.assertion_from(self._signer)
