"""Everything a request asks Redis, in one script: one round trip, one command per batch.

The admission script checks, in order: deny-list keys (a revoked jti or sign-in session, a
disabled company), a user's forced sign-out instant, that the API key's cached record is
still the one the gateway holds, and then counts the request in its rate-limit buckets (all
or none). Concurrent requests share a round trip and a command: while one call is in
flight, the next ones queue and leave together as one EVALSHA carrying all of them when it
returns (per-command client overhead, not Redis, is what costs at load).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from knowrithm_common.errors import ServiceUnavailable
from knowrithm_gateway.ratelimit import Limit

# One call judges many requests. ARGV[i] describes request i as
# "<deny-key count>;<token iat or ''>;<record fingerprint or ''>;<limit>;<ttl>;<limit>;<ttl>..."
# and its keys follow the previous request's in KEYS: its deny keys, then the valid-after key
# (when an iat is given), the API-key cache key (when a fingerprint is given), one per bucket.
# Each request's answer is one string (cheaper to parse than nested arrays): "0,<i>" denied by
# its i-th key; "2" record gone; "2,<record>" record changed; otherwise "1,<counts>..." counted,
# or "3,<counts>..." refused by a full bucket (and counted nowhere).
SCRIPT = """
local function split(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, ';', start, true)
    if not i then out[#out + 1] = string.sub(s, start) return out end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

local function judge(spec, base)
  local deny = tonumber(spec[1])
  local k = base
  for i = 1, deny do
    if redis.call('EXISTS', KEYS[k + i]) == 1 then return '0,' .. i end
  end
  k = k + deny
  if spec[2] ~= '' then
    k = k + 1
    local after = redis.call('GET', KEYS[k])
    if after and tonumber(spec[2]) < (tonumber(after) or math.huge) then return '0,' .. (deny + 1) end
  end
  if spec[3] ~= '' then
    k = k + 1
    local record = redis.call('GET', KEYS[k])
    if not record then return '2' end
    if redis.sha1hex(record) ~= spec[3] then return '2,' .. record end
  end
  local n = (#spec - 3) / 2
  local counts, full = {}, false
  for j = 1, n do
    local key = KEYS[k + j]
    local used = redis.call('INCR', key)
    if used == 1 then redis.call('EXPIRE', key, spec[3 + 2 * j]) end
    if used > tonumber(spec[2 + 2 * j]) then full = true end
    counts[j] = used
  end
  if full then
    for j = 1, n do counts[j] = redis.call('DECR', KEYS[k + j]) end
    return table.concat({3, unpack(counts)}, ',')
  end
  return table.concat({1, unpack(counts)}, ',')
end

local answers, base = {}, 0
for r = 1, #ARGV do
  local spec = split(ARGV[r])
  local n = (#spec - 3) / 2
  local used = tonumber(spec[1]) + n + (spec[2] ~= '' and 1 or 0) + (spec[3] ~= '' and 1 or 0)
  answers[r] = judge(spec, base)
  base = base + used
end
return answers
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1
MAX_BATCH = 256  # requests per call, so one call never holds Redis long

DENIED, COUNTED, RECORD_STALE, REFUSED = 0, 1, 2, 3


@dataclass(slots=True)
class Check:
    """What one request asks: keys that refuse it, and the buckets to count it in."""

    deny: Sequence[str] = ()
    valid_after: tuple[str, float] | None = None  # (key, the token's iat)
    record: tuple[str, str] | None = None  # (API-key cache key, fingerprint of the held record)
    limits: Sequence[Limit] = ()
    now: float = 0.0

    def encode(self) -> tuple[list[str], str]:
        """This request's keys and its ARGV entry."""
        keys = list(self.deny)
        spec = [str(len(self.deny)), "", ""]
        if self.valid_after is not None:
            keys.append(self.valid_after[0])
            spec[1] = repr(self.valid_after[1])
        if self.record is not None:
            keys.append(self.record[0])
            spec[2] = self.record[1]
        now = self.now
        for lim in self.limits:
            keys.append(lim.key(now))
            spec.append(str(lim.max_requests))
            spec.append(str(lim.ttl(now)))
        return keys, ";".join(spec)


@dataclass(frozen=True, slots=True)
class Answer:
    outcome: int
    denied_by: int = -1  # index into the check's deny keys, or len(deny) for valid-after
    record: bytes | None = None
    counts: list[int] = field(default_factory=list)


def _answer(raw: bytes) -> Answer:
    outcome = raw[0] - 48  # the ASCII digit
    if outcome == RECORD_STALE:
        return Answer(outcome, record=raw[2:] or None)
    values = raw.split(b",")
    if outcome == DENIED:
        return Answer(outcome, denied_by=int(values[1]) - 1)
    return Answer(outcome, counts=[int(v) for v in values[1:]])


Pending = tuple[list[str], str, "asyncio.Future[Any]"]


class Guard:
    """Runs checks against Redis; fails closed (503) when Redis cannot answer."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._queue: list[Pending] = []
        self._busy = False
        self._sending: asyncio.Future[None] | None = None  # held so the task is not collected

    async def check(self, check: Check) -> Answer:
        """The script's answer for this request."""
        keys, spec = check.encode()
        try:
            if not self._busy:
                self._busy = True
                try:
                    answers = await self._call(keys, [spec])
                finally:
                    self._busy = False
                    self._send_queued()
                return _answer(answers[0])
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._queue.append((keys, spec, future))
            return _answer(await future)
        except (RedisError, OSError) as exc:
            # Without Redis neither revocation nor rate limits can be checked: refuse.
            raise ServiceUnavailable("Cannot check credentials and rate limits right now") from exc

    async def _call(self, keys: list[str], specs: list[str]) -> list[Any]:
        try:
            return await self._redis.evalsha(SCRIPT_SHA, len(keys), *keys, *specs)
        except NoScriptError:
            await self._redis.script_load(SCRIPT)  # a restarted Redis forgot it
            return await self._redis.evalsha(SCRIPT_SHA, len(keys), *keys, *specs)

    def _send_queued(self) -> None:
        if self._queue and not self._busy:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            self._busy = True
            self._sending = asyncio.ensure_future(self._send(batch))

    async def _send(self, batch: list[Pending]) -> None:
        keys = [key for request_keys, _, _ in batch for key in request_keys]
        try:
            answers = await self._call(keys, [spec for _, spec, _ in batch])
        except BaseException as exc:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for (_, _, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # its request may have been cancelled meanwhile
                    future.set_result(answer)
        finally:
            self._busy = False
            self._send_queued()
