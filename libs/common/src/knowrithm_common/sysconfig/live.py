"""The known keys' current values in Redis: auth publishes them, every other process watches them.

One hash (`SNAPSHOT_KEY`) holds the whole current configuration of the known keys, each value
as JSON, plus `REVISION_FIELD`. Auth replaces it after every change, at start and every few
seconds (so a flushed Redis heals), never with an older revision than the one there unless
forced. A process that honours a key runs a `SystemConfigWatcher`: it reads the hash about
once a second into memory, so a request pays a dict lookup, never a Redis round trip.

A missing hash (Redis flushed, auth not started yet) changes nothing: the watcher keeps what
it has. A present hash is the truth: a key absent from it falls back to the env default.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from knowrithm_common.sysconfig.keys import KNOWN_KEYS, InvalidConfigValue, KnownKey

logger = logging.getLogger(__name__)

SNAPSHOT_KEY = "auth:system-config"
REVISION_FIELD = ":revision"  # no config key starts with ':'

# KEYS[1] the hash; ARGV: force ("1"/"0"), revision, then field, value, field, value, ...
_PUBLISH = """
local current = tonumber(redis.call('HGET', KEYS[1], ':revision'))
if ARGV[1] ~= '1' and current and current >= tonumber(ARGV[2]) then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], ':revision', ARGV[2], unpack(ARGV, 3))
return 1
"""

T = TypeVar("T")
Listener = Callable[[Mapping[str, Any]], None]


async def publish_snapshot(
    redis: Redis, *, revision: int, values: Mapping[str, Any], force: bool = False, key: str = SNAPSHOT_KEY
) -> bool:
    """Replace the snapshot with `values` at `revision`; False if Redis holds a newer one (unless forced)."""
    fields = [item for name, value in sorted(values.items()) for item in (name, json.dumps(value))]
    done = await redis.eval(_PUBLISH, 1, key, "1" if force else "0", str(revision), *fields)
    return bool(done)


def parse_snapshot(raw: Mapping[bytes | str, bytes | str]) -> tuple[int, dict[str, Any]]:
    """The revision and the known keys' values of a snapshot; an unreadable value is left out."""
    fields = {_text(k): _text(v) for k, v in raw.items()}
    revision_text = fields.pop(REVISION_FIELD, "0")
    revision = int(revision_text) if revision_text.isdigit() else 0
    values: dict[str, Any] = {}
    for name, text in fields.items():
        known = KNOWN_KEYS.get(name)
        if known is None:
            continue
        try:
            values[name] = known.check(json.loads(text))
        except (ValueError, InvalidConfigValue) as exc:
            logger.error("system config %s in Redis is unusable (%s); keeping the default", name, exc)
    return revision, values


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class SystemConfigWatcher:
    """The known keys' values as last read from Redis, refreshed every `interval` seconds."""

    def __init__(self, redis: Redis, *, interval: float = 1.0, key: str = SNAPSHOT_KEY) -> None:
        self._redis = redis
        self._interval = interval
        self._key = key
        self._values: dict[str, Any] = {}
        self._listeners: list[Listener] = []
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def values(self) -> Mapping[str, Any]:
        """The overrides in force: known key name -> value (absent: the env default applies)."""
        return self._values

    def get(self, key: KnownKey, default: T) -> T:
        """The override of `key`, else `default` (the process's own setting)."""
        value: T = self._values.get(key.name, default)
        return value

    def on_change(self, listener: Listener) -> None:
        """Call `listener(values)` whenever the overrides change (on this loop, between requests)."""
        self._listeners.append(listener)

    async def refresh(self) -> bool:
        """Read the snapshot once; True when the overrides changed. Raises RedisError/OSError."""
        raw = await self._redis.hgetall(self._key)
        if not raw:
            return False  # flushed or never published: keep what we have until auth republishes
        # Compared by value, not revision: a forced publish (auth's start) may reuse a revision.
        revision, values = parse_snapshot(raw)
        if values == self._values:
            return False
        self._values = values
        logger.info("system configuration overrides now %s (revision %d)", values, revision)
        for listener in self._listeners:
            listener(values)
        return True

    async def start(self) -> None:
        """Read once (so a starting process begins with the overrides), then keep refreshing."""
        await self._refresh_quietly()
        self._task = asyncio.create_task(self._loop(), name="system-config-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self._refresh_quietly()

    async def _refresh_quietly(self) -> None:
        try:
            await self.refresh()
        except (RedisError, OSError) as exc:
            if not self._failing:  # once per outage, not once a second
                logger.warning("cannot read the system configuration from Redis (%r); keeping the last", exc)
            self._failing = True
        except Exception:
            # A watcher that stopped would freeze the configuration silently: log and go on.
            logger.exception("refreshing the system configuration failed")
        else:
            self._failing = False
