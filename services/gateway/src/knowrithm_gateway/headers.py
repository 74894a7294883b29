"""Header handling: what the gateway reads from a request and what it passes on, each way."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from starlette.types import Scope

from knowrithm_common.errors import BadRequest
from knowrithm_common.identity import ASSERTION_HEADER

# RFC 9110 §7.6.1: meaningful for one connection only, never forwarded.
HOP_BY_HOP = frozenset({
    b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
    b"trailer", b"upgrade", b"proxy-authorization", b"proxy-authenticate",
})
CLIENT_IP_HEADER = "x-knowrithm-client-ip"
# Rebuilt by the gateway (or by aiohttp for the upstream connection) instead of copied. An
# incoming assertion is dropped above all: only the gateway may assert who is calling. API-key
# credentials stop here too: the gateway checks them and services get the assertion instead.
_REBUILT = frozenset({
    b"host", b"expect", b"content-length", b"x-request-id", b"x-forwarded-for",
    b"x-api-key", b"x-api-secret", ASSERTION_HEADER.encode(), CLIENT_IP_HEADER.encode(),
})
_NOT_COPIED = HOP_BY_HOP | _REBUILT
# uvicorn writes its own Date and Server; copying the upstream's would duplicate them.
_NOT_RETURNED = HOP_BY_HOP | {b"date", b"server"}

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
REQUEST_ID_HEADER = "x-request-id"


@dataclass(slots=True)
class Incoming:
    """The parts of a request the gateway acts on, read in one pass over its headers."""

    method: str
    forward: list[tuple[str, str]] = field(default_factory=list)
    request_id: str = ""
    authorization: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    content_length: int | None = None
    chunked: bool = False
    forwarded_for: str | None = None
    host: str | None = None
    has_forwarded_host: bool = False
    has_forwarded_proto: bool = False
    has_traceparent: bool = False

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)


def read_incoming(scope: Scope) -> Incoming:
    """Split the request headers into the ones to forward and the ones the gateway acts on."""
    incoming = Incoming(method=scope["method"])
    forward = incoming.forward
    connection_tokens: set[bytes] = set()
    for name, raw in scope["headers"]:
        if name in _NOT_COPIED:
            _note_rebuilt(incoming, name, raw, connection_tokens)
            continue
        value = raw.decode("latin-1")
        if name == b"authorization":
            # Forwarded as sent: auth reads the refresh token (or the token to sign out) in it.
            incoming.authorization = value
        elif name == b"x-forwarded-host":
            incoming.has_forwarded_host = True
        elif name == b"x-forwarded-proto":
            incoming.has_forwarded_proto = True
        elif name == b"traceparent":
            incoming.has_traceparent = True
        forward.append((name.decode("latin-1"), value))
    if connection_tokens - HOP_BY_HOP:
        # Headers named in Connection are hop-by-hop for this connection too (RFC 9110 §7.6.1).
        drop = {t.decode("latin-1") for t in connection_tokens}
        incoming.forward = [(k, v) for k, v in forward if k not in drop]
    if incoming.chunked:
        incoming.content_length = None  # RFC 9112 §6.3: Transfer-Encoding wins
    if not incoming.request_id:
        incoming.request_id = uuid.uuid4().hex
    return incoming


def _note_rebuilt(incoming: Incoming, name: bytes, raw: bytes, tokens: set[bytes]) -> None:
    if name == b"content-length":
        try:
            incoming.content_length = int(raw)
        except ValueError as exc:
            raise BadRequest("Invalid Content-Length header") from exc
    elif name == b"transfer-encoding":
        incoming.chunked = True
    elif name == b"x-request-id":
        value = raw.decode("latin-1")
        # A caller-chosen id lands in logs and headers: accept only a bounded, plain token.
        if _REQUEST_ID.fullmatch(value):
            incoming.request_id = value
    elif name == b"x-forwarded-for":
        incoming.forwarded_for = raw.decode("latin-1")
    elif name == b"x-api-key":
        incoming.api_key = raw.decode("latin-1")
    elif name == b"x-api-secret":
        incoming.api_secret = raw.decode("latin-1")
    elif name == b"host":
        incoming.host = raw.decode("latin-1")
    elif name == b"connection":
        tokens.update(t.strip().lower() for t in raw.split(b","))


def upstream_headers(
    incoming: Incoming, scope: Scope, *, assertion: str, traceparent: str | None = None,
    client_ip: str | None = None,
) -> list[tuple[str, str]]:
    """The headers sent upstream: the forwardable ones plus identity, request id and forwarding."""
    headers = list(incoming.forward)
    if client_ip:
        # The caller's address as the gateway decided it; services audit this one, not a
        # client-written X-Forwarded-For (any incoming copy of this header is dropped above).
        headers.append((CLIENT_IP_HEADER, client_ip))
    chain = _forwarded_for(incoming.forwarded_for, scope.get("client"))
    if chain:
        headers.append(("x-forwarded-for", chain))
    if incoming.host and not incoming.has_forwarded_host:
        headers.append(("x-forwarded-host", incoming.host))
    if not incoming.has_forwarded_proto:
        headers.append(("x-forwarded-proto", scope.get("scheme", "http")))
    if incoming.content_length is not None:
        headers.append(("content-length", str(incoming.content_length)))
    if traceparent is not None:
        if incoming.has_traceparent:
            headers = [(k, v) for k, v in headers if k != "traceparent"]
        headers.append(("traceparent", traceparent))
    headers.append((REQUEST_ID_HEADER, incoming.request_id))
    headers.append((ASSERTION_HEADER, assertion))
    return headers


def _forwarded_for(chain: str | None, client: tuple[str, int] | None) -> str | None:
    if client is None:
        return chain
    if not chain:
        return client[0]
    # uvicorn's proxy-headers mode may already have taken the client from this very chain
    # (trusted proxy in front): appending it again would list one hop twice.
    if chain.rsplit(",", 1)[-1].strip() == client[0]:
        return chain
    return f"{chain}, {client[0]}"


def response_headers(
    raw_headers: tuple[tuple[bytes, bytes], ...], *, request_id: str,
    extra: list[tuple[str, str]] | None = None,
) -> list[tuple[bytes, bytes]]:
    """The upstream's response headers minus hop-by-hop ones, with the request id and `extra`."""
    headers = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra or ()]
    has_request_id = False
    for raw_name, value in raw_headers:
        name = raw_name.lower()
        if name in _NOT_RETURNED:
            continue
        has_request_id = has_request_id or name == b"x-request-id"
        headers.append((name, value))
    if not has_request_id:
        headers.append((b"x-request-id", request_id.encode("latin-1")))
    return headers
