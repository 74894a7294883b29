"""Per-token memory: claims verified once, and the assertion signed once and reused a while.

Holds access tokens and lead tokens alike, each until its own expiry.

Verifying an EdDSA JWT costs ~120 µs and signing an assertion ~40 µs; a client sends the
same token for its whole lifetime, so both run once per token instead of once per request.
Revocation is still checked in Redis on every request, before any cached entry is used.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from knowrithm_common.errors import KnowrithmError
from knowrithm_common.identity import ASSERTION_TTL_SECONDS, AssertionSigner, Principal
from knowrithm_common.leadtokens import LeadTokenClaims
from knowrithm_common.tokens import AccessTokenClaims
from knowrithm_gateway.ratelimit import Limit

# A reused assertion keeps this much validity when it travels: room for clock skew between
# gateway and services and for a request queued a while before the service verifies it.
ASSERTION_MARGIN_SECONDS = 15
ASSERTION_REUSE_SECONDS = max(1, ASSERTION_TTL_SECONDS - ASSERTION_MARGIN_SECONDS)


@dataclass(slots=True)
class SignedPrincipal:
    """A principal and its current assertion, re-signed once it is too old to travel."""

    principal: Principal
    assertion: str = ""
    renew_at: float = 0.0

    def assertion_from(self, signer: AssertionSigner) -> str:
        """The cached assertion, or a fresh one when the cached one is getting old."""
        now = time.monotonic()
        if now >= self.renew_at:
            self.assertion = signer.sign(self.principal)
            self.renew_at = now + ASSERTION_REUSE_SECONDS
        return self.assertion


@dataclass(slots=True)
class VerifiedToken:
    """A verified token and what each of its requests asks Redis (fixed for the token)."""

    claims: AccessTokenClaims | LeadTokenClaims
    signed: SignedPrincipal
    deny: tuple[str, ...]  # keys whose presence refuses the token
    refusals: tuple[Callable[[], KnowrithmError], ...]  # per deny key, then for valid-after
    valid_after: tuple[str, float] | None  # None for lead tokens: there is no forced sign-out
    limits: tuple[Limit, ...]

    @property
    def is_lead(self) -> bool:
        return self.signed.principal.kind == "lead"


class VerifiedTokens:
    """Tokens whose signature and claims checked out, kept until they expire."""

    def __init__(self, *, leeway_seconds: int, max_entries: int = 10_000) -> None:
        self._entries: dict[str, VerifiedToken] = {}
        self._leeway = leeway_seconds
        self._max = max_entries
        self._generation = 0

    def get(self, token: str, *, generation: int) -> VerifiedToken | None:
        """The entry of a still-valid token, else None."""
        if generation != self._generation:
            # The key set changed (rotation, a removed key): verify everything afresh.
            self._entries.clear()
            self._generation = generation
            return None
        entry = self._entries.get(token)
        if entry is not None and entry.claims.exp + self._leeway <= time.time():
            del self._entries[token]
            return None
        return entry

    def clear(self) -> None:
        """Forget every token (each is verified again on its next request)."""
        self._entries.clear()

    def put(self, token: str, entry: VerifiedToken) -> None:
        """Remember a verified token."""
        if len(self._entries) >= self._max:
            # Wholesale reset keeps this O(1) and lock-free; the cost is one re-verify each.
            self._entries.clear()
        self._entries[token] = entry
