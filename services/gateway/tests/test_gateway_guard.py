"""The admission script against a real Redis: each request's answer, in one shared call."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from knowrithm_gateway.guard import COUNTED, DENIED, RECORD_STALE, REFUSED, Check, Guard
from knowrithm_gateway.ratelimit import MINUTE, limit


@pytest.fixture
async def guard_redis(stack: Any) -> AsyncIterator[Redis]:
    connection = Redis.from_url(stack.redis_url.rsplit("/", 1)[0] + "/9")
    yield connection
    await connection.aclose()


async def test_concurrent_checks_share_a_call_and_each_gets_its_own_answer(
    guard_redis: Redis,
) -> None:
    tag = uuid.uuid4().hex
    await guard_redis.set(f"{tag}:revoked", "1", ex=60)
    await guard_redis.set(f"{tag}:after", "100.5", ex=60)
    await guard_redis.set(f"{tag}:record", "held", ex=60)
    held = hashlib.sha1(b"held").hexdigest()
    now = time.time()
    full = limit("test", f"{tag}:full", 1, MINUTE)
    assert full is not None
    await guard_redis.set(full.key(now), "1", ex=60)
    cases: list[tuple[Check, tuple[int, Any]]] = [
        (Check(deny=(f"{tag}:none", f"{tag}:revoked")), (DENIED, 1)),
        (Check(deny=(f"{tag}:none",), valid_after=(f"{tag}:after", 50.0)), (DENIED, 1)),
        (Check(deny=(f"{tag}:none",), valid_after=(f"{tag}:after", 200.0)), (COUNTED, [])),
        (Check(record=(f"{tag}:record", held)), (COUNTED, [])),
        (Check(record=(f"{tag}:record", "0" * 40)), (RECORD_STALE, b"held")),
        (Check(record=(f"{tag}:gone", held)), (RECORD_STALE, None)),
        (Check(limits=[full], now=now), (REFUSED, [1])),
    ] * 6
    random.shuffle(cases)
    guard = Guard(guard_redis)
    calls = 0
    call = guard._call

    async def counting(keys: list[str], specs: list[str]) -> list[Any]:
        nonlocal calls
        calls += 1
        return await call(keys, specs)

    guard._call = counting  # type: ignore[method-assign]
    answers = await asyncio.gather(*(guard.check(check) for check, _ in cases))
    assert calls < len(cases)  # the queued checks left together
    for (_, (outcome, expected)), answer in zip(cases, answers, strict=True):
        assert answer.outcome == outcome
        if outcome == DENIED:
            assert answer.denied_by == expected
        elif outcome == RECORD_STALE:
            assert answer.record == expected
        else:
            assert answer.counts == expected


async def test_a_full_bucket_refuses_without_counting_in_the_others(guard_redis: Redis) -> None:
    now = time.time()
    tight = limit("test", uuid.uuid4(), 1, MINUTE)
    loose = limit("test", uuid.uuid4(), 100, MINUTE)
    assert tight is not None and loose is not None
    guard = Guard(guard_redis)
    first = await guard.check(Check(limits=[tight, loose], now=now))
    second = await guard.check(Check(limits=[tight, loose], now=now))
    assert (first.outcome, first.counts) == (COUNTED, [1, 1])
    assert (second.outcome, second.counts) == (REFUSED, [1, 1])
    assert 0 < await guard_redis.ttl(loose.key(now)) <= MINUTE + 1
