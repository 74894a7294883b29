"""Bearer tokens: access tokens verified against auth's JWKS, lead tokens against their key.

Both are verified once per token. A bad token is a 401 here, never forwarded. What can
change during a token's life (a revoked jti or session, a forced sign-out, a disabled
company) is asked of Redis on every request, by the admission script (guard.py), with the
keys this module prepares per token.

A lead token (a widget visitor's, `typ: lead+jwt` in its header) is told apart before any
verification and checked with the lead-token public key alone. Its principal is
`kind="lead"` with the lead's id; Redis refuses it by its jti (the deny-list access tokens
use, so conversations can revoke it) or its disabled company. It is counted per lead here,
and per client IP in the anonymous class by the admission (a lead is an anonymous visitor).
"""

from __future__ import annotations

import functools
import logging
from typing import Any
from urllib.parse import unquote_plus

import jwt
from pydantic import ValidationError
from starlette.types import Scope

from knowrithm_common.errors import KnowrithmError, Unauthorized
from knowrithm_common.identity import Principal, Role
from knowrithm_common.leadtokens import LeadTokenClaims, LeadTokenVerifier, is_lead_token
from knowrithm_common.tokens import (
    ACCESS_TOKEN_AUDIENCE,
    ACCESS_TOKEN_ISSUER,
    COMPANY_DISABLED_KEY,
    REVOKED_JTI_KEY,
    REVOKED_SESSION_KEY,
    VALID_AFTER_KEY,
    AccessTokenClaims,
)
from knowrithm_gateway.jwks import JwksCache
from knowrithm_gateway.overrides import LiveLimits
from knowrithm_gateway.ratelimit import MINUTE, limit
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


class CompanyDisabled(Unauthorized):
    code, message = "company_disabled", "The company of these credentials is disabled"


_SESSION_ENDED = functools.partial(TokenRevoked, "The sign-in session of this token has ended")
_SIGNED_OUT = functools.partial(TokenRevoked, "Access token was issued before a forced sign-out")
_LEAD_REVOKED = functools.partial(
    TokenRevoked, "This chat session has been closed; reload the chat to start a new one"
)
_NO_LEAD_KEY = functools.partial(
    InvalidToken, "Chat session (lead) tokens are not accepted: the gateway has no lead-token key"
)


class TokenVerifier:
    """Turns an access or lead token into a verified entry, or raises the 401 that says why not."""

    def __init__(
        self, *, jwks: JwksCache, limits: LiveLimits, leads: LeadTokenVerifier | None = None,
        lead_per_minute: int = 0,
    ) -> None:
        self._jwks = jwks
        self._verified = VerifiedTokens(leeway_seconds=_LEEWAY_SECONDS)
        self._limits = limits  # per user and company: the settings', or a configuration entry's
        self._leads = leads  # None: no lead-token key configured, every lead token is a 401
        self._lead_per_minute = lead_per_minute

    async def verify(self, token: str) -> VerifiedToken:
        """Signature, issuer, audience, expiry and type; Redis is the admission script's job."""
        entry = self._verified.get(token, generation=self._jwks.generation)
        if entry is None:
            if is_lead_token(token):
                entry = self._lead_entry(self._decode_lead(token))
            else:
                entry = self._entry(await self._decode(token))
            self._verified.put(token, entry)
        return entry

    def forget_all(self) -> None:
        """Drop every verified token: their rate-limit buckets are rebuilt with the limits now in force."""
        self._verified.clear()

    def _decode_lead(self, token: str) -> LeadTokenClaims:
        if self._leads is None:
            raise _NO_LEAD_KEY()
        return self._leads.verify(token)

    def _lead_entry(self, claims: LeadTokenClaims) -> VerifiedToken:
        principal = Principal(
            kind="lead", role=Role.LEAD, company_id=claims.company_id, lead_id=claims.sub,
        )
        per_lead = limit("lead", claims.sub, self._lead_per_minute, MINUTE)
        return VerifiedToken(
            claims, SignedPrincipal(principal),
            deny=(REVOKED_JTI_KEY.format(jti=claims.jti),
                  COMPANY_DISABLED_KEY.format(company_id=claims.company_id)),
            refusals=(_LEAD_REVOKED, CompanyDisabled), valid_after=None,
            limits=(per_lead,) if per_lead is not None else (),
        )

    def _entry(self, claims: AccessTokenClaims) -> VerifiedToken:
        deny = [REVOKED_JTI_KEY.format(jti=claims.jti)]
        refusals: list[Any] = [TokenRevoked]
        if claims.sid is not None:
            deny.append(REVOKED_SESSION_KEY.format(sid=claims.sid))
            refusals.append(_SESSION_ENDED)
        if claims.company_id is not None:
            deny.append(COMPANY_DISABLED_KEY.format(company_id=claims.company_id))
            refusals.append(CompanyDisabled)
        refusals.append(_SIGNED_OUT)
        limits = (
            limit("user", claims.sub, self._limits.user_per_minute, MINUTE),
            limit("company", claims.company_id, self._limits.company_per_minute, MINUTE)
            if claims.company_id is not None else None,
        )
        return VerifiedToken(
            claims, SignedPrincipal(principal_from_claims(claims)), deny=tuple(deny),
            refusals=tuple(refusals), valid_after=(VALID_AFTER_KEY.format(user_id=claims.sub), claims.iat),
            limits=tuple(lim for lim in limits if lim is not None),
        )

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


def refusal(entry: VerifiedToken, index: int) -> KnowrithmError:
    """The 401 for the deny key (or, past them, the valid-after check) that refused a token."""
    return entry.refusals[index]()


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


QUERY_TOKEN = b"access_token"
STREAM_SUFFIX = "/messages/stream"


def take_query_bearer(scope: Scope, *, lead_allowed: bool) -> str | None:
    """`Bearer <token>` from `?access_token=` on a lead-allowed SSE stream; the parameter is removed.

    A browser's EventSource cannot send headers, so the widget's stream may carry its token in
    the query, on that one kind of operation only (GET …/messages/stream that admits leads).
    The parameter is cut from the query string before anything else reads it, so the token
    never reaches the upstream (or its logs and traces); the gateway logs paths, never queries.
    """
    if not (lead_allowed and scope["method"] == "GET" and scope["path"].endswith(STREAM_SUFFIX)):
        return None
    query: bytes = scope.get("query_string", b"")
    if QUERY_TOKEN not in query:
        return None
    kept: list[bytes] = []
    found: str | None = None
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if name == QUERY_TOKEN:
            found = unquote_plus(value.decode("latin-1"))
        else:
            kept.append(part)
    scope["query_string"] = b"&".join(kept)
    return f"Bearer {found}" if found else None


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if that is what it holds."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
