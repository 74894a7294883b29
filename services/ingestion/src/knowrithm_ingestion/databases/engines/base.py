"""The one interface every engine implements, and the shapes it answers with.

Each engine is a module-level object with four coroutines (no state between calls: every call
opens a connection to the checked address and closes it):
- `probe(spec, allow)`: reachability, server version, latency and warnings when the account can
  write. An unreachable server is an answer (`reachable=False`, `error`), a refused host raises.
- `reflect(spec, allow)`: tables (and views) with columns, keys, comments, row estimates and
  sizes on disk.
- `sample(spec, allow, table, n, *, schema=None)`: the first `n` rows of one table.
- `execute(spec, allow, query, *, limit, timeout_s)`: ALREADY GUARDED SQL (a `MongoQuery` for
  MongoDB) run read-only and bounded; at most `limit` rows, `truncated` when there were more.
`allow` is the operator's egress allow-list (CIDRs, hosts, host:port), see `egress`.
Values in rows are made JSON-friendly (`jsonable`).
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import socket
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .spec import ConnectionParams, ConnectionSpec

Allow = Sequence[str]


@dataclass(frozen=True)
class Probe:
    reachable: bool
    server_version: str | None = None
    latency_ms: float | None = None
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # why it is not reachable (no password in it)


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool
    primary_key: bool = False
    comment: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    columns: list[str]
    ref_table: str
    ref_columns: list[str]
    ref_schema: str | None = None


@dataclass(frozen=True)
class TableInfo:
    name: str
    schema: str | None
    columns: list[ColumnInfo]
    primary_key: list[str] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    row_estimate: int | None = None
    comment: str | None = None
    kind: str = "table"  # "table", "view" or "collection"
    size_bytes: int | None = None  # data and indexes on disk, where the engine tells (None: unknown)


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: bool
    elapsed_ms: float


@dataclass(frozen=True)
class MongoQuery:
    """What MongoDB's `execute` runs: an aggregate on one collection (pipeline already guarded)."""

    collection: str
    pipeline: list[dict[str, Any]]


class DatabaseEngine(Protocol):
    name: str

    async def probe(self, spec: ConnectionSpec, allow: Allow) -> Probe: ...

    async def reflect(self, spec: ConnectionSpec, allow: Allow) -> list[TableInfo]: ...

    async def sample(
        self, spec: ConnectionSpec, allow: Allow, table: str, n: int, *, schema: str | None = None
    ) -> list[dict[str, Any]]: ...

    async def execute(
        self, spec: ConnectionSpec, allow: Allow, query: Any, *, limit: int, timeout_s: float
    ) -> QueryResult: ...


def jsonable(value: Any) -> Any:
    """A value as JSON can carry it: dates ISO, decimals and UUIDs as text, bytes as base64."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID | dt.timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [jsonable(v) for v in value]
    return str(value)


def allowed_table(params: ConnectionParams, name: str, schema: str | None = None) -> bool:
    """Whether the connection's table allow-list lets `name` (or `schema.name`) through."""
    if params.tables is None:
        return True
    return name in params.tables or (schema is not None and f"{schema}.{name}" in params.tables)


class _PinnedNameContext(ssl.SSLContext):
    """A client context that verifies (and sends SNI for) the URL's host name, whatever address
    the driver was told to connect to (drivers pass the address as `server_hostname`)."""

    tls_name: str | None = None

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        name = self.tls_name if self.check_hostname and self.tls_name else server_hostname
        return super().wrap_bio(incoming, outgoing, server_side, name, session)

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        name = self.tls_name if self.check_hostname and self.tls_name else server_hostname
        return super().wrap_socket(
            sock, server_side, do_handshake_on_connect, suppress_ragged_eofs, name, session
        )


def tls_context(params: ConnectionParams, host: str) -> ssl.SSLContext | None:
    """The TLS context for `params.sslmode` (None: no TLS), checking `host`'s name for verify-full."""
    if params.sslmode in (None, "disable"):
        return None
    context = _PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.tls_name = host
    if params.sslmode == "require":
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if params.ssl_ca:
        context.load_verify_locations(cadata=params.ssl_ca)
    else:
        context.load_default_certs()
    context.check_hostname = params.sslmode == "verify-full"
    return context
