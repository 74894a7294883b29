"""The live system configuration: auth's snapshot in Redis, and the watcher every other process runs."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from knowrithm_common.sysconfig import (
    MAX_FILE_SIZE,
    USER_RATE_LIMIT,
    InvalidConfigValue,
    SystemConfigWatcher,
    coerce,
    publish_snapshot,
)
from knowrithm_common.sysconfig.keys import ConfigType


@pytest.fixture
async def redis(stack) -> AsyncIterator[Redis]:
    connection = Redis.from_url(stack.redis_url)
    yield connection
    await connection.aclose()


@pytest.fixture
def key() -> str:
    return f"test:system-config:{uuid.uuid4().hex}"


async def test_watcher_takes_a_published_change_and_tells_its_listeners_once(redis, key):
    watcher = SystemConfigWatcher(redis, key=key)
    seen: list[dict] = []
    watcher.on_change(lambda values: seen.append(dict(values)))
    assert await publish_snapshot(redis, revision=1, values={"rate_limit_user_per_minute": 5}, key=key)
    assert await watcher.refresh() is True
    assert watcher.get(USER_RATE_LIMIT, 600) == 5 and watcher.get(MAX_FILE_SIZE, 123) == 123
    assert await publish_snapshot(redis, revision=2, values={"rate_limit_user_per_minute": 5}, key=key)
    assert await watcher.refresh() is False
    assert seen == [{"rate_limit_user_per_minute": 5}]


async def test_an_older_snapshot_never_replaces_a_newer_one_unless_forced(redis, key):
    assert await publish_snapshot(redis, revision=7, values={"max_file_size": 4096}, key=key)
    assert not await publish_snapshot(redis, revision=6, values={}, key=key)
    watcher = SystemConfigWatcher(redis, key=key)
    await watcher.refresh()
    assert watcher.values == {"max_file_size": 4096}
    assert await publish_snapshot(redis, revision=6, values={}, key=key, force=True)
    await watcher.refresh()
    assert watcher.values == {}  # a present snapshot without the key: back to the default


async def test_a_missing_snapshot_keeps_the_last_values_and_unusable_ones_are_ignored(redis, key):
    watcher = SystemConfigWatcher(redis, key=key)
    await publish_snapshot(redis, revision=1, values={"max_file_size": 4096}, key=key)
    await watcher.refresh()
    await redis.delete(key)  # a flushed Redis: auth republishes soon, meanwhile nothing changes
    assert await watcher.refresh() is False and watcher.values == {"max_file_size": 4096}
    await redis.hset(key, mapping={":revision": "2", "max_file_size": '"huge"', "rate_limit_user_per_minute": "10",
                                   "someone_elses_key": "1"})
    await watcher.refresh()
    assert watcher.values == {"rate_limit_user_per_minute": 10}


async def test_a_running_watcher_applies_a_change_within_its_interval(redis, key):
    watcher = SystemConfigWatcher(redis, key=key, interval=0.1)
    await watcher.start()
    try:
        await publish_snapshot(redis, revision=1, values={"public_signup_enabled": False}, key=key)
        started = time.monotonic()
        while watcher.values.get("public_signup_enabled") is not False:
            assert time.monotonic() - started < 2, "the watcher did not pick the change up"
            await asyncio.sleep(0.02)
    finally:
        await watcher.stop()


async def test_a_watcher_without_redis_keeps_running_on_its_defaults():
    dead = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.2)
    watcher = SystemConfigWatcher(dead, interval=0.05)
    await watcher.start()  # does not raise: the process starts on its env defaults
    await asyncio.sleep(0.15)
    assert watcher.values == {} and watcher.get(USER_RATE_LIMIT, 600) == 600
    await watcher.stop()
    await dead.aclose()


@pytest.mark.parametrize(("value", "config_type", "expected"), [
    ("42", ConfigType.INTEGER, 42), (5.0, ConfigType.INTEGER, 5), ("FALSE", ConfigType.BOOLEAN, False),
    ("2.5", ConfigType.FLOAT, 2.5), ({"a": [1, None]}, ConfigType.JSON, {"a": [1, None]}),
])
def test_values_are_read_as_their_type(value, config_type, expected):
    assert coerce(value, config_type) == expected


@pytest.mark.parametrize(("value", "config_type"), [
    (True, ConfigType.INTEGER), (2.5, ConfigType.INTEGER), ("yes", ConfigType.BOOLEAN), (1, ConfigType.STRING),
    (float("nan"), ConfigType.FLOAT), ("inf", ConfigType.FLOAT), ({"k": "a\x00b"}, ConfigType.JSON),
])
def test_values_of_the_wrong_type_are_refused(value, config_type):
    with pytest.raises(InvalidConfigValue):
        coerce(value, config_type)
