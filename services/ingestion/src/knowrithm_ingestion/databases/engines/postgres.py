"""PostgreSQL and CockroachDB (PostgreSQL wire) through psycopg 3 (async).

The connection goes to the checked address (`hostaddr`; `host` stays the URL's name for TLS
verification), with an explicit password (possibly empty) and a `passfile` that does not exist, so neither
PGPASSWORD nor a .pgpass of this machine is ever sent to a customer's server. Options in the
URL's query string are not passed on.

`execute` runs in autocommit mode with explicit statements: the session's default is made
read-only, then `BEGIN READ ONLY`, `SET LOCAL statement_timeout` and `lock_timeout`, the query,
and always `ROLLBACK`. The query is executed with `prepare=True`: Parse/Bind/Execute of the
extended protocol, which takes exactly one statement, so `SELECT 1; COMMIT; CREATE TABLE x()`
is an error on the server (the simple protocol, which psycopg uses for `execute` without
parameters, would run all three).
The client buffers the whole result: its size is bounded by the guard's clamped LIMIT and by
`statement_timeout`; `limit + 1` rows are kept to tell `truncated`.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql as pgsql

from .base import Allow, ColumnInfo, ForeignKey, Probe, QueryResult, TableInfo, allowed_table, jsonable
from .egress import check_url_hosts
from .errors import DatabaseQueryFailed, DatabaseQueryTimeout, DatabaseUnreachable
from .spec import ConnectionSpec, parse_url, scrub, with_url_tls

# A path that does not exist: libpq skips it silently (os.devnull makes it warn on every connect).
_NO_PASSFILE = "/nonexistent/knowrithm-no-pgpass"
_SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "crdb_internal", "pg_extension")
_WRITABLE_TABLES = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL(%(system)s) AND n.nspname NOT LIKE 'pg_toast%%'
  AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
       OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
ORDER BY 1 LIMIT 6
"""
# {size}: the relation's size with its indexes and TOAST (PostgreSQL, `_SIZE`), NULL on CockroachDB
# (no such sizes in its catalog).
_TABLES = """
SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples::bigint, obj_description(c.oid, 'pg_class'),
       {size}
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND n.nspname <> ALL(%(system)s)
  AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
  AND (%(schemas)s::text[] IS NULL OR n.nspname = ANY(%(schemas)s::text[]))
ORDER BY n.nspname, c.relname
"""
# The main forks of the table, its TOAST table and their indexes: what pg_total_relation_size counts
# less the free-space and visibility maps, which VACUUM creates on a table nobody changed (an
# unchanged table must not look changed to the next analysis).
_SIZE = """CASE WHEN c.relkind IN ('r', 'p', 'm') THEN (
  pg_relation_size(c.oid)
  + CASE WHEN c.reltoastrelid <> 0 THEN pg_relation_size(c.reltoastrelid) ELSE 0 END
  + COALESCE((SELECT sum(pg_relation_size(i.indexrelid)) FROM pg_index i
              WHERE i.indrelid = c.oid OR (c.reltoastrelid <> 0 AND i.indrelid = c.reltoastrelid)), 0)
)::bigint END"""
_COLUMNS = """
SELECT a.attrelid, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       col_description(a.attrelid, a.attnum::int), a.attnum
FROM pg_attribute a WHERE a.attrelid = ANY(%(oids)s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attrelid, a.attnum
"""
_CONSTRAINTS = """
SELECT k.conrelid, k.contype, k.conkey, rn.nspname, r.relname, k.confkey, k.confrelid
FROM pg_constraint k LEFT JOIN pg_class r ON r.oid = k.confrelid
LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
WHERE k.contype IN ('p', 'f') AND k.conrelid = ANY(%(oids)s) ORDER BY k.conrelid, k.conname
"""


class PostgresEngine:
    """PostgreSQL (and, with `name="cockroachdb"`, CockroachDB)."""

    def __init__(self, name: str = "postgresql") -> None:
        self.name = name

    async def probe(self, spec: ConnectionSpec, allow: Allow) -> Probe:
        """Connect, read the version, and warn when the account can write."""
        started = time.perf_counter()
        try:
            async with _connect(spec, allow) as conn:
                version = await _scalar(conn, "SHOW server_version")
                latency = (time.perf_counter() - started) * 1000
                warnings = await _write_warnings(conn)
        except DatabaseUnreachable as exc:
            return Probe(reachable=False, error=exc.message)
        return Probe(
            reachable=True, server_version=str(version), latency_ms=round(latency, 1), warnings=warnings
        )

    async def reflect(self, spec: ConnectionSpec, allow: Allow) -> list[TableInfo]:
        """Tables and views with their columns, keys, comments and row estimates."""
        async with _connect(spec, allow) as conn:
            await _read_only(conn, timeout_s=60)
            try:
                return await _reflect(conn, spec)
            finally:
                await conn.execute("ROLLBACK")

    async def sample(
        self, spec: ConnectionSpec, allow: Allow, table: str, n: int, *, schema: str | None = None
    ) -> list[dict[str, Any]]:
        """The first `n` rows of `schema.table`."""
        name = pgsql.Identifier(schema, table) if schema else pgsql.Identifier(table)
        query = pgsql.SQL("SELECT * FROM {} LIMIT {}").format(name, pgsql.Literal(int(n)))
        result = await self.execute(spec, allow, query.as_string(None), limit=n, timeout_s=30)
        return [dict(zip(result.columns, row, strict=True)) for row in result.rows]

    async def execute(
        self, spec: ConnectionSpec, allow: Allow, query: str, *, limit: int, timeout_s: float
    ) -> QueryResult:
        """Run guarded SQL read-only, at most `limit` rows, cut at `timeout_s`."""
        password = parse_url(spec.engine, spec.url).password
        try:
            async with _connect(spec, allow) as conn:
                return await asyncio.wait_for(
                    _run(conn, query, limit=limit, timeout_s=timeout_s,
                         stable_scans=spec.engine != "cockroachdb"),
                    timeout_s + 5,
                )
        except TimeoutError as exc:
            raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
        except psycopg.Error as exc:
            raise DatabaseQueryFailed(scrub(_message(exc), password)) from exc


@asynccontextmanager
async def _connect(spec: ConnectionSpec, allow: Allow) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    parsed = parse_url(spec.engine, spec.url)
    params = with_url_tls(spec.params, parsed)
    (target,) = await check_url_hosts(parsed, allow, timeout=params.connect_timeout)
    kwargs: dict[str, Any] = {
        "host": target.host,
        "hostaddr": target.ip,
        "port": target.port,
        "dbname": parsed.database or (parsed.user or "postgres"),
        "user": parsed.user or "postgres",
        "password": parsed.password or "",
        "passfile": _NO_PASSFILE,
        "connect_timeout": params.connect_timeout,
        "application_name": "knowrithm",
        "autocommit": True,
    }
    # Every mode goes to libpq as given (`allow`/`prefer` included); without one, libpq's own default
    # `prefer`, said explicitly so a PGSSLMODE in this machine's environment never decides it.
    kwargs["sslmode"] = params.sslmode or "prefer"
    ca_file = None
    if params.ssl_ca:
        ca_file = tempfile.NamedTemporaryFile("w", suffix=".pem", delete=False)
        with ca_file:
            ca_file.write(params.ssl_ca)
        kwargs["sslrootcert"] = ca_file.name
    try:
        try:
            conn = await asyncio.wait_for(
                psycopg.AsyncConnection.connect(**kwargs), params.connect_timeout + 2
            )
        except (psycopg.Error, OSError, TimeoutError) as exc:
            reason = scrub(_message(exc), parsed.password) or "no answer"
            raise DatabaseUnreachable(f"Could not connect to {target.host}:{target.port}: {reason}") from None
    finally:
        if ca_file is not None:
            os.unlink(ca_file.name)
    try:
        yield conn
    finally:
        await conn.close()


async def _read_only(conn: psycopg.AsyncConnection[Any], *, timeout_s: float) -> None:
    ms = max(int(timeout_s * 1000), 1)
    await conn.execute("SET default_transaction_read_only = on")
    await conn.execute("BEGIN READ ONLY")
    await conn.execute(f"SET LOCAL statement_timeout = {ms}")
    await conn.execute(f"SET LOCAL lock_timeout = {min(ms, 2000)}")


async def _run(
    conn: psycopg.AsyncConnection[Any], query: str, *, limit: int, timeout_s: float, stable_scans: bool
) -> QueryResult:
    started = time.perf_counter()
    await _read_only(conn, timeout_s=timeout_s)
    if stable_scans:
        # A table larger than a quarter of shared_buffers is scanned from wherever a concurrent
        # scan of it is (synchronized scans), so "the first n rows" of a sample would differ
        # between two analyses of an unchanged table; off, a scan starts at the table's start.
        await conn.execute("SET LOCAL synchronize_seqscans = off")
    try:
        # prepare=True: Parse/Bind/Execute (extended protocol), which takes exactly one statement.
        cursor = await conn.cursor().execute(query, prepare=True)  # guarded text
        fetched = await cursor.fetchmany(limit + 1)
        columns = [c.name for c in cursor.description or []]
    except psycopg.errors.QueryCanceled as exc:
        raise DatabaseQueryTimeout(f"The query did not finish within {timeout_s:g} seconds") from exc
    finally:
        if not conn.closed:
            await conn.execute("ROLLBACK")
    rows = [[jsonable(v) for v in row] for row in fetched[:limit]]
    return QueryResult(columns, rows, len(fetched) > limit, round((time.perf_counter() - started) * 1000, 1))


async def _scalar(conn: psycopg.AsyncConnection[Any], query: str, params: Any = None) -> Any:
    cursor = await conn.execute(query, params)
    row = await cursor.fetchone()
    return row[0] if row else None


async def _write_warnings(conn: psycopg.AsyncConnection[Any]) -> list[str]:
    warnings = []
    try:
        if await _scalar(conn, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
            warnings.append(
                "The account is a superuser: it can change and read everything; use a read-only role"
            )
        writable = [
            r[0]
            for r in await (
                await conn.execute(_WRITABLE_TABLES, {"system": list(_SYSTEM_SCHEMAS)})
            ).fetchall()
        ]
    except psycopg.Error:  # a server without these catalogs: say nothing rather than fail the test
        return warnings
    if writable:
        shown = ", ".join(writable[:5]) + (" …" if len(writable) > 5 else "")
        warnings.append(
            f"The account can write to tables (INSERT/UPDATE/DELETE on {shown}); use a read-only role"
        )
    return warnings


async def _reflect(conn: psycopg.AsyncConnection[Any], spec: ConnectionSpec) -> list[TableInfo]:
    size = "NULL::bigint" if spec.engine == "cockroachdb" else _SIZE
    query = _TABLES.format(size=size)
    tables = await (
        await conn.execute(query, {"system": list(_SYSTEM_SCHEMAS), "schemas": spec.params.schemas})
    ).fetchall()
    tables = [t for t in tables if allowed_table(spec.params, t[2], t[1])]
    oids = [t[0] for t in tables]
    columns: dict[int, list[tuple[Any, ...]]] = {}
    for row in await (await conn.execute(_COLUMNS, {"oids": oids})).fetchall():
        columns.setdefault(row[0], []).append(row)
    keys: dict[int, list[tuple[Any, ...]]] = {}
    ref_columns: dict[int, dict[int, str]] = {}
    for row in await (await conn.execute(_CONSTRAINTS, {"oids": oids})).fetchall():
        keys.setdefault(row[0], []).append(row)
        if row[1] == "f" and row[6] not in ref_columns:
            found = await (
                await conn.execute(
                    "SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0", (row[6],)
                )
            ).fetchall()
            ref_columns[row[6]] = {int(num): name for num, name in found}
    result = []
    for oid, schema, name, kind, estimate, comment, size in tables:
        by_num = {int(c[5]): c[1] for c in columns.get(oid, [])}
        primary: list[str] = []
        foreign = []
        for _, contype, conkey, ref_schema, ref_table, confkey, confrelid in keys.get(oid, []):
            if contype == "p":
                primary = [by_num[int(k)] for k in conkey]
            else:
                refs = ref_columns.get(confrelid, {})
                foreign.append(
                    ForeignKey(
                        columns=[by_num[int(k)] for k in conkey],
                        ref_table=ref_table,
                        ref_columns=[refs.get(int(k), str(k)) for k in confkey],
                        ref_schema=ref_schema,
                    )
                )
        cols = [
            ColumnInfo(name=c[1], type=c[2], nullable=bool(c[3]), primary_key=c[1] in primary, comment=c[4])
            for c in columns.get(oid, [])
        ]
        result.append(
            TableInfo(
                name=name,
                schema=schema,
                columns=cols,
                primary_key=primary,
                foreign_keys=foreign,
                row_estimate=int(estimate)
                if estimate is not None and estimate >= 0 and kind in "rpm"
                else None,
                comment=comment,
                kind="view" if kind in "vm" else "table",
                size_bytes=int(size) if size is not None else None,
            )
        )
    return result


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


postgres = PostgresEngine("postgresql")
cockroachdb = PostgresEngine("cockroachdb")
