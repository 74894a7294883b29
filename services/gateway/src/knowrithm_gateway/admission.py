"""Admission of one request: who is calling, whether Redis still agrees, rate limits, policy.

Per request, in order: the credentials are verified locally (a token's signature once per
token, an API key's secret against its record); one admission script in Redis checks what
may have changed since (revoked token or session, forced sign-out, disabled company, the
key's cached record) and counts the request in its rate-limit buckets; then the operation's
policy (policies.py) decides. Only then is the identity assertion attached and forwarded.

A lead token (a widget visitor's) comes as a Bearer token too; it counts in its lead's bucket
and, like any anonymous visitor, in its client IP's anonymous bucket, and it may call only
public operations and those that declare `lead=True`. On a lead-allowed SSE stream the token
may come as `?access_token=` instead (a browser's EventSource sends no headers); the gateway
cuts it from the query before forwarding (auth.take_query_bearer).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from starlette.types import Scope

from knowrithm_common.errors import Forbidden, KnowrithmError, ServiceUnavailable, Unauthorized
from knowrithm_common.identity import AssertionSigner, Principal, scopes_grant
from knowrithm_common.leadtokens import is_lead_token
from knowrithm_common.tokens import credential_hash
from knowrithm_gateway.apikeys import ApiKeyLocked, ApiKeys, HeldKey, InvalidApiKey, WrongApiSecret
from knowrithm_gateway.auth import (
    CompanyDisabled,
    InvalidToken,
    TokenVerifier,
    bearer_token,
    refusal,
    take_query_bearer,
)
from knowrithm_gateway.guard import DENIED, RECORD_STALE, REFUSED, Answer, Check, Guard
from knowrithm_gateway.headers import Incoming
from knowrithm_gateway.policies import AUTH_RATE, Access, Operation, resource_of
from knowrithm_gateway.ratelimit import MINUTE, ClientAddress, Limit, judge, limit
from knowrithm_gateway.routing import Route
from knowrithm_gateway.token_cache import SignedPrincipal
from knowrithm_gateway.usage import UsageRow


class AuthenticationRequired(Unauthorized):
    message = "Authentication required: send a Bearer access token or X-API-Key and X-API-Secret"


class ApiKeyNotAllowed(Forbidden):
    code, message = "api_key_not_allowed", "This operation needs a user's access token, not an API key"


class InsufficientRole(Forbidden):
    code, message = "insufficient_role", "Your role does not allow this operation"


class InsufficientScope(Forbidden):
    code, message = "insufficient_scope", "This API key lacks the scope for this operation"


class LeadNotAllowed(Forbidden):
    code = "lead_not_allowed"
    message = "A chat visitor's (lead) token cannot call this operation"


@dataclass(slots=True)
class Exchange:
    """One proxied request as the gateway handled it: for the response, metrics and usage."""

    route: Route | None
    operation: Operation | None
    label: str
    credential: str = "anonymous"  # what the caller presented: user | api_key | lead | anonymous
    principal: Principal | None = None  # set once the credentials passed every check
    rate_headers: list[tuple[str, str]] = field(default_factory=list)
    rate_limited: bool = False
    client_ip: str | None = None  # as the gateway decided it (trusted proxies honoured)

    def usage_row(
        self, *, request_id: str, arrived: float, method: str, status: int, seconds: float
    ) -> UsageRow:
        """This request's API usage record (ids only of a caller whose credentials held)."""
        principal = self.principal
        return UsageRow(
            request_id, arrived,
            principal.company_id if principal else None,
            principal.user_id if principal else None,
            principal.api_key_id if principal else None,
            self.credential, method, self.label, status, round(seconds * 1000, 3),
            self.rate_limited, self.client_ip,
        )


@dataclass(kw_only=True, slots=True)
class Gate:
    """Admits requests: returns the assertion to forward, or raises the error to answer."""

    verifier: TokenVerifier
    api_keys: ApiKeys
    guard: Guard
    signer: AssertionSigner
    addresses: ClientAddress
    anonymous_per_minute: int
    auth_per_minute: int
    _anonymous: SignedPrincipal = field(
        init=False, default_factory=lambda: SignedPrincipal(Principal.anonymous())
    )

    async def admit(
        self, scope: Scope, incoming: Incoming, operation: Operation, exchange: Exchange
    ) -> str:
        """The identity assertion for this request, once every check passed."""
        ip = self.addresses.of(scope, incoming.forwarded_for)
        exchange.client_ip = ip
        from_query = take_query_bearer(scope, lead_allowed=operation.lead)  # always cut from the query
        authorization = incoming.authorization or from_query
        # One credential per request: an Authorization header wins over API-key headers, which
        # are then neither verified nor forwarded (the official SDK sends its session's key
        # headers on every call, JWT-only ones and the refresh included). Empty key headers (a
        # key-less SDK client) are no credential at all; half a key is a 401 (`_api_key`).
        if authorization and not operation.opaque_bearer:
            exchange.credential = "user"
            signed = await self._bearer(authorization, ip, operation, exchange)
        elif not authorization and (incoming.api_key or incoming.api_secret):
            exchange.credential = "api_key"
            signed = await self._api_key(incoming, ip, operation, exchange)
        else:
            signed = self._anonymous
            exchange.principal = signed.principal
            limits = self._per_ip(ip, operation, anonymous=True)
            await self._count(Check(limits=limits, now=time.time()), exchange)
        authorize(operation, signed.principal, scope["path"])
        return signed.assertion_from(self.signer)

    def _per_ip(self, ip: str, operation: Operation, *, anonymous: bool = False) -> tuple[Limit, ...]:
        """The client-IP bucket: the "auth" class on public credential routes, else anonymous."""
        if operation.rate == AUTH_RATE:
            found = limit("auth", ip, self.auth_per_minute, MINUTE)
        elif anonymous:
            found = limit("ip", ip, self.anonymous_per_minute, MINUTE)
        else:
            return ()
        return (found,) if found is not None else ()

    async def _bearer(
        self, authorization: str, ip: str, operation: Operation, exchange: Exchange
    ) -> SignedPrincipal:
        """A user's access token or a lead's token: verified, then asked of Redis."""
        token = bearer_token(authorization)
        if token is None:
            raise InvalidToken("Authorization header must be 'Bearer <token>'")
        try:
            entry = await self.verifier.verify(token)
        except KnowrithmError:
            if is_lead_token(token):  # only on refusal: the hot path reads the cached entry
                exchange.credential = "lead"
            raise
        if entry.is_lead:
            exchange.credential = "lead"
        per_ip = self._per_ip(ip, operation, anonymous=entry.is_lead)
        limits = entry.limits + per_ip + _per_caller(operation, entry.signed.principal)
        check = Check(
            deny=entry.deny, valid_after=entry.valid_after, limits=limits,
            now=time.time(),
        )
        answer = await self.guard.check(check)
        if answer.outcome == DENIED:
            raise refusal(entry, answer.denied_by)
        exchange.principal = entry.signed.principal
        _judge(answer, check, exchange)
        return entry.signed

    async def _api_key(
        self, incoming: Incoming, ip: str, operation: Operation, exchange: Exchange
    ) -> SignedPrincipal:
        per_ip = self._per_ip(ip, operation)
        if not incoming.api_key or not incoming.api_secret:
            raise InvalidApiKey("Send both X-API-Key and X-API-Secret")
        key_hash = credential_hash(incoming.api_key)
        secret_hash = credential_hash(incoming.api_secret)

        async def charge_ip() -> None:
            # A key Redis does not know costs the caller's IP one anonymous request before auth
            # is asked, so made-up keys cannot flood auth.
            found = limit("ip", ip, self.anonymous_per_minute, MINUTE)
            await self._count(Check(limits=(found,) if found else (), now=time.time()), exchange)

        for _ in range(3):
            held = self.api_keys.held(key_hash) or await self.api_keys.load(
                key_hash, before_resolve=charge_ip
            )
            now = time.time()
            try:
                held.verify(secret_hash, now)
            except WrongApiSecret:
                await self._wrong_secret(held, exchange)
                raise
            check = Check(
                deny=held.deny, record=(held.cache_key, held.fingerprint),
                limits=held.limits + per_ip + _per_caller(operation, held.signed.principal), now=now,
            )
            answer = await self.guard.check(check)
            if answer.outcome == RECORD_STALE:
                # Revoked or evicted (gone) or rewritten by auth: hold what Redis holds now.
                if answer.record is None:
                    self.api_keys.forget(key_hash)
                else:
                    self.api_keys.adopt(key_hash, answer.record)
                continue
            if answer.outcome == DENIED:
                if answer.denied_by == 0:
                    raise CompanyDisabled()
                exchange.rate_limited = True
                raise await self.api_keys.throttle.locked(held.record.id)
            exchange.principal = held.signed.principal
            _judge(answer, check, exchange)
            return held.signed
        raise ServiceUnavailable("The API key's record keeps changing; try again")

    async def _wrong_secret(self, held: HeldKey, exchange: Exchange) -> None:
        """Count a wrong secret against its key: the 429 once the key is locked."""
        try:
            await self.api_keys.throttle.wrong_secret(held.record.id)
        except ApiKeyLocked:
            exchange.rate_limited = True
            raise

    async def _count(self, check: Check, exchange: Exchange) -> None:
        """Count a request that has nothing to revoke in its buckets."""
        if check.limits:
            _judge(await self.guard.check(check), check, exchange)


def _per_caller(operation: Operation, principal: Principal) -> tuple[Limit, ...]:
    """The operation's own bucket for this user or API key (`per_caller_per_minute`), if it has one."""
    who = principal.api_key_id or principal.user_id
    if not operation.per_caller_per_minute or who is None:
        return ()
    found = limit("operation", f"{operation.method}{operation.template}:{who}",
                  operation.per_caller_per_minute, MINUTE)
    return (found,) if found is not None else ()


def _judge(answer: Answer, check: Check, exchange: Exchange) -> None:
    """The rate-limit headers for the response, or the 429."""
    verdict = judge(check.limits, answer.counts, now=check.now, refused=answer.outcome == REFUSED)
    exchange.rate_headers = verdict.headers
    if verdict.refused is not None:
        exchange.rate_limited = True
        raise verdict.refused


def authorize(operation: Operation, principal: Principal, path: str) -> None:
    """The operation's policy applied to a verified caller: nothing, or the 401/403."""
    if operation.access is Access.PUBLIC:
        return
    if not principal.is_authenticated:
        raise AuthenticationRequired()
    if principal.kind == "lead":
        # A lead passes by the operation's `lead` flag alone: roles and scopes describe users
        # and API keys; what the lead may see there is the service's check (its lead_id).
        if not operation.lead:
            raise LeadNotAllowed()
        return
    if operation.access is Access.USER and principal.kind != "user":
        raise ApiKeyNotAllowed()
    if operation.roles is not None and principal.role not in operation.roles:
        raise InsufficientRole()
    if principal.kind == "api_key":
        resource = operation.resource if operation.declared else resource_of(path)
        if not scopes_grant(principal.scopes, operation.scope, resource=resource):
            raise InsufficientScope(detail={"scope": operation.scope, "resource": resource})
