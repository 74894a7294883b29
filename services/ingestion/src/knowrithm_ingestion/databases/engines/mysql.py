"""MySQL and MariaDB through aiomysql.

The connection goes to the checked address, without `LOCAL INFILE`, without option files
(`read_default_file`) and with CLIENT_MULTI_STATEMENTS cleared (aiomysql always sets it), so the
server parses `SELECT 1; DROP TABLE t` as one statement: a syntax error. TLS verifies the URL's
host name (`base.tls_context`), not the address connected to.

TLS by sslmode: none without one (or `disable`); `allow` and `prefer` use TLS, unverified, when the
server offers it and connect without it otherwise; `require`, `verify-ca` and `verify-full` refuse a
server that offers no TLS before the password is sent (the driver alone would carry on in clear).

`execute` sets the session read-only (`transaction_read_only`, or `tx_read_only` on servers
without it), bounds the statement (`max_statement_time` in seconds on MariaDB,
`max_execution_time` in milliseconds on MySQL 5.7.8+), runs the query inside
`START TRANSACTION READ ONLY` and always rolls back. `SELECT … INTO OUTFILE` must be refused by
the guard before it gets here; the read-only transaction does not stop it on MySQL.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pymysql
from aiomysql.connection import Connection
from pymysql.constants import CLIENT

from .base import (
    Allow,
    ColumnInfo,
    ForeignKey,
    Probe,
    QueryResult,
    TableInfo,
    allowed_table,
    jsonable,
    tls_context,
)
from .egress import check_url_hosts
from .errors import DatabaseQueryFailed, DatabaseQueryTimeout, DatabaseUnreachable
from .spec import ConnectionParams, ConnectionSpec, parse_url, scrub, with_url_tls

SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
WRITE_PRIVILEGES = frozenset({"INSERT", "UPDATE", "DELETE", "ALL", "ALL PRIVILEGES", "FILE", "SUPER"})
_TIMEOUT_ERRORS = {3024, 1969, 1317}  # MySQL max_execution_time, MariaDB max_statement_time, interrupted
_UNKNOWN_VARIABLE = 1193
_GRANT = re.compile(r"^GRANT (.+?) ON ", re.IGNORECASE)


_TLS_REQUIRED = frozenset({"require", "verify-ca", "verify-full"})
_CR_SSL_CONNECTION_ERROR = 2026


class _Connection(Connection):
    """aiomysql's connection, refusing (when `tls_required`) a server that offers no TLS before
    authenticating: aiomysql sends the password in clear to such a server even with a TLS context."""

    tls_required = False

    async def _request_authentication(self) -> None:
        if self.tls_required and not self.server_capabilities & CLIENT.SSL:
            raise pymysql.err.OperationalError(
                _CR_SSL_CONNECTION_ERROR,
                "the server offers no TLS, which the connection's sslmode requires (nothing was sent); "
                "enable TLS on the server, or set sslmode to prefer or disable",
            )
        await super()._request_authentication()


def _tls_params(params: ConnectionParams) -> ConnectionParams:
    """`allow`/`prefer` as an unverified TLS context: aiomysql uses it only if the server offers TLS."""
    if params.sslmode in ("allow", "prefer"):
        return params.model_copy(update={"sslmode": "require"})
    return params


@asynccontextmanager
async def _connect(spec: ConnectionSpec, allow: Allow) -> AsyncIterator[Connection]:
    parsed = parse_url("mysql", spec.url)
    params = with_url_tls(spec.params, parsed)
    (target,) = await check_url_hosts(parsed, allow, timeout=params.connect_timeout)
    conn = _Connection(
        host=target.ip,
        port=target.port,
        user=parsed.user or "",
        password=parsed.password or "",
        db=parsed.database,
        connect_timeout=params.connect_timeout,
        ssl=tls_context(_tls_params(params), target.host),
        autocommit=True,
        local_infile=False,
        charset="utf8mb4",
        program_name="knowrithm",
    )
    conn.client_flag &= ~CLIENT.MULTI_STATEMENTS
    conn.tls_required = params.sslmode in _TLS_REQUIRED
    try:
        await asyncio.wait_for(conn._connect(), params.connect_timeout + 2)
    except (pymysql.MySQLError, OSError, TimeoutError) as exc:
        conn.close()
        reason = scrub(_message(exc) + _tls_failure(exc), parsed.password) or "no answer"
        raise DatabaseUnreachable(f"Could not connect to {target.host}:{target.port}: {reason}") from None
    try:
        yield conn
    finally:
        conn.close()


async def _rows(conn: Connection, query: str, args: Any = None) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cursor:
        await cursor.execute(query, args)
        return list(await cursor.fetchall())


async def _rows_in(conn: Connection, query: str, values: Sequence[str]) -> list[tuple[Any, ...]]:
    """`query` with its one `IN %s` expanded to a placeholder per value (PyMySQL 1.2 takes no
    tuple as a parameter)."""
    placeholders = "(" + ", ".join(["%s"] * len(values)) + ")"
    return await _rows(conn, query.replace("IN %s", "IN " + placeholders, 1), tuple(values))


async def _bound(conn: Connection, version: str, timeout_s: float) -> None:
    """Make the session read-only and its statements bounded by `timeout_s`."""
    for variable in ("transaction_read_only", "tx_read_only"):
        try:
            await _rows(conn, f"SET SESSION {variable} = 1")
            break
        except pymysql.MySQLError as exc:
            if exc.args[0] != _UNKNOWN_VARIABLE or variable == "tx_read_only":
                raise
    if "mariadb" in version.lower():
        await _rows(conn, f"SET SESSION max_statement_time = {max(timeout_s, 0.001):.3f}")
    else:
        await _rows(conn, f"SET SESSION max_execution_time = {max(int(timeout_s * 1000), 1)}")


async def _run(conn: Connection, query: str, *, limit: int, timeout_s: float) -> QueryResult:
    started = time.perf_counter()
    version = str((await _rows(conn, "SELECT VERSION()"))[0][0])
    await _bound(conn, version, timeout_s)
    await _rows(conn, "START TRANSACTION READ ONLY")
    try:
        async with conn.cursor() as cursor:
            await cursor.execute(query)  # no args: the text is not %-formatted
            fetched = list(await cursor.fetchmany(limit + 1))
            columns = [d[0] for d in cursor.description or []]
    except pymysql.MySQLError as exc:
        if exc.args and exc.args[0] in _TIMEOUT_ERRORS:
            raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
        raise
    finally:
        await conn.rollback()
    rows = [[jsonable(v) for v in row] for row in fetched[:limit]]
    return QueryResult(columns, rows, len(fetched) > limit, round((time.perf_counter() - started) * 1000, 1))


def grant_warnings(grants: list[str]) -> list[str]:
    """Warnings for SHOW GRANTS lines that give more than reading."""
    found: set[str] = set()
    for line in grants:
        match = _GRANT.match(line)
        if not match or line.upper().startswith("GRANT PROXY"):
            continue
        privileges = {p.strip().split("(")[0].strip().upper() for p in match.group(1).split(",")}
        found |= privileges & WRITE_PRIVILEGES
    if not found:
        return []
    shown = ", ".join(sorted(found))
    return [f"The account has the privileges {shown}; use an account with SELECT only"]


class MysqlEngine:
    name = "mysql"

    async def probe(self, spec: ConnectionSpec, allow: Allow) -> Probe:
        """Connect, read the version, and warn when the account's grants allow writing or FILE."""
        started = time.perf_counter()
        try:
            async with _connect(spec, allow) as conn:
                version = str((await _rows(conn, "SELECT VERSION()"))[0][0])
                latency = (time.perf_counter() - started) * 1000
                try:
                    grants = [str(r[0]) for r in await _rows(conn, "SHOW GRANTS")]
                except pymysql.MySQLError:
                    grants = []  # the server does not say: no warning rather than a failed test
        except DatabaseUnreachable as exc:
            return Probe(reachable=False, error=exc.message)
        return Probe(
            reachable=True,
            server_version=version,
            latency_ms=round(latency, 1),
            warnings=grant_warnings(grants),
        )

    async def reflect(self, spec: ConnectionSpec, allow: Allow) -> list[TableInfo]:
        """Tables and views of the URL's database (or the `schemas` parameter)."""
        async with _connect(spec, allow) as conn:
            schemas = spec.params.schemas or ([conn.db] if conn.db else None)
            return await _reflect(conn, spec, schemas)

    async def sample(
        self, spec: ConnectionSpec, allow: Allow, table: str, n: int, *, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """The first `n` rows of `schema.table`."""
        name = f"{_quote(schema)}.{_quote(table)}" if schema else _quote(table)
        query = f"SELECT * FROM {name} LIMIT {int(n)}"  # noqa: S608 - quoted identifiers
        result = await self.execute(spec, allow, query, limit=n, timeout_s=30)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    async def execute(
        self, spec: ConnectionSpec, allow: Allow, query: str, *, limit: int, timeout_s: float
    ) -> QueryResult:
        """Run guarded SQL read-only, at most `limit` rows, cut at `timeout_s`."""
        password = parse_url("mysql", spec.url).password
        try:
            async with _connect(spec, allow) as conn:
                return await asyncio.wait_for(
                    _run(conn, query, limit=limit, timeout_s=timeout_s), timeout_s + 5
                )
        except TimeoutError as exc:
            raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
        except pymysql.MySQLError as exc:
            raise DatabaseQueryFailed(scrub(_message(exc), password)) from exc


_SCHEMAS = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN %s"
_TABLES = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE, TABLE_ROWS, TABLE_COMMENT, DATA_LENGTH + INDEX_LENGTH "
    "FROM information_schema.TABLES "
    "WHERE TABLE_SCHEMA IN %s ORDER BY TABLE_SCHEMA, TABLE_NAME"
)
_COLUMNS = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_COMMENT "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN %s "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION"
)
_KEYS = (
    "SELECT TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
    "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
    "WHERE TABLE_SCHEMA IN %s AND (CONSTRAINT_NAME = 'PRIMARY' OR REFERENCED_TABLE_NAME IS NOT NULL) "
    "ORDER BY TABLE_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION"
)


async def _reflect(conn: Connection, spec: ConnectionSpec, schemas: list[str] | None) -> list[TableInfo]:
    if not schemas:
        schemas = [r[0] for r in await _rows_in(conn, _SCHEMAS, SYSTEM_SCHEMAS)]
    if not schemas:
        return []
    tables = await _rows_in(conn, _TABLES, schemas)
    columns: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in await _rows_in(conn, _COLUMNS, schemas):
        columns.setdefault((row[0], row[1]), []).append(row)
    primary: dict[tuple[str, str], list[str]] = {}
    foreign: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for row in await _rows_in(conn, _KEYS, schemas):
        if row[2] == "PRIMARY":
            primary.setdefault((row[0], row[1]), []).append(row[3])
        else:
            foreign.setdefault((row[0], row[1], row[2]), []).append(row)
    result = []
    for schema, name, kind, estimate, comment, size in tables:
        if not allowed_table(spec.params, name, schema):
            continue
        keys = primary.get((schema, name), [])
        fks = [
            ForeignKey(
                columns=[r[3] for r in rows],
                ref_table=rows[0][5],
                ref_columns=[r[6] for r in rows],
                ref_schema=rows[0][4],
            )
            for (s, t, _), rows in foreign.items()
            if (s, t) == (schema, name)
        ]
        cols = [
            ColumnInfo(
                name=c[2],
                type=str(c[3]),
                nullable=c[4] == "YES",
                primary_key=c[2] in keys,
                comment=c[5] or None,
            )
            for c in columns.get((schema, name), [])
        ]
        is_view = kind == "VIEW"
        result.append(
            TableInfo(
                name=name,
                schema=schema,
                columns=cols,
                primary_key=keys,
                foreign_keys=fks,
                row_estimate=None if is_view or estimate is None else int(estimate),
                comment=(comment or None) if not is_view else None,
                kind="view" if is_view else "table",
                size_bytes=None if is_view or size is None else int(size),
            )
        )
    return result


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _tls_failure(exc: BaseException) -> str:
    """Why TLS failed, when it did (aiomysql's own message only says it could not connect)."""
    cause = exc.__cause__
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f" (TLS: the server's certificate was not accepted: {cause.verify_message})"
    if isinstance(cause, ssl.SSLError):
        return f" (TLS failed: {cause.reason or cause})"
    return ""


def _message(exc: BaseException) -> str:
    if isinstance(exc, pymysql.MySQLError) and len(exc.args) >= 2:
        return str(exc.args[1])
    return str(exc) or type(exc).__name__


mysql = MysqlEngine()
