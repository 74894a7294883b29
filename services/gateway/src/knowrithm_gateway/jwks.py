"""Auth's public keys (JWKS), fetched on demand and cached by key id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

import aiohttp
import jwt

from knowrithm_common.errors import ServiceUnavailable

logger = logging.getLogger(__name__)


class JwksCache:
    """Auth's public keys by kid; an unknown kid refetches, at most once per interval.

    Keys also go stale after `max_age_seconds`, so a key auth withdrew stops verifying.
    """

    def __init__(
        self, *, session: aiohttp.ClientSession, url: str, min_refresh_seconds: float,
        max_age_seconds: float,
    ) -> None:
        self._session = session
        self._url = url
        self._min_refresh = min_refresh_seconds
        self._max_age = max_age_seconds
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self.generation = 0  # bumped whenever the key set changes

    async def keys_for(self, kid: str | None) -> list[Any]:
        """Key objects that may have signed a token with this kid (all keys if it has none)."""
        keys = self._lookup(kid)
        if not keys or time.monotonic() - self._fetched_at > self._max_age:
            await self._refresh()
            keys = self._lookup(kid)
        return keys

    def _lookup(self, kid: str | None) -> list[Any]:
        if kid is None:
            return list(self._keys.values())
        key = self._keys.get(kid)
        return [key] if key is not None else []

    async def _refresh(self) -> None:
        async with self._lock:
            # Concurrent misses wait for one fetch; a flood of bogus kids costs one per interval.
            if time.monotonic() - self._fetched_at >= self._min_refresh:
                self._fetched_at = time.monotonic()
                await self._fetch()
            if not self._keys:
                # Without any key we cannot tell a good token from a bad one: that is an
                # outage, not the caller's fault, so no 401 that would log them out.
                raise ServiceUnavailable("Cannot verify access tokens right now")

    async def _fetch(self) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=5)
            async with self._session.get(self._url, timeout=timeout) as resp:
                resp.raise_for_status()
                document = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            logger.warning("fetching JWKS from %s failed: %r", self._url, exc)
            return
        keys = _parse_jwks(document)
        if keys.keys() != self._keys.keys():
            self.generation += 1
        self._keys = keys


def _parse_jwks(document: Mapping[str, Any]) -> dict[str, Any]:
    keys: dict[str, Any] = {}
    for index, jwk in enumerate(document.get("keys", [])):
        try:
            keys[jwk.get("kid") or f"#{index}"] = jwt.PyJWK(jwk).key
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            logger.warning("skipping unusable JWK %s: %r", jwk.get("kid"), exc)
    return keys
