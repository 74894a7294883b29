"""Text a service cannot store is refused at the door: NUL characters (422) and non-UTF-8 bodies (400).

PostgreSQL refuses a NUL character in any text value, and a lone UTF-16 surrogate cannot
be encoded at all; either used to end in a 500 deep inside a service. `InputGuardMiddleware`
answers them for every route before any handler runs: a NUL (or lone surrogate) in a query
parameter, a path parameter, a JSON string (value or key) or a urlencoded form field is a 422
naming the field (`detail` entries with `loc`, as FastAPI's validation errors), and a JSON,
form or text body that is not UTF-8 is a 400 `invalid_encoding`. Multipart bodies stream
(uploads are large and hold binary files), so their fields are checked where a service
parses them: `read_form`.

It stays cheap: a body is only decoded and walked when its raw bytes hold the escape
(`\\u0000` or a `\\uD800`-`\\uDFFF` escape in JSON, `%00` in a form), a query or a path only
when it holds `%00`. (Percent-encoded bytes that are not UTF-8 are no danger there: Starlette
decodes URLs and forms with replacement characters.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import Message, Receive, Scope, Send

from knowrithm_common.context import HttpMiddleware
from knowrithm_common.errors import InvalidEncoding, KnowrithmError, ValidationFailed, error_response

NUL_MESSAGE = "NUL characters (\\u0000) are not allowed"
SURROGATE_MESSAGE = "unpaired UTF-16 surrogates are not allowed"

# JSON escapes that may decode to a character no text column holds.
_JSON_SUSPECT = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")

Loc = tuple[str | int, ...]


def _bad(text: str) -> str | None:
    """Why `text` cannot be stored, or None."""
    if "\x00" in text:
        return NUL_MESSAGE
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return SURROGATE_MESSAGE
    return None


def _walk(value: Any, loc: Loc) -> Iterator[tuple[Loc, str]]:
    """Every (location, reason) of a string (or object key) in `value` that cannot be stored."""
    if isinstance(value, str):
        if (reason := _bad(value)) is not None:
            yield loc, reason
    elif isinstance(value, dict):
        for key, item in value.items():
            if (reason := _bad(key)) is not None:
                yield (*loc, key), reason
            yield from _walk(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*loc, index))


def unstorable(problems: list[tuple[Loc, str]]) -> ValidationFailed:
    """The 422 naming every field that holds a character no text column can store."""
    names = ", ".join(".".join(str(part) for part in loc) for loc, _ in problems[:5])
    return ValidationFailed(
        f"Invalid characters in {names}",
        detail=[
            {"loc": list(loc), "msg": reason,
             "type": "nul_character" if reason == NUL_MESSAGE else "unpaired_surrogate"}
            for loc, reason in problems
        ],
    )


def _pairs(encoded: str, section: str) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    for key, value in parse_qsl(encoded, keep_blank_values=True):
        reason = _bad(key) or _bad(value)
        if reason is not None:
            problems.append(((section, key), reason))
    return problems


def _path_problems(scope: Scope) -> list[tuple[Loc, str]]:
    """Path parameters that cannot be stored, named by the route that would serve the path."""
    router = getattr(scope.get("app"), "router", None)
    for route in getattr(router, "routes", ()):
        match, child = route.matches(scope)
        if match is Match.FULL:
            params = child.get("path_params", {})
            return [
                (("path", name), reason)
                for name, value in params.items()
                if isinstance(value, str) and (reason := _bad(value)) is not None
            ]
    return []  # no route: the router's 404 says more than a 422 would


def _body_kind(scope: Scope) -> str | None:
    """"json", "form" or "text" for a body this guard reads whole; None to let it stream."""
    if scope["method"] in ("GET", "HEAD", "OPTIONS"):
        return None
    content_type = b""
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value.split(b";", 1)[0].strip().lower()
            break
    # FastAPI (and the services' own parsers) read a body without a content type as JSON.
    if not content_type or content_type == b"application/json" or content_type.endswith(b"+json"):
        return "json"
    if content_type == b"application/x-www-form-urlencoded":
        return "form"
    if content_type.startswith(b"text/"):
        return "text"
    return None


def body_error(kind: str, body: bytes) -> KnowrithmError | None:
    """What is wrong with a whole body of this kind, or None."""
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return InvalidEncoding(detail={"position": exc.start})
    if kind == "form" and _has_nul(body):
        problems = _pairs(body.decode("utf-8"), "body")
    elif kind == "json" and b"\\u" in body and _JSON_SUSPECT.search(body):
        try:
            problems = list(_walk(json.loads(body), ("body",)))
        except (ValueError, RecursionError):
            return None  # not JSON (or absurdly deep): the route's own parsing answers that
    else:
        return None
    return unstorable(problems) if problems else None


def _has_nul(raw: bytes) -> bool:
    return b"%00" in raw or b"\x00" in raw


class InputGuardMiddleware(HttpMiddleware):
    """Refuses query, path and body text that no service can store (see the module docstring)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        error = self._url_error(scope)
        if error is None:
            kind = _body_kind(scope)
            if kind is not None:
                body, receive = await _buffered(receive)
                error = body_error(kind, body)
        if error is not None:
            await error_response(error)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _url_error(scope: Scope) -> KnowrithmError | None:
        query: bytes = scope.get("query_string", b"")
        problems: list[tuple[Loc, str]] = []
        if query and _has_nul(query):
            problems += _pairs(query.decode("latin-1"), "query")
        if _has_nul(scope.get("raw_path") or b"") or "\x00" in scope["path"]:
            problems += _path_problems(scope)
        return unstorable(problems) if problems else None


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The whole request body, and a receive that replays it (then passes on disconnects)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # Gone before the body arrived: hand the app what came and let it see the disconnect.
            pending: list[Message] = [message]
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            pending = []
            break
    body = b"".join(chunks)
    replay: list[Message] = [{"type": "http.request", "body": body, "more_body": bool(pending)}]
    replay += pending

    async def replaying() -> Message:
        return replay.pop(0) if replay else await receive()

    return body, replaying


async def read_form(request: Request, **limits: Any) -> FormData:
    """`request.form(**limits)`, refusing field names, values and file names no service can store."""
    form = await request.form(**limits)
    problems: list[tuple[Loc, str]] = []
    for key, value in form.multi_items():
        text = (value.filename or "") if isinstance(value, UploadFile) else value
        reason = _bad(key) or _bad(text)
        if reason is not None:
            loc: Loc = ("body", key, "filename") if isinstance(value, UploadFile) else ("body", key)
            problems.append((loc, reason))
    if problems:
        raise unstorable(problems)
    return form
