"""API keys (`X-API-Key` + `X-API-Secret`): records resolved by auth, cached in Redis.

The gateway knows a key by the SHA-256 of the key. Its record (an `ApiKeyRecord`) lives in
Redis under `API_KEY_CACHE_KEY` for `api_key_cache_seconds`; on a miss auth resolves it.
This process also keeps the parsed record, but only as a parse cache: every request's
admission script confirms the Redis entry is still there and unchanged (by SHA-1), so a
revocation (auth deletes the entry) takes effect on the very next request.

Wrong secrets are throttled per key like failed logins: `SecretThrottle` counts them in
Redis (the refusal's own round trip), and after `api_key_max_failed_secrets` within the
window it locks the key id for `api_key_lockout_minutes`. The lock is one more deny key the
admission script already checks, so a right secret costs no extra round trip.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.exceptions import RedisError

from knowrithm_common.errors import RateLimited, ServiceUnavailable, Unauthorized
from knowrithm_common.identity import ASSERTION_HEADER, AssertionSigner, Principal, Role
from knowrithm_common.tokens import API_KEY_CACHE_KEY, COMPANY_DISABLED_KEY, ApiKeyRecord
from knowrithm_gateway.metrics import RATE_LIMITED
from knowrithm_gateway.overrides import LiveLimits
from knowrithm_gateway.ratelimit import DAY, HOUR, MINUTE, Limit, limit
from knowrithm_gateway.token_cache import SignedPrincipal

logger = logging.getLogger(__name__)


class InvalidApiKey(Unauthorized):
    code, message = "invalid_api_key", "Invalid API key or secret"


class WrongApiSecret(InvalidApiKey):
    """The key is known but the secret is not its own (counted by SecretThrottle)."""


class ApiKeyExpired(Unauthorized):
    code, message = "api_key_expired", "API key has expired"


class ApiKeyLocked(RateLimited):
    code = "api_key_locked"
    message = "Too many wrong secrets for this API key; it is locked for a while"


API_KEY_FAILURES_KEY = "gw:api-key-failures:{key_id}"
API_KEY_LOCKED_KEY = "gw:api-key-locked:{key_id}"

# KEYS: failures, lock; ARGV: failures allowed, lockout ms. Answers the lock's remaining ms
# (0 while the key is not locked): a locked key counts nothing more, the last failure allowed
# locks it at once, as a login's lock-out does.
_COUNT_FAILURE = """
local left = redis.call('PTTL', KEYS[2])
if left > 0 then return left end
local failures = redis.call('INCR', KEYS[1])
if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if failures >= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[2], '1', 'PX', ARGV[2])
  redis.call('DEL', KEYS[1])
  return tonumber(ARGV[2])
end
return 0
"""


class SecretThrottle:
    """Counts a key's wrong secrets and locks the key id after too many within the window."""

    def __init__(self, redis: Redis, *, max_failures: int, lockout_seconds: float) -> None:
        self._redis = redis
        self._max = max_failures
        self._lockout_ms = max(1, int(lockout_seconds * 1000))
        self._script = redis.register_script(_COUNT_FAILURE)

    def deny_keys(self, key_id: object) -> tuple[str, ...]:
        """The lock as a deny key of the admission script (none when throttling is off)."""
        return (API_KEY_LOCKED_KEY.format(key_id=key_id),) if self._max > 0 else ()

    async def wrong_secret(self, key_id: object) -> None:
        """Count one wrong secret: the 429 once the key is locked, else nothing."""
        if self._max <= 0:
            return
        keys = (API_KEY_FAILURES_KEY.format(key_id=key_id), API_KEY_LOCKED_KEY.format(key_id=key_id))
        try:
            left = int(await self._script(keys=keys, args=(self._max, self._lockout_ms)))
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Cannot check API keys right now") from exc
        if left > 0:
            raise self._locked(left)

    async def locked(self, key_id: object) -> ApiKeyLocked:
        """The 429 for a key the admission script found locked."""
        try:
            left = int(await self._redis.pttl(API_KEY_LOCKED_KEY.format(key_id=key_id)))
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Cannot check API keys right now") from exc
        return self._locked(left if left > 0 else 1000)

    def _locked(self, left_ms: int) -> ApiKeyLocked:
        RATE_LIMITED.labels("api_key_secret").inc()
        return ApiKeyLocked(
            retry_after=max(1, -(-left_ms // 1000)),
            detail={"max_failed_secrets": self._max, "lockout_seconds": self._lockout_ms // 1000},
        )


@dataclass(slots=True)
class HeldKey:
    """A key's record as this process holds it, with what each request of the key needs."""

    record: ApiKeyRecord
    cache_key: str
    fingerprint: str  # SHA-1 of the Redis value, compared by the admission script
    signed: SignedPrincipal
    deny: tuple[str, ...]
    limits: tuple[Limit, ...]

    def verify(self, secret_hash: str, now: float) -> None:
        """The secret matches and the key has not expired, or the 401 that says which."""
        if not hmac.compare_digest(secret_hash, self.record.secret_hash):
            raise WrongApiSecret()
        if self.record.expires_at is not None and self.record.expires_at <= now:
            raise ApiKeyExpired()


class ApiKeys:
    """Finds a key's record: in this process, else in Redis, else by asking auth."""

    def __init__(
        self, *, redis: Redis, session: aiohttp.ClientSession, resolve_url: str,
        signer: AssertionSigner, cache_seconds: int, timeout_seconds: float,
        limits: LiveLimits, throttle: SecretThrottle, max_entries: int = 10_000,
    ) -> None:
        self._redis = redis
        self._session = session
        self._url = resolve_url
        self._signer = signer
        self._service = SignedPrincipal(Principal.service())
        self._ttl = cache_seconds
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._limits = limits  # the company bucket's size: the setting's, or a configuration entry's
        self.throttle = throttle
        self._held: dict[str, HeldKey] = {}
        self._max = max_entries
        self._resolving: dict[str, asyncio.Future[HeldKey]] = {}
        self._revoked_while_resolving: set[str] = set()

    def held(self, key_hash: str) -> HeldKey | None:
        return self._held.get(key_hash)

    def forget(self, key_hash: str) -> None:
        self._held.pop(key_hash, None)

    def forget_all(self) -> None:
        """Drop every held record: their buckets are rebuilt with the limits now in force."""
        self._held.clear()

    def adopt(self, key_hash: str, raw: bytes) -> HeldKey:
        """Hold the record Redis has for this key (as the admission script compares it)."""
        try:
            record = ApiKeyRecord.model_validate_json(raw)
            role = Role(record.role)
        except (ValidationError, ValueError) as exc:
            self.forget(key_hash)
            logger.error("unusable API key record for %s…: %r", key_hash[:12], exc)
            raise InvalidApiKey() from exc
        principal = Principal(
            kind="api_key", company_id=record.company_id, user_id=record.user_id, role=role,
            scopes=record.scopes, api_key_id=record.id,
        )
        limits = (
            limit("api_key_hour", record.id, record.rate_limit_per_hour, HOUR),
            limit("api_key_day", record.id, record.rate_limit_per_day, DAY),
            limit("company", record.company_id, self._limits.company_per_minute, MINUTE),
        )
        entry = HeldKey(
            record=record, cache_key=API_KEY_CACHE_KEY.format(key_hash=key_hash),
            fingerprint=hashlib.sha1(raw).hexdigest(),  # noqa: S324 - matches Redis's sha1hex
            signed=SignedPrincipal(principal),
            deny=(
                COMPANY_DISABLED_KEY.format(company_id=record.company_id),
                *self.throttle.deny_keys(record.id),
            ),
            limits=tuple(lim for lim in limits if lim is not None),
        )
        if len(self._held) >= self._max:
            self._held.clear()  # O(1) and lock-free; the cost is one Redis read per key
        self._held[key_hash] = entry
        return entry

    async def load(self, key_hash: str, *, before_resolve: Callable[[], Awaitable[None]]) -> HeldKey:
        """The record from Redis, or from auth (then cached in Redis); 401 if auth has none."""
        cache_key = API_KEY_CACHE_KEY.format(key_hash=key_hash)
        try:
            raw = await self._redis.get(cache_key)
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Cannot check API keys right now") from exc
        if raw is not None:
            return self.adopt(key_hash, raw.encode() if isinstance(raw, str) else raw)
        await before_resolve()
        # A concurrent request may have resolved the key meanwhile.
        return self._held.get(key_hash) or await self._resolve_once(key_hash)

    async def _resolve_once(self, key_hash: str) -> HeldKey:
        # Concurrent first requests of one key make one call to auth. The record is held
        # before the call is forgotten, so a later request finds one or the other.
        pending = self._resolving.get(key_hash)
        if pending is None:
            pending = asyncio.ensure_future(self._resolve_and_hold(key_hash))
            self._resolving[key_hash] = pending
            pending.add_done_callback(lambda done: self._resolved(key_hash, done))
        return await asyncio.shield(pending)

    async def _resolve_and_hold(self, key_hash: str) -> HeldKey:
        return self.adopt(key_hash, await self._resolve(key_hash))

    def _resolved(self, key_hash: str, done: asyncio.Future[HeldKey]) -> None:
        self._resolving.pop(key_hash, None)
        self._revoked_while_resolving.discard(key_hash)
        if not done.cancelled():
            done.exception()  # retrieved here even when every waiter was cancelled

    async def _resolve(self, key_hash: str) -> bytes:
        # Content-Type explicitly: the shared session adds no headers of its own (runtime.py).
        headers = {
            ASSERTION_HEADER: self._service.assertion_from(self._signer),
            "Content-Type": "application/json",
        }
        body = json.dumps({"key_hash": key_hash}).encode()
        try:
            async with self._session.post(
                self._url, data=body, headers=headers, timeout=self._timeout
            ) as resp:
                answer = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ServiceUnavailable("Cannot check API keys right now") from exc
        if status == 404:
            raise InvalidApiKey()  # unknown or revoked
        try:
            if status != 200:
                raise ValueError(f"auth answered {status}")
            raw = ApiKeyRecord.model_validate_json(answer).model_dump_json().encode()
        except (ValidationError, ValueError) as exc:
            logger.error("resolving an API key failed: %r", exc)
            raise ServiceUnavailable("Cannot check API keys right now") from exc
        cache_key = API_KEY_CACHE_KEY.format(key_hash=key_hash)
        try:
            await self._redis.set(cache_key, raw, ex=self._ttl)
            if key_hash in self._revoked_while_resolving:
                # Auth answered before the revocation committed: undo what we just cached.
                await self._redis.delete(cache_key)
                raise InvalidApiKey()
        except (RedisError, OSError) as exc:
            raise ServiceUnavailable("Cannot check API keys right now") from exc
        return raw

    async def evict(self, key_hash: str, *, attempts: int = 5) -> None:
        """Drop a revoked key from this process and from Redis."""
        self.forget(key_hash)
        if key_hash in self._resolving:
            self._revoked_while_resolving.add(key_hash)
        for attempt in range(attempts):
            try:
                await self._redis.delete(API_KEY_CACHE_KEY.format(key_hash=key_hash))
                return
            except (RedisError, OSError) as exc:
                logger.warning("evicting a revoked API key failed (%r); retrying", exc)
                await asyncio.sleep(min(2**attempt, 10))
        logger.error("could not evict revoked API key %s… from Redis", key_hash[:12])

