"""The console's calls to the public API: through the gateway, with the signed-in user's token.

Each call carries the browser's address as `X-Forwarded-For` (the gateway trusts the console
as a proxy, so rate limits and audit records name the person, not the console) and the
browser's User-Agent (auth records it with each sign-in session).

Silent refresh is single-flight per session: a request finding its access token stale (or
refused with 401) takes the session's lock in Redis; one request rotates the refresh token,
the others wait for the lock and pick up the new pair from the session. Rotating twice would
present a used refresh token, which auth treats as a leak and answers by revoking the whole
sign-in session: the very sign-out two tabs must not cause.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from knowrithm_console.sessions import Session, SessionStore, Tokens, new_secret

logger = logging.getLogger(__name__)

REFRESH_PATH = "/api/v1/auth/refresh"
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Client:
    """Who is at the browser: their address (as the gateway decided it) and user agent."""

    ip: str
    user_agent: str


class ApiError(Exception):
    """The API answered with an error (its shared shape: code, message, detail)."""

    def __init__(self, status: int, code: str, message: str, detail: Any = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail

    def field_errors(self) -> dict[str, str]:
        """Validation messages by the body field they name (`loc` ["body", "<field>", ...])."""
        found: dict[str, str] = {}
        if isinstance(self.detail, list):
            for item in self.detail:
                loc = item.get("loc") if isinstance(item, dict) else None
                if isinstance(loc, list) and len(loc) >= 2 and loc[0] == "body":
                    found.setdefault(str(loc[1]), str(item.get("msg", "")))
        return found


class ApiUnavailable(Exception):
    """The gateway could not be reached or did not answer in time."""


class ImpersonationEnded(Exception):
    """The impersonation token ran out or was refused: it is never refreshed; the super admin's
    own session takes over again."""


class SessionEnded(Exception):
    """The session's tokens stopped working (refresh refused, revoked, or signed out elsewhere)."""


def _error(resp: httpx.Response) -> ApiError:
    try:
        body = resp.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    return ApiError(
        resp.status_code, str(body.get("error") or "error"),
        str(body.get("message") or resp.reason_phrase), body.get("detail"),
    )


class Api:
    """The public API as the console uses it."""

    def __init__(
        self, http: httpx.AsyncClient, store: SessionStore, redis: Redis, *,
        leeway: float, lock_seconds: float,
    ) -> None:
        self.http = http
        self.store = store
        self.redis = redis
        self.leeway = leeway
        self.lock_seconds = lock_seconds
        self._release = redis.register_script(_RELEASE)

    async def _send(
        self, method: str, path: str, *, client: Client, token: str | None = None,
        json: Any = None, params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        headers = {"X-Forwarded-For": client.ip, "Accept": "application/json"}
        if client.user_agent:
            headers["User-Agent"] = client.user_agent
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            return await self.http.request(method, path, headers=headers, json=json, params=params)
        except httpx.HTTPError as exc:
            logger.warning("API call %s %s failed: %r", method, path, exc)
            raise ApiUnavailable(str(exc)) from exc

    async def public(self, method: str, path: str, *, client: Client, json: Any = None) -> dict[str, Any]:
        """A call without credentials (sign-in, password reset, e-mail verification)."""
        resp = await self._send(method, path, client=client, json=json)
        return _result(resp)

    async def call(
        self, session: Session, method: str, path: str, *, client: Client, json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A call as the session's user: refreshed first when stale, once more after a 401."""
        tokens = await self._usable(session, client)
        resp = await self._send(
            method, path, client=client, token=tokens.access_token, json=json, params=params
        )
        if resp.status_code == 401 and session.impersonation is not None:
            raise ImpersonationEnded()
        if resp.status_code == 401:
            tokens = await self.refresh(session, stale=tokens.access_token, client=client)
            resp = await self._send(
                method, path, client=client, token=tokens.access_token, json=json, params=params
            )
            if resp.status_code == 401:
                await self.store.delete(session)
                raise SessionEnded()
        return _result(resp)

    async def stream(
        self, session: Session, path: str, *, client: Client, params: dict[str, Any] | None = None,
        read_timeout: float = 120.0,
    ) -> AsyncIterator[bytes]:
        """A server-sent event stream as the session's user, passed on byte for byte.

        The token is refreshed first when stale (a stream cannot be retried after a 401 once it
        has begun). An error answer raises before the first byte, like `call`.
        """
        tokens = await self._usable(session, client)
        headers = {"X-Forwarded-For": client.ip, "Accept": "text/event-stream",
                   "Authorization": f"Bearer {tokens.access_token}"}
        if client.user_agent:
            headers["User-Agent"] = client.user_agent
        request = self.http.build_request("GET", path, headers=headers, params=params,
                                          timeout=httpx.Timeout(10.0, read=read_timeout))
        try:
            resp = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("API stream %s failed: %r", path, exc)
            raise ApiUnavailable(str(exc)) from exc
        if resp.status_code >= 400:
            await resp.aread()
            await resp.aclose()
            _result(resp)
        return _passed_on(resp)

    async def _usable(self, session: Session, client: Client) -> Tokens:
        """The session's tokens, refreshed first when stale; an impersonation's are never refreshed."""
        tokens = session.tokens
        if tokens is None:
            raise SessionEnded()
        if session.impersonation is not None:
            if session.impersonation_over:
                raise ImpersonationEnded()
            return tokens
        if tokens.stale(self.leeway):
            tokens = await self.refresh(session, stale=tokens.access_token, client=client)
        return tokens
    async def open(
        self, session: Session, method: str, path: str, *, client: Client, json: Any = None,
    ) -> httpx.Response:
        """An answer whose body is not (only) JSON, opened as a stream for the caller to pass on or
        read (and close): a file download, or an answer that is a file or a JSON task. Refreshed
        first when stale, once more after a 401; an error answer raises before the body, like `call`."""
        tokens = await self._usable(session, client)
        resp = await self._open(method, path, client=client, token=tokens.access_token, json=json)
        if resp.status_code == 401:
            await resp.aclose()
            if session.impersonation is not None:
                raise ImpersonationEnded()
            tokens = await self.refresh(session, stale=tokens.access_token, client=client)
            resp = await self._open(method, path, client=client, token=tokens.access_token, json=json)
            if resp.status_code == 401:
                await resp.aclose()
                await self.store.delete(session)
                raise SessionEnded()
        if resp.status_code >= 400:
            await resp.aread()
            await resp.aclose()
            _result(resp)
        return resp

    async def _open(self, method: str, path: str, *, client: Client, token: str, json: Any) -> httpx.Response:
        headers = {"X-Forwarded-For": client.ip, "Authorization": f"Bearer {token}"}
        if client.user_agent:
            headers["User-Agent"] = client.user_agent
        request = self.http.build_request(method, path, headers=headers, json=json)
        try:
            return await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            logger.warning("API call %s %s failed: %r", method, path, exc)
            raise ApiUnavailable(str(exc)) from exc

    async def refresh(self, session: Session, *, stale: str, client: Client) -> Tokens:
        """New tokens for `session`, rotated by exactly one request of the session at a time."""
        lock = "console:refresh-lock:" + hashlib.sha256(session.id.encode()).hexdigest()
        mine = new_secret()
        deadline = time.monotonic() + self.lock_seconds
        while True:
            current = await self._current(session, stale)
            if current is not None:
                return current
            if await self.redis.set(lock, mine, nx=True, px=int(self.lock_seconds * 1000)):
                try:
                    # The holder before us may have finished between our read and our lock.
                    return await self._current(session, stale) or await self._rotate(session, client)
                finally:
                    await self._release(keys=[lock], args=[mine])
            if time.monotonic() > deadline:
                raise ApiUnavailable("the session's token refresh did not finish in time")
            await asyncio.sleep(0.05)

    async def _current(self, session: Session, stale: str) -> Tokens | None:
        """The session's tokens if someone already replaced `stale`; SessionEnded if it is gone."""
        stored = await self.store.reload(session)
        if stored is None or stored.tokens is None:
            raise SessionEnded()
        if stored.tokens.access_token != stale:
            session.tokens = stored.tokens
            return stored.tokens
        return None

    async def _rotate(self, session: Session, client: Client) -> Tokens:
        stored = await self.store.reload(session)
        if stored is None or stored.tokens is None or not stored.tokens.refresh_token:
            raise SessionEnded()
        resp = await self._send(
            "POST", REFRESH_PATH, client=client, json={"refresh_token": stored.tokens.refresh_token}
        )
        if resp.status_code in (400, 401, 403, 422):
            await self.store.delete(session)
            raise SessionEnded()
        body = _result(resp)
        stored.tokens = tokens_of(body)
        await self.store.save(stored)
        session.tokens = stored.tokens
        return stored.tokens


def tokens_of(body: dict[str, Any]) -> Tokens:
    """The token pair of a sign-in or refresh answer."""
    return Tokens(
        access_token=str(body["access_token"]),
        refresh_token=body.get("refresh_token"),
        expires_at=time.time() + float(body.get("expires_in", 0)),
    )


def _result(resp: httpx.Response) -> dict[str, Any]:
    if resp.status_code >= 500 and resp.status_code != 501:
        err = _error(resp)
        if resp.status_code in (502, 503, 504):
            raise ApiUnavailable(err.message)
        raise err
    if resp.status_code >= 400:
        raise _error(resp)
    try:
        body = resp.json()
    except ValueError as exc:
        raise ApiUnavailable("the API answered something that is not JSON") from exc
    return body if isinstance(body, dict) else {"items": body}


async def _passed_on(resp: httpx.Response) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:  # the API went away mid-stream: the browser sees the end
        logger.warning("API stream cut short: %r", exc)
    finally:
        await resp.aclose()
